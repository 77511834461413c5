import os

import pytest
import redis


def require_redis(url: str) -> redis.Redis:
    """A client for the Redis at `url`; skip the test without one, but fail in CI."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI and is unreachable at {url}: {error}")
        pytest.skip(f"Redis unreachable at {url}: {error}")
    return client
