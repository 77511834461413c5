"""Wake-ups on the send-invite channel. The channel may forget them; the database does not."""

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
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
    told to the staff boards first, in the same trip to the event loop (one hop, not two, in
    the request that creates an invitation).
    """
    ids = list(invitation_ids)
    payloads = [live.invitation_payload(invitation) for invitation in announcing]
    published = async_to_sync(_announce_and_send)(payloads, ids)
    if published < len(ids):
        Invitation.objects.filter(pk__in=ids[published:]).update(published_at=None)
    return published


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
    layer = get_channel_layer()
    for count, invitation_id in enumerate(ids):
        try:
            await layer.send(settings.INVITATION_CHANNEL, {"type": SEND_MESSAGE_TYPE, "id": invitation_id})
        except Exception as exc:
            logger.warning(
                "could not publish %d invitation(s), the sweep will: %s: %s",
                len(ids) - count,
                type(exc).__name__,
                exc,
            )
            return count
    return len(ids)
