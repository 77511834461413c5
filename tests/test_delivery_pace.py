"""Delivery's part in the provider's world: message ids, "too many" answers, the fleet's pace."""

import os
import re
import smtplib
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from invitations import delivery, mail
from invitations.delivery import DeliveryOutcome
from invitations.models import Invitation
from tests.test_delivery import FailingMailer, row
from tests.test_failures import api_error

pytestmark = pytest.mark.django_db
Status = Invitation.Status


class FakeGate:
    """Stands for throttle.SendGate: grants `turns` turns (None: all), records pauses."""

    def __init__(self, *, limited: bool, turns: int | None = None) -> None:
        self.limited, self.turns, self.pauses, self.waited = limited, turns, [], 0

    def wait_turn(self, stopping, *, ahead=False) -> bool:
        self.waited += 1
        return self.turns is None or self.waited <= self.turns

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)


def deliver(ids, *, mailer=None, gate=None):
    return delivery.invitations_deliver(
        invitation_ids=ids, worker="w1", mailer=mailer or mail.ReusableMailer(), gate=gate
    )


def test_the_message_id_sent_is_kept_on_the_row_for_the_providers_webhooks(mailoutbox):
    invitation = Invitation.objects.create(email="ada@example.com")

    deliver([invitation.pk])

    [message] = mailoutbox
    assert row(invitation).message_id == message.message()["Message-ID"]
    assert row(invitation).message_id.endswith("@localhost>")  # DEFAULT_FROM_EMAIL's domain


def test_the_message_id_is_random_on_the_senders_domain_and_says_nothing_of_the_worker(settings, mailoutbox):
    settings.DEFAULT_FROM_EMAIL = "The team <team@example.com>"
    invitations = [Invitation.objects.create(email=f"{name}@example.com") for name in "ab"]

    deliver([i.pk for i in invitations])

    ids = [message.message()["Message-ID"] for message in mailoutbox]
    assert all(re.fullmatch(r"<[0-9a-f]{32}@example\.com>", message_id) for message_id in ids), ids
    assert not any(str(os.getpid()) in message_id for message_id in ids)  # make_msgid() put it there
    assert ids[0] != ids[1]


def test_too_many_pauses_the_fleet_for_the_providers_time_and_costs_no_attempt():
    invitations = [Invitation.objects.create(email=f"{name}@example.com") for name in "abc"]
    gate = FakeGate(limited=False)
    throttled = smtplib.SMTPDataError(454, b"Throttling failure: Maximum sending rate exceeded.")

    outcomes = deliver([i.pk for i in invitations], mailer=FailingMailer(throttled), gate=gate)

    first, *rest = invitations
    assert outcomes == {
        first.pk: DeliveryOutcome.RETRY,
        **dict.fromkeys([i.pk for i in rest], DeliveryOutcome.RELEASED),  # not tried while paused
    }
    assert (row(first).status, row(first).attempts) == (Status.PENDING, 0)
    assert row(first).next_attempt_at > timezone.now()
    [pause] = gate.pauses
    assert 0 < pause <= 10


def test_a_greylisting_server_costs_attempts_pauses_no_one_and_the_row_fails_in_the_end(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "MAX_ATTEMPTS": 3}
    invitation = Invitation.objects.create(email="ada@example.com")
    gate = FakeGate(limited=False)
    reply = (451, b"4.7.1 Greylisted, please try again later")
    greylisted = FailingMailer(smtplib.SMTPRecipientsRefused({"ada@example.com": reply}))

    outcomes = []
    for _ in range(3):
        outcomes.append(deliver([invitation.pk], mailer=greylisted, gate=gate)[invitation.pk])
        Invitation.objects.filter(pk=invitation.pk).update(next_attempt_at=timezone.now())  # backoff over

    assert outcomes == [DeliveryOutcome.RETRY, DeliveryOutcome.RETRY, DeliveryOutcome.FAILED]
    assert gate.pauses == []  # the other workers never stopped
    failed = row(invitation)
    assert (failed.status, failed.attempts) == (Status.FAILED, 3)
    assert failed.last_error == "SMTP 451 4.7.1 Greylisted, please try again later"


def test_under_a_send_rate_each_invitation_is_claimed_only_once_its_turn_came(mailoutbox):
    invitations = [Invitation.objects.create(email=f"{name}@example.com") for name in "abc"]
    gate = FakeGate(limited=True, turns=2)

    with CaptureQueriesContext(connection) as queries:
        outcomes = deliver([i.pk for i in invitations], gate=gate)

    assert [m.to for m in mailoutbox] == [["a@example.com"], ["b@example.com"]]
    assert outcomes[invitations[2].pk] == DeliveryOutcome.RELEASED
    assert (row(invitations[2]).status, row(invitations[2]).claimed_by) == (Status.PENDING, "")
    assert row(invitations[2]).published_at is None  # the next sweep publishes it
    claims = [q for q in queries if q["sql"].startswith('SELECT "invitations_invitation"."id"')]
    assert len(claims) == 2  # one claim per turn, none for the invitation without one


def test_a_pause_that_outlasts_the_worker_leaves_the_batch_unclaimed_for_the_sweep(mailoutbox):
    invitation = Invitation.objects.create(email="ada@example.com")

    assert deliver([invitation.pk], gate=FakeGate(limited=False, turns=0)) == {
        invitation.pk: DeliveryOutcome.RELEASED
    }

    assert mailoutbox == []
    assert (row(invitation).status, row(invitation).attempts, row(invitation).published_at) == (
        Status.PENDING,
        0,
        None,
    )


def test_a_retry_after_from_the_provider_sets_the_next_attempt(monkeypatch):
    invitation = Invitation.objects.create(email="ada@example.com")
    failure = delivery.failures.SendFailure(permanent=False, error="HTTP 429", throttled=True, retry_after=30)
    monkeypatch.setattr(delivery.failures, "classify", lambda exc: failure)

    deliver([invitation.pk], mailer=FailingMailer(RuntimeError("429")), gate=FakeGate(limited=False))

    wait = row(invitation).next_attempt_at - timezone.now()
    assert timedelta(seconds=28) < wait <= timedelta(seconds=30)


def test_a_retry_after_of_years_pauses_the_fleet_no_longer_than_the_retry_cap(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "RETRY_CAP": 60}
    invitations = [Invitation.objects.create(email=f"{name}@example.com") for name in "ab"]
    gate = FakeGate(limited=False)
    forever = FailingMailer(api_error(429, {"Retry-After": "9" * 400}))  # once crashed the worker

    outcomes = deliver([i.pk for i in invitations], mailer=forever, gate=gate)

    assert list(outcomes.values()) == [DeliveryOutcome.RETRY, DeliveryOutcome.RELEASED]
    wait = row(invitations[0]).next_attempt_at - timezone.now()
    assert timedelta(seconds=58) < wait <= timedelta(seconds=60)
    [pause] = gate.pauses
    assert 58 < pause <= 60
