"""Wake-ups on the send-invite channel. The channel may forget them; the database does not."""

import asyncio
import logging
import math
import time
from collections.abc import Iterable
from itertools import chain

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from invitations import live
from invitations.models import Invitation

logger = logging.getLogger(__name__)

SEND_MESSAGE_TYPE = "invitation.send"


def invitations_publish(*, invitation_ids: Iterable[int], announcing: Iterable[Invitation] = ()) -> int:
    """Publish one wake-up per id and return how many went out.

    Never raises: when Redis is down or the channel is full the rest stay pending with no
    publish time, and the worker's sweep publishes them again. The state of `announcing` is
    told to the staff boards first, in the same trip to the event loop.
    """
    ids = list(invitation_ids)
    payloads = [live.invitation_payload(invitation) for invitation in announcing]
    published = async_to_sync(_announce_and_send)(payloads, ids)
    _unpublish(ids[published:])
    return published


def invitations_publish_soon(*, invitation_ids: Iterable[int], announcing: Iterable[Invitation] = ()) -> None:
    """Publish as `invitations_publish` does, without waiting for Redis when it can.

    In a web process the wake-up goes out from the event loop serving requests while the
    request goes on to its response: it does not wait for three Redis round trips, nor hang
    when Redis is slow or down. Nothing is lost if the process dies first: the row is
    in the database and the sweep publishes it. Anywhere else (a shell, a command, a test),
    it publishes at once.
    """
    loop = _Serving.loop
    if loop is None or loop.is_closed() or not loop.is_running():
        invitations_publish(invitation_ids=invitation_ids, announcing=announcing)
        return
    ids = list(invitation_ids)
    payloads = [live.invitation_payload(invitation) for invitation in announcing]
    loop.call_soon_threadsafe(_start_publishing, payloads, ids)


class _Serving:
    """The event loop of the ASGI application, once it has served a connection."""

    loop: asyncio.AbstractEventLoop | None = None
    in_flight: set[asyncio.Task] = set()  # held until done: the loop keeps only weak references


def serving(application):
    """ASGI middleware that remembers the event loop running `application` (myproject/asgi.py)."""

    async def remembering(scope, receive, send):
        _Serving.loop = asyncio.get_running_loop()
        return await application(scope, receive, send)

    return remembering


def _start_publishing(payloads: list[dict], ids: list[int]) -> None:
    task = asyncio.get_running_loop().create_task(_publish_in_background(payloads, ids))
    _Serving.in_flight.add(task)
    task.add_done_callback(_Serving.in_flight.discard)


async def _publish_in_background(payloads: list[dict], ids: list[int]) -> None:
    try:
        published = await _announce_and_send(payloads, ids)
        if published < len(ids):
            await database_sync_to_async(_unpublish)(ids[published:])
    except Exception:  # nobody awaits this task: say so here; the sweep publishes the rest
        logger.exception("publishing invitations %s failed; the sweep will", ids)


def _unpublish(ids: list[int]) -> None:
    """Mark wake-ups that did not go out as never published: the sweep's next round takes them."""
    if ids:
        Invitation.objects.filter(pk__in=ids).update(published_at=None)


def wake_up_ids(message: dict) -> list[int] | None:
    """The invitation ids a wake-up names: `{"id": 42}` or, merged by a worker, `{"ids": [42, 43]}`.
    None when it names none, or names anything but integers."""
    ids = [message["id"]] if "id" in message else message.get("ids")
    if not isinstance(ids, list) or not ids or any(type(pk) is not int for pk in ids):
        return None
    return ids


def merge_wake_ups(messages: list[dict]) -> list[dict]:
    """Several wake-ups as one, so that a consumer claims their invitations in one statement;
    any other message as it came."""
    if len(messages) < 2:
        return messages
    ids, others = [], []
    for message in messages:
        named = wake_up_ids(message) if message.get("type") == SEND_MESSAGE_TYPE else None
        if named:
            ids.extend(named)
        else:
            others.append(message)
    return [{"type": SEND_MESSAGE_TYPE, "ids": ids}, *others] if ids else others


# The waiting messages to take: at most the limit, and no more than a fair share of the
# queue for each of `share` consumers, so a short queue is spread over a worker's consumers.
_TAKE_WAITING = """
local n = math.min(tonumber(ARGV[1]), math.ceil(redis.call('ZCARD', KEYS[1]) / tonumber(ARGV[2])))
if n < 1 then return {} end
return redis.call('ZPOPMIN', KEYS[1], n)
"""


async def take_waiting(layer, channel: str, *, limit: int, share: int = 1) -> list[dict]:
    """Take messages already waiting on `channel` without waiting for more: one round trip
    for the lot, where a receive costs four. Another layer than Redis's or the in-memory
    one gives nothing: its receive() is the only way in."""
    if limit < 1:
        return []
    if isinstance(layer, RedisChannelLayer):
        popped = await layer.connection(0).eval(_TAKE_WAITING, 1, layer.prefix + channel, limit, share)
        return [layer.deserialize(member) for member in popped[::2]]  # member, score, member, …
    if isinstance(layer, InMemoryChannelLayer) and channel in layer.channels:
        waiting = layer.channels[channel]
        count = min(limit, math.ceil(waiting.qsize() / share))
        return [waiting.get_nowait()[1] for _ in range(count)]
    return []


def channel_room() -> int:
    """How many more wake-ups the send-invite channel takes before it is full."""
    return async_to_sync(_channel_room)()


async def _channel_room() -> int:
    layer = get_channel_layer()
    channel = settings.INVITATION_CHANNEL
    if isinstance(layer, RedisChannelLayer):
        depth = await layer.connection(0).zcount(layer.prefix + channel, "-inf", "+inf")
    elif isinstance(layer, InMemoryChannelLayer):
        depth = layer.channels[channel].qsize() if channel in layer.channels else 0
    else:
        depth = 0
    return max(layer.get_capacity(channel) - depth, 0)


async def _announce_and_send(payloads: list[dict], ids: list[int]) -> int:
    if payloads:  # before the wake-up: a board must not hear "sending" before "pending"
        await live.send_payloads(payloads)
    return await _send_all(ids)


async def _send_all(ids: list[int]) -> int:
    layer, channel = get_channel_layer(), settings.INVITATION_CHANNEL
    messages = [{"type": SEND_MESSAGE_TYPE, "id": invitation_id} for invitation_id in ids]
    published = 0
    try:
        if isinstance(layer, RedisChannelLayer):
            for start in range(0, len(messages), _SEND_CHUNK):
                chunk = messages[start : start + _SEND_CHUNK]
                taken = await _send_many(layer, channel, chunk)
                published += taken
                if taken < len(chunk):
                    raise ChannelFull(channel)
        else:
            for message in messages:
                await layer.send(channel, message)
                published += 1
    except Exception as exc:
        logger.warning(
            "could not publish %d invitation(s), the sweep will: %s: %s",
            len(ids) - published,
            type(exc).__name__,
            exc,
        )
    return published


# What RedisChannelLayer.send does (drop expired messages, refuse past capacity, add, renew
# the key's expiry), for many messages in one round trip instead of four per message.
# ARGV: now, expiry, capacity, then a score and a member for each message.
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
_SEND_CHUNK = 500


async def _send_many(layer: RedisChannelLayer, channel: str, messages: list[dict]) -> int:
    """Add `messages` to the channel in order, as far as its capacity allows; return how many."""
    now = time.time()
    # A score a microsecond apart for each keeps them in order (receives take the lowest).
    # Passed as exact decimal strings: Lua would round a number to 14 digits.
    scored = [(repr(now + index * 1e-6), layer.serialize(message)) for index, message in enumerate(messages)]
    args = [repr(now), int(layer.expiry), layer.get_capacity(channel), *chain.from_iterable(scored)]
    return await layer.connection(0).eval(_SEND_MANY, 1, layer.prefix + channel, *args)
