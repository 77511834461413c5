"""Wake-ups on the send-invite channel. The channel may forget them; the database does not."""

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer

from invitations import background, batches, live
from invitations.conf import app_settings
from invitations.messages import wake_up
from invitations.models import Invitation

logger = logging.getLogger(__name__)


def invitations_publish(
    *, invitation_ids: Iterable[int], announcing: Iterable[Invitation] = (), ahead: bool = False
) -> int:
    """Publish one wake-up per id, after telling the boards the state of `announcing`; return
    how many went out. Never raises: what Redis refused waits, unpublished, for the sweep."""
    ids = list(invitation_ids)
    payloads = [live.invitation_payload(invitation) for invitation in announcing]
    published = async_to_sync(_announce_and_send)(payloads, ids, ahead)
    _unpublish(ids[published:])
    return published


def invitations_publish_soon(
    *, invitation_ids: Iterable[int], announcing: Iterable[Invitation] = (), ahead: bool = False
) -> None:
    """Publish as `invitations_publish` does; in a web process, from its event loop while the
    request goes on to its response, which then waits neither for Redis nor for its timeouts.
    A wake-up lost with a dying process is the sweep's. Elsewhere it publishes at once."""
    ids = list(invitation_ids)
    payloads = [live.invitation_payload(invitation) for invitation in announcing]
    if not background.web.start(_publish_in_background, payloads, ids, ahead):
        invitations_publish(invitation_ids=ids, announcing=announcing, ahead=ahead)


async def _publish_in_background(payloads: list[dict], ids: list[int], ahead: bool) -> None:
    try:
        published = await _announce_and_send(payloads, ids, ahead)
        if published < len(ids):
            await database_sync_to_async(_unpublish)(ids[published:])
    except Exception:  # nobody awaits this task: say so here; the sweep publishes the rest
        logger.exception("publishing invitations %s failed; the sweep will", ids)


def _unpublish(ids: list[int]) -> None:
    """Mark wake-ups that did not go out as never published: the sweep's next round takes them."""
    if ids:
        Invitation.objects.unpublish(ids)


def channel_room() -> int:
    """How many more wake-ups the send-invite channel takes before it is full."""
    layer, channel = get_channel_layer(), app_settings.CHANNEL
    return max(layer.get_capacity(channel) - async_to_sync(batches.depth)(layer, channel), 0)


def channel_room_or_none() -> int | None:
    """channel_room(), or None when the channel layer cannot be reached."""
    try:
        return channel_room()
    except Exception as exc:  # the layer's errors are its own (redis-py's, OSError, …)
        logger.warning("could not ask the channel for its room, the sweep will publish: %r", exc)
        return None


async def _announce_and_send(payloads: list[dict], ids: list[int], ahead: bool) -> int:
    if payloads:  # before the wake-up: a board must not hear "sending" before "pending"
        await live.send_payloads(payloads)
    return await _send_all(ids, ahead)


async def _send_all(ids: list[int], ahead: bool) -> int:
    layer, channel = get_channel_layer(), app_settings.CHANNEL
    messages = [wake_up(invitation_id, ahead=ahead) for invitation_id in ids]
    published = 0
    try:
        if isinstance(layer, RedisChannelLayer):
            for start in range(0, len(messages), batches.SEND_CHUNK):
                chunk = messages[start : start + batches.SEND_CHUNK]
                taken = await batches.send_many(layer, channel, chunk, ahead=ahead)
                published += taken
                if taken < len(chunk):
                    raise ChannelFull(channel)
        else:
            for message in messages:
                await layer.send(channel, message)
                published += 1
    except Exception as exc:
        logger.warning("could not publish %d invitation(s), the sweep will: %r", len(ids) - published, exc)
    return published
