"""Taking the waiting wake-ups off a real Redis channel in one round trip."""

import uuid

import pytest
from asgiref.sync import async_to_sync
from channels_redis.core import RedisChannelLayer

from invitations import batches
from tests.integration.conftest import REDIS_URL

CHANNEL = "send-invite"


@pytest.fixture
def layer(redis_client):
    prefix = f"it{uuid.uuid4().hex[:10]}"
    yield RedisChannelLayer(hosts=[{"address": REDIS_URL, "socket_timeout": 15}], prefix=prefix)
    keys = list(redis_client.scan_iter(match=f"{prefix}*"))
    if keys:
        redis_client.delete(*keys)


@async_to_sync
async def publish_then(layer, count: int, *takes: dict) -> list[list[dict]]:
    for pk in range(1, count + 1):
        await layer.send(CHANNEL, {"type": "invitation.send", "id": pk})
    try:
        return [await batches.take_waiting(layer, CHANNEL, **take) for take in takes]
    finally:
        await layer.close_pools()


def ids(messages: list[dict]) -> list[int]:
    return [message["id"] for message in messages]


def test_take_waiting_takes_the_oldest_up_to_the_limit_and_leaves_the_rest(layer):
    first, rest, nothing = publish_then(layer, 5, {"limit": 3}, {"limit": 10}, {"limit": 10})

    assert (ids(first), ids(rest), nothing) == ([1, 2, 3], [4, 5], [])


def test_take_waiting_takes_a_fair_share_for_each_consumer(layer):
    takes = publish_then(layer, 7, *[{"limit": 10, "share": 3}] * 4)

    # ceil(7 / 3), ceil(4 / 3), ceil(2 / 3), and nothing left
    assert [ids(take) for take in takes] == [[1, 2, 3], [4, 5], [6], [7]]


def test_what_take_waiting_took_is_not_received_again(layer):
    @async_to_sync
    async def take_then_receive():
        for pk in (1, 2):
            await layer.send(CHANNEL, {"type": "invitation.send", "id": pk})
        taken = await batches.take_waiting(layer, CHANNEL, limit=1)
        received = await layer.receive(CHANNEL)
        await layer.close_pools()
        return ids(taken), received["id"]

    assert take_then_receive() == ([1], 2)


@pytest.fixture
def small_layer(layer):
    return RedisChannelLayer(hosts=layer.hosts, prefix=layer.prefix, channel_capacity={CHANNEL: 3})


def test_many_wake_ups_go_out_in_one_round_trip_in_order_and_the_stock_receive_reads_them(layer):
    @async_to_sync
    async def send_many_then_receive():
        messages = [{"type": "invitation.send", "id": pk} for pk in range(1, 51)]
        published = await batches.send_many(layer, CHANNEL, messages)
        received = [await layer.receive(CHANNEL) for _ in messages]
        await layer.close_pools()
        return published, ids(received)

    assert send_many_then_receive() == (50, list(range(1, 51)))


def test_many_wake_ups_stop_at_the_channel_capacity(small_layer):
    @async_to_sync
    async def send_many_twice():
        messages = [{"type": "invitation.send", "id": pk} for pk in range(1, 6)]
        published = [await batches.send_many(small_layer, CHANNEL, messages) for _ in range(2)]
        waiting = await batches.take_waiting(small_layer, CHANNEL, limit=10)
        await small_layer.close_pools()
        return published, ids(waiting)

    assert send_many_twice() == ([3, 0], [1, 2, 3])
