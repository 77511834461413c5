"""The pace of the whole fleet: INVITATION_SEND_RATE, and a provider's "too many" pause.

One Redis script per mail, with Redis' own clock, so every worker process on every host
shares it: the provider's pause first, then the rate as a generic cell rate (GCRA): mails
spaced 1/N apart, at most BURST (one) of them early. Not `limits`: its fixed, moving and sliding
windows let a whole window's allowance leave at once after a quiet spell, and a provider
counting per second then sees up to twice the rate (measured: 29 in one second at 20/s).
When a provider answers "too many", the worker that heard it pauses the whole fleet through
one key instead of each worker discovering it by itself.
"""

import functools
import logging
import re
import time
import uuid
from collections.abc import Callable

import redis

from invitations.conf import app_settings
from invitations.redis_url import redis_client

logger = logging.getLogger(__name__)
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
RATE = re.compile(r"\s*(\d+)\s*/\s*([smh])\s*")
BURST = 1  # mails that may go ahead of their slot: one, so no second sees more than N + 1
LONGEST_NAP = 0.25  # a waiting consumer looks at `stopping` at least this often

# KEYS: the rate's next slot (µs), the pause, the priority lane's waiters (a sorted set: waiter,
# scored by when it lapses). ARGV: µs between mails (0: no rate), µs of burst, 1 for a mail of
# the priority lane, the waiter's token. Returns 0 when the turn is taken, else the µs to wait.
# While a lane mail waits, no other takes a turn: the lane jumps the turns as it jumps the
# channel. (Without it the turn went to whichever waiter polled first: with 18 consumers
# waiting at 20/s a newcomer waited 0.6 s at the median and up to 3.3 s.)
TURN = """
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then return pause * 1000 end
local interval = tonumber(ARGV[1])
if interval == 0 then return 0 end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local ahead = ARGV[3] == '1'
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if not ahead and redis.call('ZCARD', KEYS[3]) > 0 then return math.floor(interval) end
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now)
local wait = slot - tonumber(ARGV[2]) - now
if wait > 0 then
    if ahead then
        redis.call('ZADD', KEYS[3], now + wait + 1000000, ARGV[4])
        local keep = math.ceil(wait / 1000) + 1000
        if redis.call('PTTL', KEYS[3]) < keep then redis.call('PEXPIRE', KEYS[3], keep) end
    end
    return math.floor(wait)
end
redis.call('ZREM', KEYS[3], ARGV[4])
local keep = math.ceil((slot - now) / 1000) + 60000
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval), 'PX', keep)
return 0
"""


def pause_key(prefix: str) -> str:
    """The key whose time to live is the provider's pause of the whole fleet."""
    return f"{prefix}:invitations:pause"


def parse_rate(text: str) -> float:
    """`14/s`, `600/m` or `3000/h` as the microseconds between two mails; ValueError otherwise."""
    match = RATE.fullmatch(text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"INVITATION_SEND_RATE must look like 14/s, 600/m or 3000/h, not {text!r}")
    return UNIT_SECONDS[match.group(2)] * 1_000_000 / int(match.group(1))


class SendGate:
    """Lets a consumer send one more mail when the fleet's rate has room and no pause holds."""

    def __init__(self, *, rate: str | None, redis_url: str, prefix: str) -> None:
        self.redis = redis_client(redis_url, socket_timeout=5, socket_connect_timeout=2)
        self.keys = [f"{prefix}:invitations:rate", pause_key(prefix), f"{prefix}:invitations:ahead"]
        self.interval = parse_rate(rate) if rate else 0.0
        self.turn = self.redis.register_script(TURN)

    @property
    def limited(self) -> bool:
        return self.interval > 0

    def wait_turn(self, stopping: Callable[[], bool], *, ahead: bool = False) -> bool:
        """Block until one mail may go (counted against the rate); False if `stopping()` first.
        A mail of the priority lane (`ahead`) takes the next turn before any other waiting.
        Holds nothing while it waits: callers claim their invitation only after it returns."""
        args = [self.interval, self.interval * BURST, int(ahead), uuid.uuid4().hex]
        while not stopping():
            try:
                wait = self.turn(keys=self.keys, args=args) / 1_000_000
            except redis.RedisError as exc:
                if not self.limited:  # only a pause was asked about: send rather than stall
                    return True
                logger.warning("send rate unknown (%r); waiting for Redis to keep it", exc)
                wait = 1.0
            if wait <= 0:
                return True
            time.sleep(min(wait, LONGEST_NAP))
        return False

    def pause(self, seconds: float) -> None:
        """Hold every worker's next mail for `seconds` (a longer pause already set stays)."""
        milliseconds = max(int(seconds * 1000), 1)
        try:
            if (self.redis.pttl(self.keys[1]) or 0) < milliseconds:
                self.redis.set(self.keys[1], "1", px=milliseconds)
        except redis.RedisError as exc:
            logger.warning("could not pause the fleet for %.1f s: %r", seconds, exc)
        logger.warning("provider said too many: every worker pauses for %.1f s", seconds)

    def close(self) -> None:
        self.redis.connection_pool.disconnect()  # redis-py connects again if used after


@functools.cache
def _gate(rate: str | None, redis_url: str, prefix: str) -> SendGate:
    return SendGate(rate=rate, redis_url=redis_url, prefix=prefix)


def send_gate() -> SendGate:
    """This process's gate (thread-safe: redis-py pools its connections)."""
    return _gate(app_settings.SEND_RATE, app_settings.REDIS_URL, app_settings.KEY_PREFIX)
