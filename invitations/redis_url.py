"""REDIS_URL as clients and channel-layer hosts, for one Redis or a master found by Sentinel.

`redis://`, `rediss://` and `unix://` are redis-py's own URLs. Sentinel has none there, so
`redis+sentinel://[:password@]host1:26379,host2:26379/<master-name>/<db>` is read here: every
client made from it asks the sentinels for the current master whenever it (re)connects, and
drops a connection whose server has become a replica, so all of them follow a failover.
`?sentinel_password=` is for sentinels that require a password of their own.
"""

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
from django.core.exceptions import ImproperlyConfigured
from redis import asyncio as aioredis

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
HOST_PORT = re.compile(r"(?P<host>\[[0-9a-fA-F:.]+\]|[^:\[\]]+)(?::(?P<port>\d+))?")
SENTINEL_TIMEOUT = 2  # seconds; a sentinel that is down must not hold up finding the master


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: list[tuple[str, int]]
    master_name: str
    db: int = 0
    master_options: dict = field(default_factory=dict)  # password, username of the master
    sentinel_options: dict = field(default_factory=dict)


def parse_sentinel_url(url: str) -> SentinelTarget:
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    path = [segment for segment in parts.path.split("/") if segment]
    if not hosts or not 1 <= len(path) <= 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ImproperlyConfigured(
            f"REDIS_URL {_without_password(url)!r}: a Sentinel URL looks like "
            "redis+sentinel://host1:26379,host2:26379/<master-name>/<db>"
        )
    sentinels = []
    for host in hosts.split(","):
        match = HOST_PORT.fullmatch(host)
        if not match:
            raise ImproperlyConfigured(f"REDIS_URL: the sentinel {host!r} is not host or host:port")
        sentinels.append((match["host"].strip("[]"), int(match["port"] or SENTINEL_PORT)))
    master_options = {"password": unquote(parts.password)} if parts.password else {}
    if parts.username:
        master_options["username"] = unquote(parts.username)
    query = parse_qs(parts.query)
    sentinel_options = {"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT}
    if "sentinel_password" in query:
        sentinel_options["password"] = query["sentinel_password"][0]
    return SentinelTarget(
        sentinels, unquote(path[0]), int(path[1]) if len(path) == 2 else 0, master_options, sentinel_options
    )


def is_sentinel(url: str) -> bool:
    return urlsplit(url).scheme == SENTINEL_SCHEME


def redis_client(url: str, **options) -> redis.Redis:
    """A redis-py client for REDIS_URL; `options` are connection options (socket_timeout, …).
    Keep it for the life of the process: a Sentinel client holds connections to the sentinels
    that closing it leaves open."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **options)
    target = parse_sentinel_url(url)
    sentinel = redis.Sentinel(target.sentinels, sentinel_kwargs=target.sentinel_options)
    return sentinel.master_for(target.master_name, db=target.db, **target.master_options, **options)


@contextlib.asynccontextmanager
async def async_redis(url: str, **options) -> AsyncIterator[aioredis.Redis]:
    """An asyncio client for the length of a block; closed after it, with the connections it
    made to the sentinels (which closing a master's client leaves open: redis-py#3201)."""
    if not is_sentinel(url):
        async with aioredis.from_url(url, **options) as client:
            yield client
        return
    target = parse_sentinel_url(url)
    sentinel = aioredis.Sentinel(target.sentinels, sentinel_kwargs=target.sentinel_options)
    client = sentinel.master_for(target.master_name, db=target.db, **target.master_options, **options)
    async with sentinel, client:
        yield client


def channel_layer_host(url: str, **options) -> dict:
    """One entry of channels-redis' "hosts", which takes Sentinel as master_name + sentinels."""
    if not is_sentinel(url):
        return {"address": url, **options}
    target = parse_sentinel_url(url)
    return {
        "master_name": target.master_name,
        "sentinels": target.sentinels,
        "sentinel_kwargs": target.sentinel_options,
        "db": target.db,
        **target.master_options,
        **options,
    }


def _without_password(url: str) -> str:
    """`url` for an error message: the master's password (user info) and any password in the
    query (`sentinel_password`, `password`) as ***."""
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    netloc = f"***@{hosts}" if "@" in parts.netloc else hosts
    query = [
        (name, "***" if "password" in name.lower() else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), parts.fragment))
