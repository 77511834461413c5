import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def require_redis(url: str) -> redis.Redis:
    """A client for the Redis at `url`; without one the test fails (a skip would prove nothing)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis is required and is unreachable at {url}: {error}")
    return client


@async_to_sync
async def wake_ups_waiting(count: int) -> None:
    """Put `count` wake-ups on the send-invite channel of the test's (real Redis) layer."""
    layer = get_channel_layer()
    for n in range(count):
        await layer.send("send-invite", {"type": "invitation.send", "id": n})
    await layer.close_pools()
