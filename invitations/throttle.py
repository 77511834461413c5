"""The pace of the whole fleet: INVITATION_SEND_RATE, and a provider's "too many" pause.

The rate is a moving window kept in Redis by `limits` (a well-kept limiter with a Lua script
per hit): at most N mails in any window, across every worker process on every host; after
a quiet spell up to N may go at once, which is the burst. When a provider answers "too many",
the worker that heard it pauses the whole fleet through one Redis key instead of each worker
discovering it by itself.
"""

import functools
import logging
import re
import time
from collections.abc import Callable

import redis
from django.conf import settings
from limits import RateLimitItemPerHour, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

logger = logging.getLogger(__name__)
PER = {"s": RateLimitItemPerSecond, "m": RateLimitItemPerMinute, "h": RateLimitItemPerHour}
RATE = re.compile(r"\s*(\d+)\s*/\s*([smh])\s*")
LONGEST_NAP = 0.25  # a waiting consumer looks at `stopping` at least this often


def parse_rate(text: str):
    """`14/s`, `600/m` or `3000/h` as a `limits` item; ValueError for anything else."""
    match = RATE.fullmatch(text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"INVITATION_SEND_RATE must look like 14/s, 600/m or 3000/h, not {text!r}")
    return PER[match.group(2)](int(match.group(1)))


class SendGate:
    """Lets a consumer send one more mail when the fleet's rate has room and no pause holds."""

    def __init__(self, *, rate: str | None, redis_url: str, prefix: str) -> None:
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        self.pause_key = f"{prefix}:invitations:pause"
        self.limit = parse_rate(rate) if rate else None
        pool, key_prefix = self.redis.connection_pool, f"{prefix}:invitations:rate"
        storage = RedisStorage(redis_url, connection_pool=pool, key_prefix=key_prefix) if rate else None
        self.limiter = MovingWindowRateLimiter(storage) if storage else None

    @property
    def limited(self) -> bool:
        return self.limit is not None

    def wait_turn(self, stopping: Callable[[], bool]) -> bool:
        """Block until one mail may go (counted against the rate); False if `stopping()` first.
        Holds nothing while it waits: callers claim their invitation only after it returns."""
        while not stopping():
            try:
                wait = self._pause_left()
                if wait <= 0 and (self.limiter is None or self.limiter.hit(self.limit, "send")):
                    return True
                if wait <= 0:
                    wait = self.limiter.get_window_stats(self.limit, "send").reset_time - time.time()
            except redis.RedisError as exc:
                if self.limiter is None:  # only a pause was asked about: send rather than stall
                    return True
                logger.warning("send rate unknown (%r); waiting for Redis to keep it", exc)
                wait = 1.0
            time.sleep(min(max(wait, 0.005), LONGEST_NAP))
        return False

    def pause(self, seconds: float) -> None:
        """Hold every worker's next mail for `seconds` (a longer pause already set stays)."""
        milliseconds = max(int(seconds * 1000), 1)
        try:
            if (self.redis.pttl(self.pause_key) or 0) < milliseconds:
                self.redis.set(self.pause_key, "1", px=milliseconds)
        except redis.RedisError as exc:
            logger.warning("could not pause the fleet for %.1f s: %r", seconds, exc)
        logger.warning("provider said too many: every worker pauses for %.1f s", seconds)

    def close(self) -> None:
        self.redis.connection_pool.disconnect()  # redis-py connects again if used after

    def _pause_left(self) -> float:
        return max(self.redis.pttl(self.pause_key) or 0, 0) / 1000


@functools.cache
def _gate(rate: str | None, redis_url: str, prefix: str) -> SendGate:
    return SendGate(rate=rate, redis_url=redis_url, prefix=prefix)


def send_gate() -> SendGate:
    """This process's gate (thread-safe: redis-py pools its connections)."""
    return _gate(settings.INVITATION_SEND_RATE, settings.REDIS_URL, settings.CHANNEL_PREFIX)
