"""Delivery: claim a row, send its mail, record the outcome (the sweep is in redrive.py)."""

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from django.db import connection
from django.utils import timezone

from invitations import acceptance, failures, health, keys, live, mail, throttle
from invitations.conf import app_settings
from invitations.models import Invitation
from invitations.signals import invitation_sent, send_on_commit

logger = logging.getLogger(__name__)
Status = Invitation.Status
STAMP_RETRY_CAP = 1.0  # seconds between a sent mail's stamps while the database is away


@dataclass(frozen=True)
class Collaborators:
    """What a worker lends the consumers it runs (in their scope, under SCOPE_KEY): a collector
    of state changes for the boards, whether it is stopping, and the fleet's send gate. A
    consumer run alone announces each change itself, never stops early and keeps no pace."""

    SCOPE_KEY = "invitations.collaborators"

    announce: Callable[..., None] = live.invitation_announce
    stopping: Callable[[], bool] = field(default=lambda: False)
    gate: throttle.SendGate | None = None


class DeliveryOutcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"
    RELEASED = "released"
    SUPPRESSED = "suppressed"  # the address bounced or complained: closed, not mailed
    REMINDED = "reminded"  # the one reminder of a sent invitation went out


def invitations_deliver(
    *,
    invitation_ids: Sequence[int],
    worker: str,
    mailer: mail.ReusableMailer,
    announce: Callable[..., None] = live.invitation_announce,
    stopping: Callable[[], bool] = lambda: False,
    gate: throttle.SendGate | None = None,
    ahead: bool = False,
) -> dict[int, DeliveryOutcome]:
    """Claim the due invitations among `invitation_ids`, then send and stamp each in turn.

    Idempotent: what is missing, taken, not due or closed is skipped. Each mail is stamped as
    soon as the server took it. With a `gate` every claim waits for its turn first: one at a
    time under a send rate (before the bulk's, if `ahead`: the priority lane's wake-up), a
    whole batch otherwise. Once `stopping()` is true, a provider
    said "too many" or a mail broke off, no other mail starts; the rest goes to the sweep.
    """
    run = {"worker": worker, "mailer": mailer, "announce": announce, "stopping": stopping, "gate": gate}
    if gate is None or not gate.limited:
        if gate is not None and not gate.wait_turn(stopping):  # a provider's pause outlasted us
            return _leave_for_sweep(invitation_ids)
        return _deliver_batch(invitation_ids, **run)
    outcomes: dict[int, DeliveryOutcome] = {}
    for index, invitation_id in enumerate(invitation_ids):
        # A repeated wake-up (the sweep re-publishes what waits long behind the rate) must
        # not spend a turn: that would leave the rate unused.
        if not Invitation.objects.actionable(timezone.now()).filter(pk=invitation_id).exists():
            outcomes[invitation_id] = DeliveryOutcome.SKIPPED
        elif not gate.wait_turn(stopping, ahead=ahead):
            return outcomes | _leave_for_sweep(invitation_ids[index:])
        else:
            outcomes |= _deliver_batch([invitation_id], **run)
    return outcomes


def _leave_for_sweep(invitation_ids: Sequence[int]) -> dict[int, DeliveryOutcome]:
    """Wake-ups taken but not acted on: marked unpublished, so the next sweep publishes them."""
    Invitation.objects.unpublish(invitation_ids)
    return dict.fromkeys(invitation_ids, DeliveryOutcome.RELEASED)


def _deliver_batch(
    invitation_ids: Sequence[int],
    *,
    worker: str,
    mailer: mail.ReusableMailer,
    announce: Callable[..., None],
    stopping: Callable[[], bool],
    gate: throttle.SendGate | None,
) -> dict[int, DeliveryOutcome]:
    now = timezone.now()
    taken = Invitation.objects.claim_due(invitation_ids, worker=worker, now=now)
    # What is not due to be sent may be due to be reminded (the sweep's wake-ups).
    rest = [pk for pk in invitation_ids if pk not in {invitation.pk for invitation in taken}]
    reminding = Invitation.objects.claim_reminders(rest, worker=worker, now=now) if rest else []
    claimed = [invitation for invitation in taken if invitation.status == Status.SENDING] + reminding
    outcomes = dict.fromkeys(invitation_ids, DeliveryOutcome.SKIPPED)
    for invitation_id in outcomes.keys() - {invitation.pk for invitation in [*taken, *reminding]}:
        logger.info("invitation id=%s outcome=skipped (not due or already taken)", invitation_id)
    for invitation in taken:
        if invitation.status != Status.SENDING:  # closed by the claim: its address is suppressed
            outcomes[invitation.pk] = DeliveryOutcome.SUPPRESSED
            logger.info("invitation id=%s outcome=suppressed error=%r", invitation.pk, invitation.last_error)
            announce(invitation=invitation)
    started, throttled = 0, False
    try:
        for invitation in claimed:
            if started and (stopping() or throttled):  # finish the mail in hand, start no other
                break
            started += 1
            deliver = _deliver_claimed if invitation.status == Status.SENDING else _remind_claimed
            outcome, throttled = deliver(invitation, worker=worker, mailer=mailer, announce=announce)
            outcomes[invitation.pk] = outcome
            if throttled and gate is not None:
                gate.pause(_pause_for(invitation))
    finally:
        # A mail that broke off mid-way keeps its claim: it may have been sent already.
        if unsent := [invitation.pk for invitation in claimed[started:]]:
            Invitation.objects.release_unused(unsent, worker=worker)
            for invitation in claimed[started:]:
                if invitation.status != Status.SENDING:
                    Invitation.objects.release_reminder(
                        invitation.pk, worker=worker, at=now, error=invitation.last_error
                    )
            outcomes.update(dict.fromkeys(unsent, DeliveryOutcome.RELEASED))
            logger.info("released %d claimed invitation(s) not sent yet", len(unsent))
    return outcomes


def _pause_for(invitation: Invitation) -> float:
    return max((invitation.next_attempt_at - timezone.now()).total_seconds(), 0.1)


def _deliver_claimed(
    invitation: Invitation, *, worker: str, mailer: mail.ReusableMailer, announce: Callable[..., None]
) -> tuple[DeliveryOutcome, bool]:
    """Send one claimed invitation and record what came of it; also whether the provider
    said "too many"."""
    announce(invitation=invitation)
    key = keys.invitation_key(invitation)
    has_account = getattr(invitation, "has_account", None)  # read by the claim: then they log in
    if has_account is None:
        has_account = acceptance.account_for(invitation) is not None
    started, failure = time.monotonic(), None
    try:
        message_id = mailer.send(mail.build_message(invitation, key=key, has_account=has_account))
    except Exception as exc:
        failure = failures.classify(exc)
        outcome = _record_failure(invitation, worker=worker, failure=failure)
    else:
        outcome = _record_sent(invitation, worker=worker, message_id=message_id)
    took = round((time.monotonic() - started) * 1000)
    error = f" error={failure.error!r}" if failure else ""
    fields = {"invitation_id": invitation.pk, "attempt": invitation.attempts, "outcome": str(outcome)}
    logger.info(  # LOG_FORMAT=json: the fields of the line, besides its text
        "invitation id=%s attempt=%s outcome=%s ms=%s%s",
        invitation.pk,
        invitation.attempts,
        outcome,
        took,
        error,
        extra={**fields, "duration_ms": took},
    )
    announce(invitation=invitation)
    return outcome, bool(failure and failure.throttled)


def _remind_claimed(
    invitation: Invitation, *, worker: str, mailer: mail.ReusableMailer, announce: Callable[..., None]
) -> tuple[DeliveryOutcome, bool]:
    """Send the one reminder of a claimed, sent invitation, with the same working link (the key
    is derived from the row's nonce), and stamp `reminded`; also whether the provider said
    "too many". A refusal for good is stamped too, with the error: never a second reminder.
    A temporary failure is tried again RETRY_CAP later (a reminder is in no hurry)."""
    key = keys.invitation_key(invitation)
    message = mail.build_message(invitation, key=key, has_account=invitation.has_account, reminder=True)
    started, failure = time.monotonic(), None
    try:
        mailer.send(message)
    except Exception as exc:
        failure = failures.classify(exc)
    now = timezone.now()
    if failure is None or (failure.permanent and not failure.throttled):
        error = f"reminder not sent: {failure.error}" if failure else ""
        _while_the_database_is_away(
            lambda: Invitation.objects.stamp_reminded(invitation.pk, worker=worker, at=now, error=error)
        )
        outcome = DeliveryOutcome.FAILED if failure else DeliveryOutcome.REMINDED
    else:
        wait = failure.retry_after if failure.throttled and failure.retry_after else app_settings.RETRY_CAP
        at = now + timedelta(seconds=wait)
        Invitation.objects.release_reminder(invitation.pk, worker=worker, at=at, error=failure.error)
        invitation.next_attempt_at = at
        outcome = DeliveryOutcome.RETRY
    took = f"ms={(time.monotonic() - started) * 1000:.0f}" + (f" error={failure.error!r}" if failure else "")
    logger.info("invitation id=%s reminder outcome=%s %s", invitation.pk, outcome, took)
    return outcome, bool(failure and failure.throttled)


def _record_sent(invitation: Invitation, *, worker: str, message_id: str) -> DeliveryOutcome:
    sent, message_id = timezone.now(), message_id[:255]
    stamped = _while_the_database_is_away(
        lambda: Invitation.objects.stamp_sent(invitation.pk, worker=worker, sent=sent, message_id=message_id)
    )
    _in_step(invitation, status=Status.SENT, sent=sent, message_id=message_id, last_error="")
    if not stamped:
        logger.warning("invitation id=%s was sent after its claim expired", invitation.pk)
    send_on_commit(invitation_sent, invitation=invitation)
    return DeliveryOutcome.SENT


def _in_step(invitation: Invitation, **fields) -> None:
    """Keep the object as the transition left the row: the boards and the log show it."""
    for name, value in {**fields, "claimed_at": None}.items():
        setattr(invitation, name, value)


def _while_the_database_is_away(write: Callable[[], bool]) -> bool:
    """Try `write`, a sent mail's stamp, again while the database cannot be reached, for up to
    the claim timeout: until the claim expires no other worker may take the row, so a stamp that
    lands in time is all that keeps the mail from going twice (a PostgreSQL restart or fail-over
    takes seconds to a minute). Short waits: once the database is back, the stamp must come
    before another worker's sweep finds the claim expired."""
    deadline, delay = time.monotonic() + app_settings.CLAIM_TIMEOUT, 0.25
    while True:
        try:
            return write()
        except health.DATABASE_AWAY as exc:
            if time.monotonic() + delay > deadline:
                logger.error("database unavailable for the claim timeout (%s): the mail may go again", exc)
                raise
            logger.warning("database unavailable (%s); stamping again in %.2f s", exc, delay)
            connection.close()  # a broken connection is not reused; the next query connects anew
            time.sleep(delay)
            delay = min(delay * 2, STAMP_RETRY_CAP)


def _record_failure(invitation: Invitation, *, worker: str, failure: failures.SendFailure) -> DeliveryOutcome:
    claims, error, counted = Invitation.objects, failure.error, not failure.throttled
    if counted and (failure.permanent or invitation.attempts >= app_settings.MAX_ATTEMPTS):
        claims.fail(invitation.pk, worker=worker, error=error)
        _in_step(invitation, status=Status.FAILED, last_error=error)
        return DeliveryOutcome.FAILED
    if counted:  # pending again: the sweep publishes it once it is due
        wait = retry_delay(invitation.attempts)
    else:  # the provider's quota, not this mail: the attempt does not count
        wait = timedelta(seconds=failure.retry_after) if failure.retry_after else retry_delay(1)
    at = timezone.now() + wait
    claims.schedule_retry(invitation.pk, worker=worker, at=at, error=error, counted=counted)
    attempts = invitation.attempts if counted else invitation.attempts - 1
    _in_step(invitation, status=Status.PENDING, next_attempt_at=at, last_error=error, attempts=attempts)
    invitation.published_at = None
    return DeliveryOutcome.RETRY


def retry_delay(attempt: int) -> timedelta:
    """Exponential backoff with jitter: half the step fixed, half random."""
    step = min(app_settings.RETRY_CAP, app_settings.RETRY_BASE * 2 ** (attempt - 1))
    return timedelta(seconds=step / 2 + random.uniform(0, step / 2))  # noqa: S311
