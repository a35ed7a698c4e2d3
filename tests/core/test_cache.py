"""
The cache degrades to "no cache" while Redis is down (core/cache.py), and sessions never
depend on it.
"""

import logging

import pytest
import redis
from django.conf import settings
from django.core.cache import caches

from tests.workers import free_port


@pytest.fixture
def cache_down(settings):
    settings.CACHES = {
        "down": {
            "BACKEND": "core.cache.FailSafeRedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {**settings.CACHE_REDIS_OPTIONS, "RETRY_AFTER": 60},
        },
        "default": settings.CACHES["default"],
    }
    return caches["down"]


def test_reads_miss_and_writes_are_skipped_while_redis_is_down(cache_down, caplog):
    caplog.set_level(logging.WARNING, logger="core.cache")
    assert cache_down.get("link", "fallback") == "fallback"
    cache_down.set("link", {"id": 1}, 30)
    assert cache_down.get("link") is None
    assert cache_down.get_many(["a", "b"]) == {}
    cache_down.set_many({"a": 1})
    cache_down.delete("link")
    cache_down.delete_many(["a", "b"])
    assert cache_down.has_key("a") is False
    assert cache_down.touch("a") is False
    # A lock taken with add() is granted: nobody else can hold it in a cache that is down.
    assert cache_down.add("lock", True) is True
    with pytest.raises(redis.RedisError):  # no sensible answer without Redis
        cache_down.incr("counter")
    # One warning for the outage, not one per call.
    assert len([r for r in caplog.records if "unreachable" in r.message]) == 1


def test_the_cache_works_normally_when_redis_is_up():
    cache = caches["default"]
    cache.set("k", {"v": 1}, 30)
    assert cache.get("k") == {"v": 1}
    assert cache.add("k", 2) is False
    assert cache.incr(cache.add("n", 1) and "n") == 2


def test_a_window_counter_counts_in_one_round_trip_and_expires_with_its_window():
    cache = caches["default"]
    assert [cache.count_in_window("w", 5) for _ in range(3)] == [1, 2, 3]
    client = cache._cache.get_client(write=True)
    assert 0 < client.ttl(cache.make_and_validate_key("w")) <= 5  # set by the first count only


def test_a_window_counter_answers_0_while_redis_is_down(cache_down):
    assert cache_down.count_in_window("w", 5) == 0  # rate limits fail open


def test_sessions_live_in_the_database_not_the_cache():
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    assert settings.CACHES["default"]["BACKEND"] == "core.cache.FailSafeRedisCache"


def test_the_cache_keeps_one_redis_client_per_connection_pool():
    """Django's Redis cache builds a redis.Redis at every call (about half of a get's CPU);
    this one keeps it, for reads and writes alike."""
    cache = caches["default"]
    cache.set("kept", 1, 30)
    client = cache._cache.get_client(write=False)
    assert cache.get("kept") == 1
    assert cache._cache.get_client(write=False) is client
    assert cache._cache.get_client("kept", write=True) is cache._cache.get_client(write=True)
    assert client.connection_pool is cache._cache._get_connection_pool(False)
