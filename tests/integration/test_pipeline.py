"""The whole pipeline with real processes: the Procfile's web process, runworker, Redis and an SMTP server."""

import re
from collections import Counter

import pytest

from invitations.models import Invitation
from tests.integration.stack import wait_for


def test_staff_invite_arrives_by_smtp_with_an_absolute_accept_link(stack, staff_browser, smtp):
    stack.env["INVITATION_SITE_NAME"] = "Acme"
    stack.start_worker()

    status, page = staff_browser.submit("/invites/new/", {"email": "ada@Example.com"}, form_page="/invites/")

    assert status == 200
    assert "Invitation to ada@example.com queued for sending." in page
    wait_for(lambda: smtp.received, timeout=15, message="the invitation mail")
    mail = smtp.received[0]
    assert mail.recipients == ["ada@example.com"]
    assert mail.message["Subject"] == "grace invited you to join Acme"
    link = re.search(r"(http://\S+/invites/accept/[\w-]+/)", mail.text).group(1)
    assert link.startswith(stack.base_url + "/invites/accept/")
    assert link in mail.html
    invitation = wait_for(
        lambda: Invitation.objects.filter(status=Invitation.Status.SENT).first(),
        timeout=10,
        message="the stamp",
    )
    assert invitation.email == "ada@example.com"
    assert invitation.sent is not None
    assert invitation.attempts == 1
    status, page = staff_browser.get(link)
    assert status == 200
    assert "ada@example.com" in page


def test_two_workers_send_each_of_200_invitations_exactly_once(stack, staff_browser, smtp):
    stack.start_workers("worker-1", "worker-2")
    addresses = [f"person{n}@example.com" for n in range(200)]
    token = staff_browser.csrf_token("/invites/new/")

    for address in addresses:  # as a staff member typing fast: the POST and its redirect only
        status, location = staff_browser.post("/invites/new/", {"email": address}, token=token, follow=False)
        assert (status, location) == (302, "/invites/")

    wait_for(
        lambda: len(smtp.received) >= 200, timeout=60, message=f"200 mails ({len(smtp.received)} so far)"
    )
    wait_for(
        lambda: Invitation.objects.filter(status=Invitation.Status.SENT).count() == 200,
        timeout=15,
        message="200 stamps",
    )
    assert Counter(smtp.recipients()) == Counter(addresses)
    claimants = set(Invitation.objects.values_list("claimed_by", flat=True))
    assert len({name.rsplit(":", 1)[0] for name in claimants}) == 2, "both workers took part"


def test_idle_worker_stays_up_past_the_redis_socket_timeout(stack, staff_browser, smtp):
    worker = stack.start_worker()
    # channels_redis#422: with redis-py 8 defaults an idle worker died after about 5 s.
    with pytest.raises(AssertionError):
        wait_for(lambda: worker.popen.poll() is not None, timeout=8)

    staff_browser.submit("/invites/new/", {"email": "late@example.com"}, form_page="/invites/")

    wait_for(lambda: smtp.recipients() == ["late@example.com"], timeout=15, message="the mail after idling")
