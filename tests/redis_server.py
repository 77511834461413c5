import pytest
import redis


def require_redis(url: str) -> redis.Redis:
    """A client for the Redis at `url`; without one the test fails (a skip would prove nothing)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis is required and is unreachable at {url}: {error}")
    return client
