import re
import smtplib
from datetime import UTC, datetime

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from invitations import delivery, mail
from invitations.delivery import DeliveryOutcome
from invitations.models import Invitation

pytestmark = pytest.mark.django_db
Status = Invitation.Status
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
LINK = re.compile(r"https://invites\.example\.com/invites/accept/([\w-]+)/")


class FailingMailer:
    """A mailer whose server answers every message with `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def send(self, message) -> None:
        raise self.error

    def close(self) -> None:
        pass


def row(invitation: Invitation) -> Invitation:
    return Invitation.objects.get(pk=invitation.pk)


def test_delivery_sends_one_mail_with_an_absolute_accept_link(deliver, mailoutbox, staff, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "SITE_URL": "https://invites.example.com"}
    invitation = Invitation.objects.create(email="ada@example.com", sender=staff)

    assert deliver(invitation) == DeliveryOutcome.SENT

    [message] = mailoutbox
    assert message.to == ["ada@example.com"]
    assert message.subject == "grace invited you to join invites.example.com"
    key = LINK.search(message.body).group(1)
    assert LINK.search(message.alternatives[0].content).group(1) == key
    sent = row(invitation)
    assert (sent.status, sent.attempts, sent.last_error, sent.claimed_at) == (Status.SENT, 1, "", None)
    assert sent.sent is not None


def test_second_delivery_of_a_sent_invitation_sends_nothing(deliver, mailoutbox):
    invitation = Invitation.objects.create(email="ada@example.com")
    deliver(invitation)
    first = row(invitation)

    assert deliver(invitation) == DeliveryOutcome.SKIPPED

    assert len(mailoutbox) == 1
    again = row(invitation)
    assert (again.sent, again.key_nonce, again.attempts) == (first.sent, first.key_nonce, 1)


@pytest.mark.parametrize(
    "fields",
    [
        {"status": Status.REVOKED},
        {"status": Status.FAILED},
        {"status": Status.ACCEPTED},
        {"status": Status.SENDING, "claimed_at": timezone.now(), "claimed_by": "other-worker"},
        {"next_attempt_at": FUTURE},
    ],
    ids=["revoked", "failed", "accepted", "claimed", "not-yet-due"],
)
def test_invitation_that_is_not_due_is_skipped(deliver, mailoutbox, fields):
    invitation = Invitation.objects.create(email="ada@example.com", **fields)

    assert deliver(invitation) == DeliveryOutcome.SKIPPED

    assert mailoutbox == []
    skipped = row(invitation)
    assert (skipped.status, skipped.attempts) == (invitation.status, 0)
    assert skipped.claimed_by == invitation.claimed_by


def test_message_for_a_missing_invitation_is_skipped(deliver, mailoutbox):
    assert deliver(Invitation(pk=999_999)) == DeliveryOutcome.SKIPPED
    assert mailoutbox == []


def test_refused_recipient_fails_for_good(deliver):
    invitation = Invitation.objects.create(email="nobody@example.com")
    refused = smtplib.SMTPRecipientsRefused({"nobody@example.com": (550, b"no such user")})

    assert deliver(invitation, FailingMailer(refused)) == DeliveryOutcome.FAILED

    failed = row(invitation)
    assert (failed.status, failed.attempts, failed.sent) == (Status.FAILED, 1, None)
    assert "SMTP 550" in failed.last_error
    assert "no such user" in failed.last_error


def test_temporary_refusal_is_retried_later(deliver):
    invitation = Invitation.objects.create(email="ada@example.com")
    before = timezone.now()

    outcome = deliver(invitation, FailingMailer(smtplib.SMTPResponseException(451, b"try later")))

    assert outcome == DeliveryOutcome.RETRY
    retry = row(invitation)
    assert (retry.status, retry.attempts, retry.last_error) == (Status.PENDING, 1, "SMTP 451 try later")
    assert retry.next_attempt_at > before
    assert (retry.published_at, retry.claimed_at, retry.sent) == (None, None, None)


def test_transient_failures_give_up_after_the_last_attempt(deliver, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "MAX_ATTEMPTS": 3}
    invitation = Invitation.objects.create(email="ada@example.com")
    mailer = FailingMailer(smtplib.SMTPServerDisconnected("Connection unexpectedly closed"))

    outcomes = []
    for _ in range(3):
        outcomes.append(deliver(invitation, mailer))
        Invitation.objects.filter(pk=invitation.pk).update(next_attempt_at=timezone.now())  # backoff over

    assert outcomes == [DeliveryOutcome.RETRY, DeliveryOutcome.RETRY, DeliveryOutcome.FAILED]
    failed = row(invitation)
    assert (failed.status, failed.attempts) == (Status.FAILED, 3)
    assert failed.last_error == "SMTPServerDisconnected: Connection unexpectedly closed"


def test_unexpected_error_is_recorded_and_retried(deliver):
    invitation = Invitation.objects.create(email="ada@example.com")

    assert deliver(invitation, FailingMailer(RuntimeError("boom"))) == DeliveryOutcome.RETRY

    assert row(invitation).last_error == "RuntimeError: boom"
    assert row(invitation).status == Status.PENDING


def test_failed_attempt_can_succeed_later(deliver, mailoutbox):
    invitation = Invitation.objects.create(email="ada@example.com")
    deliver(invitation, FailingMailer(TimeoutError("timed out")))
    Invitation.objects.filter(pk=invitation.pk).update(next_attempt_at=timezone.now())

    assert deliver(invitation, mail.ReusableMailer()) == DeliveryOutcome.SENT

    assert [m.to for m in mailoutbox] == [["ada@example.com"]]
    sent = row(invitation)
    assert (sent.status, sent.attempts, sent.last_error) == (Status.SENT, 2, "")


def test_retry_delay_doubles_and_is_capped(settings, monkeypatch):
    settings.INVITATIONS = {**settings.INVITATIONS, "RETRY_BASE": 5}
    settings.INVITATIONS = {**settings.INVITATIONS, "RETRY_CAP": 60}
    monkeypatch.setattr(delivery.random, "uniform", lambda low, high: high)

    delays = [delivery.retry_delay(attempt).total_seconds() for attempt in range(1, 7)]

    assert delays == [5, 10, 20, 40, 60, 60]


def test_retry_delay_has_jitter_of_at_most_half_a_step(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "RETRY_BASE": 8}
    settings.INVITATIONS = {**settings.INVITATIONS, "RETRY_CAP": 600}

    delays = {delivery.retry_delay(3).total_seconds() for _ in range(50)}

    assert all(16 <= delay <= 32 for delay in delays)
    assert len(delays) > 1


def test_the_claim_reads_the_senders_and_a_renamed_sender_shows_in_the_next_mail(deliver, mailoutbox, staff):
    first, second = (Invitation.objects.create(email=f"{name}@example.com", sender=staff) for name in "ab")
    deliver(first)
    staff.first_name, staff.last_name = "Grace", "Hopper"
    staff.save()

    with CaptureQueriesContext(connection) as queries:
        deliver(second)

    assert [message.subject for message in mailoutbox] == [
        "grace invited you to join 127.0.0.1",
        "Grace Hopper invited you to join 127.0.0.1",
    ]
    assert sum("auth_user" in query["sql"] for query in queries) == 1  # in the claim's SELECT


def test_a_batch_is_claimed_at_once_and_sent_and_stamped_one_by_one(mailoutbox):
    invitations = [Invitation.objects.create(email=f"{name}@example.com") for name in "abc"]
    ids = [invitation.pk for invitation in invitations]
    mailer = mail.ReusableMailer()

    with CaptureQueriesContext(connection) as queries:
        outcomes = delivery.invitations_deliver(invitation_ids=ids, worker="w1", mailer=mailer)

    statements = [query["sql"].split()[0] for query in queries if "invitations_invitation" in query["sql"]]
    assert statements == ["SELECT", "UPDATE"] + ["UPDATE"] * 3  # one claim, then one stamp per mail
    assert outcomes == dict.fromkeys(ids, DeliveryOutcome.SENT)
    assert [m.to for m in mailoutbox] == [["a@example.com"], ["b@example.com"], ["c@example.com"]]
    assert {row(invitation).status for invitation in invitations} == {Status.SENT}


def test_a_stopping_worker_finishes_the_mail_in_hand_and_releases_the_rest_of_its_batch(mailoutbox):
    invitations = [Invitation.objects.create(email=f"{name}@example.com") for name in "abc"]
    first, *rest = [invitation.pk for invitation in invitations]

    outcomes = delivery.invitations_deliver(
        invitation_ids=[first, *rest], worker="w1", mailer=mail.ReusableMailer(), stopping=lambda: True
    )

    assert outcomes == {first: DeliveryOutcome.SENT, **dict.fromkeys(rest, DeliveryOutcome.RELEASED)}
    assert [m.to for m in mailoutbox] == [["a@example.com"]]
    for released in Invitation.objects.filter(pk__in=rest):
        # Pending and unpublished: the next sweep of any worker publishes it again at once.
        assert (released.status, released.attempts, released.claimed_by) == (Status.PENDING, 0, "")
        assert released.published_at is None


def test_a_mail_that_breaks_off_keeps_its_claim_and_the_rest_of_the_batch_is_released(
    mailoutbox, monkeypatch
):
    invitations = [Invitation.objects.create(email=f"{name}@example.com") for name in "abc"]
    stamp = delivery._record_sent

    def database_gone_at_b(invitation, **kwargs):
        if invitation.email == "b@example.com":
            raise ConnectionError("database went away")
        return stamp(invitation, **kwargs)

    monkeypatch.setattr(delivery, "_record_sent", database_gone_at_b)

    with pytest.raises(ConnectionError):
        delivery.invitations_deliver(
            invitation_ids=[invitation.pk for invitation in invitations],
            worker="w1",
            mailer=mail.ReusableMailer(),
        )

    a, b, c = (row(invitation) for invitation in invitations)
    assert [m.to for m in mailoutbox] == [["a@example.com"], ["b@example.com"]]
    assert a.status == Status.SENT
    # b may have reached its server: only its claim's expiry sends it again.
    assert (b.status, b.claimed_by) == (Status.SENDING, "w1")
    assert (c.status, c.claimed_by, c.attempts) == (Status.PENDING, "", 0)


class FakeClock:
    """delivery's `time`: sleeping moves the clock on at once."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def database_away_for(monkeypatch, settings):
    """Make the stamp of a sent mail fail, as a database that is away does, for so many seconds
    of a fake clock (claim timeout 60 s); the clock."""
    settings.INVITATIONS = {**settings.INVITATIONS, "CLAIM_TIMEOUT": 60}
    clock, stamp = FakeClock(), Invitation.objects.stamp_sent
    monkeypatch.setattr(delivery, "time", clock)
    monkeypatch.setattr(delivery.connection, "close", lambda: None)  # the test's transaction stays

    def away_for(seconds: float) -> FakeClock:
        def stamp_when_back(*args, **kwargs):
            if clock.now < seconds:
                raise OperationalError("server closed the connection unexpectedly")
            return stamp(*args, **kwargs)

        monkeypatch.setattr(Invitation.objects, "stamp_sent", stamp_when_back)
        return clock

    return away_for


def test_a_stamp_is_tried_again_until_the_database_is_back_within_the_claim_timeout(
    mailoutbox, database_away_for
):
    invitation = Invitation.objects.create(email="ada@example.com")
    clock = database_away_for(55)  # longer than half the claim timeout, as a fail-over can be

    delivery.invitations_deliver(invitation_ids=[invitation.pk], worker="w1", mailer=mail.ReusableMailer())

    invitation.refresh_from_db()
    assert (invitation.status, invitation.claimed_at, len(mailoutbox)) == (Status.SENT, None, 1)
    assert max(clock.sleeps) == delivery.STAMP_RETRY_CAP  # back in the database: stamped within a second
    assert 55 <= clock.now <= 55 + delivery.STAMP_RETRY_CAP


def test_a_stamp_gives_up_at_the_claim_timeout_and_the_claim_stays_for_the_sweep(
    mailoutbox, database_away_for
):
    invitation = Invitation.objects.create(email="ada@example.com")
    clock = database_away_for(3600)

    with pytest.raises(OperationalError):
        delivery.invitations_deliver(
            invitation_ids=[invitation.pk], worker="w1", mailer=mail.ReusableMailer()
        )

    invitation.refresh_from_db()
    assert (invitation.status, invitation.claimed_by) == (Status.SENDING, "w1")
    assert 60 - delivery.STAMP_RETRY_CAP <= clock.now <= 60
