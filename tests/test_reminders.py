"""One reminder, REMIND_AFTER_DAYS after the send, found by the sweep (redrive.py), claimed
like a send (outbox.py) and sent with the same working link (delivery.py)."""

import re
import smtplib
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.formats import date_format

from invitations import delivery, mail, redrive, services
from invitations.delivery import DeliveryOutcome
from invitations.models import Invitation, Suppression

pytestmark = pytest.mark.django_db
Status = Invitation.Status
LINK = re.compile(r"/invites/accept/([^/\s]+)/")


def sent_days_ago(invitation: Invitation, days: float) -> Invitation:
    Invitation.objects.filter(pk=invitation.pk).update(sent=timezone.now() - timedelta(days=days))
    invitation.refresh_from_db()
    return invitation


def sweep_and_deliver(published, worker: str = "test-worker") -> dict:
    """What one sweep publishes, delivered as a worker's consumer does."""
    redrive.invitations_redrive()
    ids = [message["id"] for message in published()]
    mailer = mail.ReusableMailer()
    try:
        return delivery.invitations_deliver(invitation_ids=ids, worker=worker, mailer=mailer) if ids else {}
    finally:
        mailer.close()


def test_a_sent_invitation_gets_one_reminder_with_the_same_link_and_its_end_date(
    sent_invitation, published, mailoutbox
):
    invitation, key = sent_invitation
    invitation = sent_days_ago(invitation, 3)
    published()  # the send's wake-up

    assert sweep_and_deliver(published) == {invitation.pk: DeliveryOutcome.REMINDED}

    reminder = mailoutbox[-1]
    assert (reminder.to, reminder.subject) == (
        ["ada@example.com"],
        "Reminder: grace invited you to join 127.0.0.1",
    )
    assert LINK.search(reminder.body).group(1) == key
    assert (
        "A reminder: grace invited you to join 127.0.0.1, and the invitation is still open." in reminder.body
    )
    assert f"stops working on {date_format(timezone.localtime(invitation.expires))}." in reminder.body
    row = Invitation.objects.get(pk=invitation.pk)
    assert (row.status, row.reminded is not None, row.claimed_at) == (Status.SENT, True, None)
    assert sweep_and_deliver(published) == {}  # exactly once
    assert len(mailoutbox) == 2
    assert delivery.invitations_deliver(
        invitation_ids=[invitation.pk], worker="late", mailer=mail.ReusableMailer()
    ) == {invitation.pk: DeliveryOutcome.SKIPPED}  # a repeated wake-up sends nothing


@pytest.mark.parametrize(
    "change",
    [
        {"status": Status.ACCEPTED},
        {"status": Status.REVOKED},
        {"sent": timezone.now() - timedelta(days=8)},  # expired
        {"sent": timezone.now() - timedelta(days=2)},  # not yet
        {"reminded": timezone.now()},
    ],
    ids=["accepted", "revoked", "expired", "too-early", "reminded"],
)
def test_no_reminder_for_an_invitation_that_is_not_open_or_not_due(
    sent_invitation, published, mailoutbox, change
):
    invitation, _ = sent_invitation
    sent_days_ago(invitation, 3)
    Invitation.objects.filter(pk=invitation.pk).update(**change)
    published()

    assert sweep_and_deliver(published) == {}
    assert len(mailoutbox) == 1


def test_no_reminder_to_a_suppressed_address_nor_when_reminders_are_off(
    sent_invitation, published, mailoutbox, settings
):
    invitation, _ = sent_invitation
    sent_days_ago(invitation, 5)
    published()
    settings.INVITATIONS = {**settings.INVITATIONS, "REMIND_AFTER_DAYS": 0}
    assert sweep_and_deliver(published) == {}
    settings.INVITATIONS = {**settings.INVITATIONS, "REMIND_AFTER_DAYS": 3}
    Suppression.objects.create(email="ada@example.com", reason=Suppression.Reason.OPTED_OUT)

    assert sweep_and_deliver(published) == {}
    assert len(mailoutbox) == 1


def test_of_two_workers_claiming_a_reminder_one_gets_it(sent_invitation):
    invitation, _ = sent_invitation
    sent_days_ago(invitation, 3)
    now = timezone.now()

    first = Invitation.objects.claim_reminders([invitation.pk], worker="a", now=now)
    second = Invitation.objects.claim_reminders([invitation.pk], worker="b", now=now)

    assert ([row.pk for row in first], second) == ([invitation.pk], [])


def test_a_dead_workers_reminder_claim_is_released_and_sent_by_another(
    sent_invitation, published, mailoutbox, settings
):
    invitation, _ = sent_invitation
    sent_days_ago(invitation, 3)
    published()
    Invitation.objects.claim_reminders(
        [invitation.pk], worker="dead", now=timezone.now() - timedelta(hours=1)
    )

    assert sweep_and_deliver(published) == {invitation.pk: DeliveryOutcome.REMINDED}
    assert mailoutbox[-1].subject.startswith("Reminder: ")


def test_a_temporary_failure_tries_again_later_and_a_refusal_is_never_retried(
    sent_invitation, published, monkeypatch
):
    invitation, _ = sent_invitation
    sent_days_ago(invitation, 3)
    published()
    error = smtplib.SMTPResponseException(451, b"try later")
    monkeypatch.setattr(mail.ReusableMailer, "send", lambda self, message: (_ for _ in ()).throw(error))

    assert sweep_and_deliver(published) == {invitation.pk: DeliveryOutcome.RETRY}
    row = Invitation.objects.get(pk=invitation.pk)
    assert (row.reminded, row.claimed_at) == (None, None)
    assert row.next_attempt_at > timezone.now() + timedelta(minutes=9)  # RETRY_CAP later
    assert sweep_and_deliver(published) == {}

    Invitation.objects.filter(pk=invitation.pk).update(next_attempt_at=timezone.now())
    error = smtplib.SMTPResponseException(550, b"no such user")
    assert sweep_and_deliver(published) == {invitation.pk: DeliveryOutcome.FAILED}
    row = Invitation.objects.get(pk=invitation.pk)
    assert row.reminded is not None
    assert row.last_error.startswith("reminder not sent: ")
    assert row.status == Status.SENT  # the link still works


def test_a_resend_starts_over(sent_invitation, published, mailoutbox, django_capture_on_commit_callbacks):
    invitation, _ = sent_invitation
    sent_days_ago(invitation, 3)
    published()
    sweep_and_deliver(published)

    with django_capture_on_commit_callbacks(execute=True):
        services.invitations_requeue(ids=[invitation.pk], statuses=[Status.SENT])

    assert Invitation.objects.get(pk=invitation.pk).reminded is None


def test_the_admin_shows_and_filters_the_reminded_time(admin_client):
    now = timezone.now()
    reminded = Invitation.objects.create(
        email="reminded@example.com", status=Status.SENT, sent=now, reminded=now
    )
    Invitation.objects.create(email="not-yet@example.com", status=Status.SENT, sent=now)

    page = admin_client.get("/admin/invitations/invitation/?reminded__isnull=False").content.decode()
    change_page = admin_client.get(f"/admin/invitations/invitation/{reminded.pk}/change/").content.decode()

    assert "reminded@example.com" in page
    assert "not-yet@example.com" not in page
    assert re.search(r"<label>Reminded:</label>\s*<div class=\"readonly\">(?!-<)", change_page)


def test_under_a_send_rate_each_reminder_waits_for_its_turn(sent_invitation, mailoutbox):
    from tests.test_delivery_pace import FakeGate

    invitation, _ = sent_invitation
    sent_days_ago(invitation, 3)
    gate = FakeGate(limited=True, turns=0)  # the fleet's rate has no turn free

    outcomes = delivery.invitations_deliver(
        invitation_ids=[invitation.pk], worker="w1", mailer=mail.ReusableMailer(), gate=gate
    )

    assert (outcomes, gate.waited, len(mailoutbox)) == ({invitation.pk: DeliveryOutcome.RELEASED}, 1, 1)
    assert Invitation.objects.get(pk=invitation.pk).published_at is None  # the next sweep has it
    gate.turns = None
    outcomes = delivery.invitations_deliver(
        invitation_ids=[invitation.pk], worker="w1", mailer=mail.ReusableMailer(), gate=gate
    )
    assert (outcomes, gate.waited, len(mailoutbox)) == ({invitation.pk: DeliveryOutcome.REMINDED}, 2, 2)
