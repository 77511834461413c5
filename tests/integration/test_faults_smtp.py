"""SMTP faults with a real worker: temporary refusals, permanent refusals, a stalled server."""

from invitations import services
from invitations.models import Invitation
from tests.integration.delivery import addresses, statuses, tally, wait_until_delivered
from tests.integration.stack import wait_for

Status = Invitation.Status


def test_smtp_451_is_retried_with_bounded_attempts_until_the_server_accepts(fault_stack, smtp):
    smtp.default_reply = "451 4.7.1 Greylisted, please try again later"  # greylisting, not a rate limit
    worker = fault_stack.start_worker()
    emails = addresses("busy", 10)
    services.invitations_create_many(emails=emails, sender=None)
    wait_for(
        lambda: Invitation.objects.filter(attempts__gte=2).count() == 10,
        timeout=30,
        message="a second attempt for every invitation",
    )
    assert smtp.received == []
    assert "provider said too many" not in worker.output()  # no worker paused the others

    smtp.default_reply = None

    result = wait_until_delivered(smtp, emails, timeout=30, stack=fault_stack)
    assert result.lost == []
    assert result.duplicates == {}
    max_attempts = int(fault_stack.env["INVITATION_MAX_ATTEMPTS"])
    assert all(2 <= n <= max_attempts for n in Invitation.objects.values_list("attempts", flat=True))


def test_smtp_550_fails_that_address_after_one_attempt_and_sends_the_others(fault_stack, smtp):
    smtp.replies["nobody@example.com"] = "550 5.1.1 no such user"
    fault_stack.env["SITE_URL"] = "https://invites.example.com"
    fault_stack.start_worker()
    emails = addresses("ok", 5)

    services.invitations_create_many(emails=[*emails, "nobody@example.com"], sender=None)

    wait_for(lambda: statuses() == {Status.FAILED: 1, Status.SENT: 5}, timeout=30, message="5 sent, 1 failed")
    failed = Invitation.objects.get(email="nobody@example.com")
    assert failed.attempts == 1
    assert "550" in failed.last_error
    result = tally(smtp, emails)
    assert result.lost == []
    assert result.duplicates == {}
    assert result.unexpected == []
    # The worker greeted the server as the site (EHLO), not as "localhost".
    assert set(smtp.greetings) == {"invites.example.com"}


def test_stalled_smtp_attempt_is_cut_off_by_the_timeout_and_retried(fault_stack, smtp):
    timeout = float(fault_stack.env["EMAIL_TIMEOUT"])
    smtp.stall_seconds = 60  # the server answers DATA only after a minute
    fault_stack.start_worker()

    services.invitations_create_many(emails=["slow@example.com"], sender=None)

    stalled = wait_for(
        lambda: Invitation.objects.filter(attempts__gte=1, last_error__contains="timed out").first(),
        timeout=3 * timeout + 10,
        message="the first attempt to time out",
    )
    assert stalled.status in (Status.PENDING, Status.SENDING)
    assert smtp.received == []
    smtp.stall_seconds = 0
    # Well before the stalled attempt's minute is up.
    result = wait_until_delivered(smtp, ["slow@example.com"], timeout=20, stack=fault_stack)
    assert result.lost == []
    assert result.duplicates == {}
    assert Invitation.objects.get().attempts >= 2
