"""REDIS_URL for one Redis or for Sentinel: what the channel layer and the clients are given."""

import asyncio

import pytest
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelPool
from redis.sentinel import SentinelConnectionPool

from invitations.redis_url import async_redis, channel_layer_host, parse_sentinel_url, redis_client


def test_a_plain_url_goes_to_redis_py_and_channels_redis_as_it_is():
    assert channel_layer_host("redis://cache:6380/2", socket_timeout=15) == {
        "address": "redis://cache:6380/2",
        "socket_timeout": 15,
    }
    client = redis_client("redis://cache:6380/2", socket_timeout=3)
    assert client.connection_pool.connection_kwargs["db"] == 2
    assert client.connection_pool.connection_kwargs["socket_timeout"] == 3


def test_a_sentinel_url_names_the_sentinels_the_master_and_the_db():
    url = "redis+sentinel://:s%40cret@s1:26380,s2,[::1]:26381/primary/3?sentinel_password=own"

    target = parse_sentinel_url(url)

    assert target.sentinels == [("s1", 26380), ("s2", 26379), ("::1", 26381)]
    assert (target.master_name, target.db, target.master_options) == ("primary", 3, {"password": "s@cret"})
    assert target.sentinel_options["password"] == "own"
    host = channel_layer_host(url, socket_timeout=15)
    assert host["master_name"] == "primary"
    assert host["sentinels"] == target.sentinels
    assert (host["db"], host["password"], host["socket_timeout"]) == (3, "s@cret", 15)


def test_a_sentinel_url_without_a_db_uses_db_0():
    assert parse_sentinel_url("redis+sentinel://s1/primary").db == 0


def test_clients_from_a_sentinel_url_ask_the_sentinels_for_the_master():
    url = "redis+sentinel://s1:26380/primary/1"

    client = redis_client(url, socket_timeout=2)

    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "primary"
    assert pool.connection_kwargs["db"] == 1

    async def pool_of_async_client():
        async with async_redis(url, socket_timeout=2) as async_client:
            return async_client.connection_pool

    async_pool = asyncio.run(pool_of_async_client())
    assert isinstance(async_pool, AsyncSentinelPool)
    assert async_pool.service_name == "primary"


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://s1:26379/",  # no master name
        "redis+sentinel:///primary/0",  # no sentinel
        "redis+sentinel://s1:port/primary/0",
        "redis+sentinel://s1/primary/zero",
        "redis+sentinel://s1/primary/0/extra",
    ],
)
def test_a_malformed_sentinel_url_stops_start_up_with_the_expected_shape(url):
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        parse_sentinel_url(url)


def test_the_error_for_a_malformed_sentinel_url_does_not_show_its_password():
    with pytest.raises(ImproperlyConfigured) as error:
        parse_sentinel_url("redis+sentinel://:hunter2@s1/")
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://s1:26379/?sentinel_password=hunter2",
        "redis+sentinel://:hunter1@s1/?sentinel_password=hunter2&socket_timeout=1",
        "redis+sentinel://s1/primary/zero?password=hunter2",
    ],
)
def test_the_error_for_a_malformed_sentinel_url_shows_no_password_of_the_sentinels_either(url):
    with pytest.raises(ImproperlyConfigured) as error:
        parse_sentinel_url(url)

    assert "hunter" not in str(error.value)
    assert "redis+sentinel://" in str(error.value)  # the rest of the URL is there to fix it
