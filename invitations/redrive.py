"""The sweep: publish again what the channel layer forgot, from the rows that remember it."""

import logging
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from invitations import liveness, queue
from invitations.models import Invitation

logger = logging.getLogger(__name__)
Status = Invitation.Status


def invitations_redrive(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Publish again what the channel layer forgot; return how many were published.

    Releases claims of dead workers, then publishes due invitations whose wake-up was never
    published or went unanswered, then due reminders, no more than the channel has room for
    (a backlog waits in the database). Safe from any number of workers at once: the claim skips repeats.
    """
    now = now or timezone.now()
    released = Invitation.objects.abandoned(now).release_dead(reason="claim expired")
    # Claims whose worker process stopped saying it is alive (older than one beat: a process
    # says so as it starts, and again every beat).
    older = Invitation.objects.exclude(status=Status.PENDING).filter(
        claimed_at__lte=now - timedelta(seconds=liveness.HEARTBEAT_INTERVAL)
    )
    silent = liveness.silent_claimants(set(older.values_list("claimed_by", flat=True)))
    if silent:
        released += older.filter(claimed_by__in=silent).release_dead(reason="its worker stopped")
    if released:
        logger.warning("released %d invitation(s) claimed by a worker that stopped", released)
    room = queue.channel_room()
    limit = room if limit is None else min(limit, room)
    # Never-published rows first: an old publish time may just mean a long queue.
    forgotten = Invitation.objects.forgotten(now).order_by(F("published_at").asc(nulls_first=True), "pk")
    ids = list(forgotten.values_list("pk", flat=True)[:limit])
    # Then the reminders due (one each, REMIND_AFTER_DAYS after the send), on the same lane and
    # pace as a bulk send: the consumer claims them as it claims sends.
    if len(ids) < limit:
        reminders = Invitation.objects.forgotten_reminders(now).order_by("sent", "pk")
        ids += list(reminders.values_list("pk", flat=True)[: limit - len(ids)])
    if not ids:
        return 0
    Invitation.objects.mark_published(ids, at=now)
    return queue.invitations_publish(invitation_ids=ids)
