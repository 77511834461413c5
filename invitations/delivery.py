"""Delivery: claim a row, send its mail, record the outcome; re-drive what the layer forgot."""

import logging
import random
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from invitations import live, mail, queue
from invitations.models import Invitation, key_digest

logger = logging.getLogger(__name__)
Status = Invitation.Status


class DeliveryOutcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"
    RELEASED = "released"


def invitations_deliver(
    *,
    invitation_ids: Sequence[int],
    worker: str,
    mailer: mail.ReusableMailer,
    announce: Callable[..., None] = live.invitation_announce,
    stopping: Callable[[], bool] | None = None,
) -> dict[int, DeliveryOutcome]:
    """Claim the due invitations among `invitation_ids` at once, then send and stamp each in turn.

    Idempotent: what is missing, taken, not due or closed is skipped. Each mail is stamped as
    soon as the server took it. Once `stopping()` is true, or a mail breaks off with an error,
    no other mail is started and the unused claims are released for the sweep.
    """
    claimed = Invitation.objects.claim_due(invitation_ids, worker=worker, now=timezone.now())
    outcomes = dict.fromkeys(invitation_ids, DeliveryOutcome.SKIPPED)
    for invitation_id in outcomes.keys() - {invitation.pk for invitation in claimed}:
        logger.info("invitation id=%s outcome=skipped (not due or already taken)", invitation_id)
    started = 0
    try:
        for invitation in claimed:
            if started and stopping and stopping():  # finish the mail in hand, start no other
                break
            started += 1
            outcome = _deliver_claimed(invitation, worker=worker, mailer=mailer, announce=announce)
            outcomes[invitation.pk] = outcome
    finally:
        # A mail that broke off mid-way keeps its claim: it may have been sent already.
        if unsent := [invitation.pk for invitation in claimed[started:]]:
            Invitation.objects.release(unsent, worker=worker)
            outcomes.update(dict.fromkeys(unsent, DeliveryOutcome.RELEASED))
            logger.info("released %d claimed invitation(s) not sent yet", len(unsent))
    return outcomes


def _deliver_claimed(
    invitation: Invitation, *, worker: str, mailer: mail.ReusableMailer, announce: Callable[..., None]
) -> DeliveryOutcome:
    announce(invitation=invitation)
    key = secrets.token_urlsafe(32)
    started = time.monotonic()
    try:
        mailer.send(mail.build_message(invitation, key=key))
    except Exception as exc:
        failure = mail.classify(exc)
        outcome = _record_failure(invitation, worker=worker, failure=failure)
        error = failure.error
    else:
        outcome = _record_sent(invitation, worker=worker, key=key)
        error = ""
    took = f"ms={(time.monotonic() - started) * 1000:.0f}" + (f" error={error!r}" if error else "")
    logger.info(
        "invitation id=%s attempt=%s outcome=%s %s", invitation.pk, invitation.attempts, outcome, took
    )
    announce(invitation=invitation)
    return outcome


def _update_own_claim(invitation: Invitation, *, worker: str, **fields) -> bool:
    """Write `fields` if this worker still holds the claim; keep the object in step."""
    updated = Invitation.objects.filter(pk=invitation.pk, status=Status.SENDING, claimed_by=worker).update(
        claimed_at=None, **fields
    )
    for name, value in {**fields, "claimed_at": None}.items():
        setattr(invitation, name, value)
    return bool(updated)


def _record_sent(invitation: Invitation, *, worker: str, key: str) -> DeliveryOutcome:
    stamped = _update_own_claim(
        invitation,
        worker=worker,
        status=Status.SENT,
        sent=timezone.now(),
        key_digest=key_digest(key),
        last_error="",
    )
    if not stamped:
        logger.warning("invitation id=%s was sent after its claim expired", invitation.pk)
    return DeliveryOutcome.SENT


def _record_failure(invitation: Invitation, *, worker: str, failure: mail.SendFailure) -> DeliveryOutcome:
    if failure.permanent or invitation.attempts >= settings.INVITATION_MAX_ATTEMPTS:
        outcome, fields = DeliveryOutcome.FAILED, {"status": Status.FAILED}
    else:  # pending again: the sweep publishes it once it is due
        retry_at = timezone.now() + retry_delay(invitation.attempts)
        outcome, fields = DeliveryOutcome.RETRY, {"status": Status.PENDING, "next_attempt_at": retry_at}
        fields["published_at"] = None
    _update_own_claim(invitation, worker=worker, last_error=failure.error, key_digest=None, **fields)
    return outcome


def retry_delay(attempt: int) -> timedelta:
    """Exponential backoff with jitter: half the step fixed, half random."""
    step = min(settings.INVITATION_RETRY_CAP, settings.INVITATION_RETRY_BASE * 2 ** (attempt - 1))
    return timedelta(seconds=step / 2 + random.uniform(0, step / 2))  # noqa: S311


def invitations_redrive(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Publish again what the channel layer forgot; return how many were published.

    Releases claims of dead workers, then publishes due invitations whose wake-up was never
    published or went unanswered, no more than the channel has room for (a backlog waits in
    the database). Safe from any number of workers at once: the claim skips repeats.
    """
    now = now or timezone.now()
    released = Invitation.objects.abandoned(now).update(
        status=Status.PENDING, claimed_at=None, published_at=None, last_error="claim expired"
    )
    if released:
        logger.warning("released %d invitation(s) claimed by a worker that stopped", released)
    room = queue.channel_room()
    limit = room if limit is None else min(limit, room)
    # Never-published rows first: an old publish time may just mean a long queue.
    forgotten = Invitation.objects.forgotten(now).order_by(F("published_at").asc(nulls_first=True), "pk")
    ids = list(forgotten.values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    Invitation.objects.filter(pk__in=ids).update(published_at=now)
    return queue.invitations_publish(invitation_ids=ids)
