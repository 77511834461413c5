"""A worker killed outright: its duplicates are harmless and its batch does not wait for the
claim timeout."""

import re
import signal
import time
from collections import Counter

from invitations import keys, services
from invitations.models import Invitation
from tests.integration.delivery import addresses, wait_for_message_in_hand, wait_until_delivered
from tests.integration.stack import wait_for

Status = Invitation.Status
LINK = re.compile(r"/invites/accept/([^/\s]+)/")


def test_a_killed_workers_duplicate_links_both_work_and_its_batch_goes_out_within_seconds(fault_stack, smtp):
    fault_stack.env["INVITATION_CLAIM_TIMEOUT"] = "300"  # only the silent heartbeat can release them
    first = fault_stack.start_worker("worker-1")
    fault_stack.start_worker("worker-2")
    emails = addresses("crash", 300)
    services.invitations_create_many(emails=emails, sender=None)
    wait_for(lambda: len(smtp.received) >= 40, timeout=30, message="the first 40 mails")
    smtp.stall_seconds = 2  # the server holds DATA, then takes the mail although its sender died
    wait_for_message_in_hand(smtp)

    first.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    assert first.wait(timeout=10) == -signal.SIGKILL
    smtp.stall_seconds = 0
    orphans = set(Invitation.objects.filter(status=Status.SENDING, claimed_by__contains=f":{first.pid}:"))
    assert orphans, "the killed worker left claims behind"

    wait_for(
        lambda: (
            Invitation.objects.filter(pk__in=[o.pk for o in orphans], status=Status.SENT).count()
            == len(orphans)
        ),
        timeout=25,
        message="the killed worker's claims to be sent by the other worker",
    )
    assert time.monotonic() - killed_at < 15  # three missed heartbeats, not the 300 s claim timeout

    result = wait_until_delivered(smtp, emails, timeout=60, stack=fault_stack)
    assert result.lost == []
    links = Counter()
    for mail in smtp.received:
        links[mail.recipients[0], LINK.search(mail.text).group(1)] += 1
    for (address, key), _ in links.items():  # a duplicate carries the same link, and it works
        assert keys.invitation_for_key(key).email == address
    assert len({address for address, _ in links}) == len(links)  # one link per address
