"""Health of the delivery pipeline, for /healthz and `manage.py invitations_status`."""

import functools
import os
import socket
import time
from collections.abc import Iterable

import redis
from django.db import InterfaceError, OperationalError
from django.db.models import Count, Min, Q
from django.utils import timezone

from invitations import conf, throttle
from invitations.conf import app_settings
from invitations.models import Invitation
from invitations.redis_url import redis_client

# What Django raises when the database cannot be reached (or broke off mid-way).
DATABASE_AWAY = (OperationalError, InterfaceError)

Status = Invitation.Status


def report() -> dict:
    """Database, Redis, worker heartbeat and queue figures; "healthy" when all three answer."""
    result = {**_queue_figures(), **_redis_figures()}
    age = result["worker_heartbeat_age"]
    result["worker"] = "ok" if age is not None and age <= conf.HEARTBEAT_STALE else "missing"
    result["healthy"] = result["database"] == result["redis"] == result["worker"] == "ok"
    return result


def _queue_figures() -> dict:
    try:
        figures = Invitation.objects.aggregate(
            pending=Count("pk", filter=Q(status__in=[Status.PENDING, Status.SENDING])),
            failed=Count("pk", filter=Q(status=Status.FAILED)),
            oldest_pending=Min("created", filter=Q(status__in=[Status.PENDING, Status.SENDING])),
        )
    except Exception:
        return {"database": "unavailable", "pending": None, "failed": None, "oldest_pending_age": None}
    oldest = figures.pop("oldest_pending")
    figures["oldest_pending_age"] = round((timezone.now() - oldest).total_seconds(), 1) if oldest else None
    return {"database": "ok", **figures}


def _redis_figures() -> dict:
    try:
        with _client(app_settings.REDIS_URL).pipeline() as pipe:
            channel_key = app_settings.KEY_PREFIX + app_settings.CHANNEL
            pipe.get(app_settings.HEARTBEAT_KEY).zcard(channel_key).pttl(_pause_key())
            beat, depth, pause = pipe.execute()
    except redis.RedisError:
        return {
            "redis": "unavailable",
            "worker_heartbeat_age": None,
            "queue_depth": None,
            "provider_pause": None,
        }
    age = round(time.time() - float(beat), 1) if beat else None
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
        return _seconds(_client(app_settings.REDIS_URL).pttl(_pause_key()))
    except redis.RedisError:
        return None


def _pause_key() -> str:
    return throttle.pause_key(app_settings.KEY_PREFIX)


def _seconds(pttl: int) -> float | None:
    """A PTTL in seconds; None for a key that is missing (-2) or has no expiry (-1)."""
    return round(pttl / 1000, 1) if pttl > 0 else None


def worker_process() -> str:
    """This process's name in the claims its consumers hold ("<host>:<pid>:<consumer>")."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def silent_claimants(claimants: Iterable[str]) -> set[str]:
    """The claimants whose worker process no longer says it is alive; none when Redis cannot
    tell (the claim timeout is the backstop)."""
    processes: dict[str, list[str]] = {}
    for claimant in claimants:
        processes.setdefault(claimant.rsplit(":", 1)[0], []).append(claimant)
    if not processes:
        return set()
    try:
        with _client(app_settings.REDIS_URL).pipeline() as pipe:
            for process in processes:
                pipe.exists(app_settings.ALIVE_PREFIX + process)
            alive = pipe.execute()
    except redis.RedisError:
        return set()
    silent = [names for names, up in zip(processes.values(), alive, strict=True) if not up]
    return {claimant for names in silent for claimant in names}


@functools.cache
def _client(url: str) -> redis.Redis:
    """One client per process for the health check and the sweep, which ask every few seconds:
    not a new connection each time (redis-py pools and reconnects, and follows a failover)."""
    return redis_client(url, socket_timeout=2, socket_connect_timeout=2)
