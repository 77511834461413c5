"""Which worker processes are alive, told through Redis: the one home of the protocol.

Every HEARTBEAT_INTERVAL seconds each worker process writes the fleet's heartbeat (the time;
/healthz calls the workers missing when the freshest beat is older than HEARTBEAT_STALE) and a
key of its own, `<prefix>:invitations:alive:<host>:<pid>`, that lives ALIVE_FOR seconds. Its
consumers' claims carry "<host>:<pid>:<consumer>", so the sweep releases the claims of a
process whose key has gone: a killed worker's batch is sent again within about 15 s.
"""

import functools
import os
import socket
import time
from collections.abc import Iterable

import redis

from invitations.conf import app_settings
from invitations.redis_url import redis_client

HEARTBEAT_INTERVAL = 3.0
HEARTBEAT_STALE = 30.0
ALIVE_FOR = 3 * HEARTBEAT_INTERVAL


def worker_process() -> str:
    """This process's name in the claims its consumers hold ("<host>:<pid>:<consumer>")."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def heartbeat_key() -> str:
    return app_settings.KEY_PREFIX + ":invitations:heartbeat"


def _alive_key(process: str) -> str:
    return f"{app_settings.KEY_PREFIX}:invitations:alive:{process}"


async def beat(client) -> None:
    """One beat of this process, on an asyncio client."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(heartbeat_key(), time.time(), ex=300)
        pipe.set(_alive_key(worker_process()), 1, ex=int(ALIVE_FOR))
        await pipe.execute()


def heartbeat_age(beat_value: bytes | None) -> float | None:
    """Seconds since the freshest beat, from the value of heartbeat_key(); None if none."""
    return round(time.time() - float(beat_value), 1) if beat_value else None


def workers_alive() -> int:
    """How many worker processes say they are alive: their keys (each lives ALIVE_FOR seconds
    after its last beat). Raises RedisError when Redis cannot tell."""
    return sum(1 for _ in client().scan_iter(match=_alive_key("*"), count=1000))


def silent_claimants(claimants: Iterable[str]) -> set[str]:
    """The claimants whose worker process no longer says it is alive; none when Redis cannot
    tell (the claim timeout is the backstop)."""
    processes: dict[str, list[str]] = {}
    for claimant in claimants:
        processes.setdefault(claimant.rsplit(":", 1)[0], []).append(claimant)
    if not processes:
        return set()
    try:
        with client().pipeline() as pipe:
            for process in processes:
                pipe.exists(_alive_key(process))
            alive = pipe.execute()
    except redis.RedisError:
        return set()
    silent = [names for names, up in zip(processes.values(), alive, strict=True) if not up]
    return {claimant for names in silent for claimant in names}


def client() -> redis.Redis:
    """This process's client for the health check and the sweep, which ask every few seconds:
    not a new connection each time (redis-py pools and reconnects, and follows a failover)."""
    return _client(app_settings.REDIS_URL)


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis_client(url, socket_timeout=2, socket_connect_timeout=2)
