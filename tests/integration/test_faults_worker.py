"""Worker faults with real processes: killed, stopped, restarted late, doubled, rolled back.

Each test asserts from the database and the SMTP server's record: nothing lost, and no
address mailed twice unless the fault makes one duplicate unavoidable (SIGKILL mid-send).
"""

import signal

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from invitations import queue, services
from invitations.models import Invitation
from tests.integration.delivery import (
    addresses,
    statuses,
    wait_for_message_in_hand,
    wait_until_delivered,
)
from tests.integration.stack import wait_for

Status = Invitation.Status


def test_worker_killed_mid_send_loses_nothing_and_the_next_worker_resends_at_most_one(fault_stack, smtp):
    # The killed worker's claims must be released quickly for the new worker to take them.
    fault_stack.env["INVITATION_CLAIM_TIMEOUT"] = "3"
    fault_stack.env["INVITATION_WORKER_CONCURRENCY"] = "4"
    fault_stack.env["INVITATION_WORKER_BATCH"] = "5"
    first = fault_stack.start_worker("worker-1")
    emails = addresses("kill", 500)
    services.invitations_create_many(emails=emails, sender=None)
    wait_for(lambda: len(smtp.received) >= 50, timeout=30, message="the first 50 mails")
    smtp.stall_seconds = 5  # hold the next send in DATA, so the kill lands mid-send
    in_hand = wait_for_message_in_hand(smtp)

    first.signal(signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL
    smtp.stall_seconds = 0
    abandoned = list(Invitation.objects.filter(status=Status.SENDING))
    assert in_hand in abandoned, "the send in hand left its claim behind"
    assert len(abandoned) <= 4 * 5, "no more claims than its consumers' batches"
    fault_stack.start_worker("worker-2")

    result = wait_until_delivered(smtp, emails, timeout=60, stack=fault_stack)
    assert result.lost == []
    # Only a mail accepted by SMTP but not yet stamped when the kill came goes out twice.
    assert result.duplicate_count <= 1, result.duplicates
    assert result.unexpected == []


def test_sigterm_finishes_the_message_in_hand_exits_0_and_the_next_worker_sends_the_rest(fault_stack, smtp):
    worker = fault_stack.start_worker("worker-1")
    emails = addresses("term", 300)
    services.invitations_create_many(emails=emails, sender=None)
    wait_for(lambda: len(smtp.received) >= 30, timeout=30, message="the first 30 mails")
    smtp.stall_seconds = 1  # slow, but within EMAIL_TIMEOUT: the send in hand takes a second
    in_hand = wait_for_message_in_hand(smtp)

    worker.signal(signal.SIGTERM)

    assert worker.wait(timeout=30) == 0, worker.output()[-4000:]
    smtp.stall_seconds = 0
    in_hand.refresh_from_db()
    assert in_hand.status == Status.SENT
    assert in_hand.email in smtp.recipients()
    # No claim left half-done: every mail that went out is stamped, the rest still wait.
    rows = statuses()
    assert Status.SENDING not in rows
    assert rows[Status.SENT] == len(smtp.received) < 300
    fault_stack.start_worker("worker-2")
    result = wait_until_delivered(smtp, emails, timeout=60, stack=fault_stack)
    assert result.lost == []
    assert result.duplicates == {}


def test_invitations_whose_wake_ups_expired_while_no_worker_ran_are_sent_after_restart(
    fault_stack, use_layer, smtp, redis_client
):
    fault_stack.env["CHANNEL_EXPIRY"] = "3"
    use_layer(expiry=3)
    worker = fault_stack.start_worker("worker-1")
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    emails = addresses("expired", 300)
    channel_key = fault_stack.env["CHANNEL_PREFIX"] + settings.INVITATION_CHANNEL

    services.invitations_create_many(emails=emails, sender=None)
    assert redis_client.zcard(channel_key) == 300, "every wake-up was published"
    wait_for(lambda: not redis_client.exists(channel_key), timeout=15, message="the wake-ups to expire")
    fault_stack.start_worker("worker-2")

    result = wait_until_delivered(smtp, emails, timeout=60, stack=fault_stack)
    assert result.lost == []
    assert result.duplicates == {}


def test_two_workers_send_each_twice_published_invitation_exactly_once(fault_stack, smtp):
    fault_stack.start_worker("worker-1")
    fault_stack.start_worker("worker-2")
    emails = addresses("twice", 150)
    rows = Invitation.objects.bulk_create(
        Invitation(email=email, published_at=timezone.now()) for email in emails
    )

    for row in rows:
        # Back to back, so the two copies of a wake-up reach the two workers at once.
        queue.invitations_publish(invitation_ids=[row.pk])
        queue.invitations_publish(invitation_ids=[row.pk])

    result = wait_until_delivered(smtp, emails, timeout=60, stack=fault_stack)
    assert result.lost == []
    assert result.duplicates == {}
    claimants = set(Invitation.objects.values_list("claimed_by", flat=True))
    assert len({name.rsplit(":", 1)[0] for name in claimants}) == 2, "both workers took part"


class RequestFailed(Exception):
    """Something after the save failed, so the request's transaction rolls back."""


def invite_then_roll_back() -> None:
    with transaction.atomic():
        services.invitation_create(email="ghost@example.com", sender=None)
        services.invitations_create_many(emails=addresses("ghost", 5), sender=None)
        raise RequestFailed


def test_invitations_in_a_rolled_back_transaction_send_nothing(fault_stack, smtp):
    fault_stack.start_worker()

    with pytest.raises(RequestFailed):
        invite_then_roll_back()

    # Long enough for several sweeps and a republish: nothing may turn up.
    sweeps = float(fault_stack.env["INVITATION_REPUBLISH_AFTER"]) + 4 * float(
        fault_stack.env["INVITATION_SWEEP_INTERVAL"]
    )
    with pytest.raises(AssertionError):
        wait_for(lambda: smtp.received, timeout=sweeps, message="any mail")
    assert not Invitation.objects.exists()
    # The worker was listening all along: a committed invitation does arrive.
    services.invitation_create(email="real@example.com", sender=None)
    wait_for(lambda: smtp.recipients() == ["real@example.com"], timeout=15, message="the committed mail")
