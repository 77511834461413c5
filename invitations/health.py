"""Health of the delivery pipeline, for /healthz and `manage.py invitations_status`."""

import redis
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from invitations import batches, liveness, throttle
from invitations.conf import app_settings
from invitations.models import Invitation

# What Django raises when the database cannot be reached (or broke off mid-way).
DATABASE_AWAY = (OperationalError, InterfaceError)

Status = Invitation.Status


def report() -> dict:
    """Database, Redis, worker heartbeat and queue figures; "healthy" when all three answer."""
    result = {**_queue_figures(), **_redis_figures()}
    age = result["worker_heartbeat_age"]
    result["worker"] = "ok" if age is not None and age <= liveness.HEARTBEAT_STALE else "missing"
    result["healthy"] = result["database"] == result["redis"] == result["worker"] == "ok"
    return result


def _queue_figures() -> dict:
    try:
        figures = Invitation.objects.queue_figures()
    except Exception:
        return {"database": "unavailable", "pending": None, "failed": None, "oldest_pending_age": None}
    oldest = figures.pop("oldest_pending")
    figures["oldest_pending_age"] = round((timezone.now() - oldest).total_seconds(), 1) if oldest else None
    return {"database": "ok", **figures}


def _redis_figures() -> dict:
    try:
        with liveness.client().pipeline() as pipe:
            channel_key = batches.channel_key(app_settings.KEY_PREFIX, app_settings.CHANNEL)
            pipe.get(liveness.heartbeat_key()).zcard(channel_key).pttl(_pause_key())
            beat, depth, pause = pipe.execute()
    except redis.RedisError:
        return {
            "redis": "unavailable",
            "worker_heartbeat_age": None,
            "queue_depth": None,
            "provider_pause": None,
        }
    age = liveness.heartbeat_age(beat)
    return {
        "redis": "ok",
        "worker_heartbeat_age": age,
        "queue_depth": depth,
        "provider_pause": _seconds(pause),
    }


def provider_pause() -> float | None:
    """Seconds left of the pause a provider's "too many" put on every worker; None when no pause
    holds or Redis cannot tell. A paused fleet is healthy: mail waits, nothing is lost."""
    try:
        return _seconds(liveness.client().pttl(_pause_key()))
    except redis.RedisError:
        return None


def _pause_key() -> str:
    return throttle.pause_key(app_settings.KEY_PREFIX)


def _seconds(pttl: int) -> float | None:
    """A PTTL in seconds; None for a key that is missing (-2) or has no expiry (-1)."""
    return round(pttl / 1000, 1) if pttl > 0 else None
