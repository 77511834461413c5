"""Issue 27 with real processes: the headers a real SMTP server receives, a one-click opt-out
as Gmail sends it, the staging switch and the retention purge of a running worker."""

import re
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone

from invitations.models import Invitation, Suppression
from tests.integration.stack import wait_for

Status = Invitation.Status


@pytest.fixture
def sender_domain(stack):
    stack.env["DEFAULT_FROM_EMAIL"] = "invitations@app.example.com"


def one_click(url: str) -> int:
    """POST as Gmail does for RFC 8058: form-encoded, no cookie, no CSRF token."""
    request = urllib.request.Request(
        url,
        data=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own http URL
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_mail_carries_the_headers_and_one_click_ends_all_mail(sender_domain, stack, staff_browser, smtp):
    stack.start_worker()
    staff_browser.submit("/invites/new/", {"email": "ada@example.com"}, form_page="/invites/")
    [mail] = wait_for(lambda: smtp.received, timeout=15, message="the invitation mail")

    raw = dict(mail.message.raw_items())  # as the server received them, not decoded
    url = re.fullmatch(r"<(\S+)>", raw["List-Unsubscribe"]).group(1)
    assert url.startswith(stack.base_url + "/invites/opt-out/")
    assert raw["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert raw["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<[0-9a-f]{32}@app\.example\.com>", raw["Message-ID"])
    assert raw["From"] == '"127.0.0.1" <invitations@app.example.com>'
    assert url in mail.text
    assert f'href="{url}"' in mail.html

    assert one_click(url) == 200

    invitation = Invitation.objects.get()
    assert invitation.status == Status.OPTED_OUT
    assert Suppression.objects.in_force().get().reason == Suppression.Reason.OPTED_OUT
    _, page = staff_browser.submit("/invites/new/", {"email": "ada@example.com"}, form_page="/invites/")
    assert f"ada@example.com asked not to be invited on {timezone.now():%Y-%m-%d}" in page
    queued_before = Invitation.objects.create(
        email="ADA@example.com", published_at=None
    )  # the sweep finds it
    wait_for(
        lambda: Invitation.objects.filter(pk=queued_before.pk, status=Status.OPTED_OUT).exists(),
        timeout=15,
        message="the worker to close the queued invitation unsent",
    )
    assert len(smtp.received) == 1
    assert one_click(url) == 200  # again: nothing changes


@pytest.fixture
def staging(stack):
    stack.env["INVITATION_OVERRIDE_RECIPIENTS"] = "qa@example.com,dev@example.com"


def test_staging_sends_every_mail_to_the_override(staging, stack, staff_browser, smtp):
    stack.start_worker()

    _, page = staff_browser.submit("/invites/new/", {"email": "ada@example.com"}, form_page="/invites/")

    assert "Staging: every invitation mail goes to qa@example.com, dev@example.com" in page
    [mail] = wait_for(lambda: smtp.received, timeout=15, message="the invitation mail")
    assert mail.recipients == ["qa@example.com", "dev@example.com"]
    assert mail.message["To"] == "qa@example.com, dev@example.com"
    wait_for(
        lambda: Invitation.objects.filter(email="ada@example.com", status=Status.SENT).exists(), timeout=10
    )


def test_a_running_worker_purges_what_ended_before_the_retention(stack):
    stack.env["INVITATION_RETENTION_DAYS"] = "30"
    ended = {"ended": timezone.now() - timedelta(days=31), "status": Status.ACCEPTED}
    old = Invitation.objects.create(email="old@example.com", **ended)
    recent = Invitation.objects.create(email="new@example.com", status=Status.REVOKED, ended=timezone.now())
    Suppression.objects.create(email="old@example.com", reason="complained", invitation=old)

    worker = stack.start_worker()

    wait_for(lambda: not Invitation.objects.filter(pk=old.pk).exists(), timeout=15, message="the purge")
    assert list(Invitation.objects.all()) == [recent]
    assert Suppression.objects.get().email == "old@example.com"
    wait_for(
        lambda: "retention: deleted 1 invitation(s)" in worker.output(), timeout=5, message="the log line"
    )
