"""Many wake-ups in one Redis round trip, where channels-redis spends four per message.

Both scripts work on channels-redis' own storage (a sorted set per channel, scored by send
time) exactly as its send() and receive() do, so messages put or taken here are the ones
those see. Measured (`make bench`, scenario 6 and 2): publishing 10,000 wake-ups runs at
~100,000/s against ~290/s with one send() each, and a worker taking its batch in one round
trip instead of a receive() per message is what puts it at 3.5x Celery on a backlog.
tests/integration/test_queue_redis.py pins both to channels-redis' behaviour.
"""

import math
import time
from itertools import chain

from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer


def channel_key(prefix: str, channel: str) -> str:
    """Where channels-redis keeps a channel's messages: a sorted set under its prefix."""
    return prefix + channel


# The waiting messages to take: at most the limit, and no more than a fair share of the
# queue for each of `share` consumers, so a short queue is spread over a worker's consumers.
_TAKE_WAITING = """
local n = math.min(tonumber(ARGV[1]), math.ceil(redis.call('ZCARD', KEYS[1]) / tonumber(ARGV[2])))
if n < 1 then return {} end
return redis.call('ZPOPMIN', KEYS[1], n)
"""


async def take_waiting(layer, channel: str, *, limit: int, share: int = 1) -> list[dict]:
    """Take messages already waiting on `channel` without waiting for more. Another layer
    than Redis's or the in-memory one gives nothing: its receive() is the only way in."""
    if limit < 1:
        return []
    if isinstance(layer, RedisChannelLayer):
        popped = await layer.connection(0).eval(
            _TAKE_WAITING, 1, channel_key(layer.prefix, channel), limit, share
        )
        return [layer.deserialize(member) for member in popped[::2]]  # member, score, member, …
    if isinstance(layer, InMemoryChannelLayer) and channel in layer.channels:
        waiting = layer.channels[channel]
        return [waiting.get_nowait()[1] for _ in range(min(limit, math.ceil(waiting.qsize() / share)))]
    return []


async def depth(layer, channel: str) -> int:
    """Messages waiting on `channel` (0 for a layer that cannot tell)."""
    if isinstance(layer, RedisChannelLayer):
        return await layer.connection(0).zcard(channel_key(layer.prefix, channel))
    if isinstance(layer, InMemoryChannelLayer) and channel in layer.channels:
        return layer.channels[channel].qsize()
    return 0


# What RedisChannelLayer.send does (drop expired messages, refuse past capacity, add, renew
# the key's expiry), for many messages. ARGV: now, expiry, capacity, then score and member pairs.
_SEND_MANY = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, tonumber(ARGV[1]) - tonumber(ARGV[2]))
local room = tonumber(ARGV[3]) - redis.call('ZCARD', KEYS[1])
local n = math.min(room, (#ARGV - 3) / 2)
for i = 1, n do
    redis.call('ZADD', KEYS[1], ARGV[2 + 2 * i], ARGV[3 + 2 * i])
end
if n > 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return math.max(n, 0)
"""
SEND_CHUNK = 500


async def send_many(
    layer: RedisChannelLayer, channel: str, messages: list[dict], *, ahead: bool = False
) -> int:
    """Add `messages` to the channel in order, as far as its capacity allows; return how many.

    `ahead`: the priority lane. Receives take the lowest score first, so these are scored as if
    sent half the expiry ago: they go before everything sent since, a bulk backlog included,
    and still live for half the expiry (the sweep re-drives any that expire)."""
    now = time.time()
    start = now - layer.expiry / 2 if ahead else now
    # A score a microsecond apart for each keeps them in order. Passed as exact decimal
    # strings: Lua would round a number to 14 digits.
    scored = [
        (repr(start + index * 1e-6), layer.serialize(message)) for index, message in enumerate(messages)
    ]
    args = [repr(now), int(layer.expiry), layer.get_capacity(channel), *chain.from_iterable(scored)]
    return await layer.connection(0).eval(_SEND_MANY, 1, channel_key(layer.prefix, channel), *args)
