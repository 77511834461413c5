"""Retention: invitations that ended long ago are deleted, in batches; suppressions stay.

`purge_invitations --older-than-days N` does it by hand; with INVITATIONS["RETENTION_DAYS"] the
workers do it once a day, one worker of the fleet at a time (a Redis lock, SET NX EX).
"""

import logging
from collections import Counter
from datetime import timedelta

import redis
from django.db import transaction
from django.utils import timezone

from invitations import liveness
from invitations.conf import app_settings
from invitations.models import Invitation

logger = logging.getLogger(__name__)
Status = Invitation.Status
BATCH = 1000  # rows per DELETE: each holds its locks briefly, whatever the table's size
# How often a worker asks whether the day's purge is due; the lock makes it once a day.
CHECK_INTERVAL = 3600.0
LOCK_SECONDS = 24 * 3600


def invitations_purge(*, older_than_days: int, dry_run: bool = False, batch: int = BATCH) -> Counter:
    """Delete the invitations that ended more than `older_than_days` days ago (an expired one
    counts as ended when its link expired); return how many of each status ("expired" for
    those), or, with `dry_run`, how many would go. Suppressions stay (their link is cleared)."""
    ended = Invitation.objects.ended_before(timezone.now() - timedelta(days=older_than_days))
    if dry_run:
        return Counter(_status_of(status) for status in ended.values_list("status", flat=True).iterator())
    deleted: Counter = Counter()
    while rows := list(ended.values_list("pk", "status")[:batch]):
        with transaction.atomic():
            # Again under the condition: a row requeued since it was read stays.
            ended.filter(pk__in=[pk for pk, _ in rows]).delete()
        deleted.update(_status_of(status) for _, status in rows)
    return deleted


def _status_of(status: str) -> str:
    return "expired" if status == Status.SENT else status


def lock_key() -> str:
    return app_settings.KEY_PREFIX + ":invitations:retention"


def invitations_purge_daily() -> Counter | None:
    """The workers' daily purge under RETENTION_DAYS: runs when no worker of the fleet has run
    it in the last day (or the one that took it failed); None when it was not this one's turn."""
    days = app_settings.RETENTION_DAYS
    client = liveness.client()
    if days is None or not client.set(lock_key(), liveness.worker_process(), nx=True, ex=LOCK_SECONDS):
        return None
    try:
        deleted = invitations_purge(older_than_days=days)
    except Exception:
        try:
            client.delete(lock_key())  # another worker may try again within the hour
        except redis.RedisError as exc:
            logger.debug("retention lock not released: %s", exc)
        raise
    logger.info("retention: deleted %d invitation(s) that ended over %d days ago", deleted.total(), days)
    return deleted
