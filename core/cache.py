"""A Redis cache that degrades to "no cache" while Redis is down, instead of raising.

Every cache use in the app is an optimization (the link snapshot of ``/r/<code>``) or a
soft limit (allauth's rate limits), so an unreachable Redis must cost speed, never a 500:

- reads miss (``get`` returns the default, ``get_many`` nothing): callers fall back to
  PostgreSQL, as on any cache miss;
- writes and deletes are skipped: an entry a delete could not remove lives until its TTL
  (the link snapshot's is 30 s);
- ``add`` answers True: a caller using it as a lock (allauth's rate limiter) proceeds, as
  nobody else can hold a lock in a cache that is down. Rate limits are off meanwhile
  (they fail open), rather than locking every staff member out of the sign-in page;
- ``incr`` and ``clear`` still raise: they have no sensible answer without Redis.

After an error the cache stops trying Redis for ``RETRY_AFTER`` seconds (an OPTIONS entry,
default 5), so a Redis that hangs costs one timeout per process and period, not one per
request, and the outage is logged once per period instead of once per click.
"""

import logging
import threading
import time
from typing import cast

import redis
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

log = logging.getLogger(__name__)

_down_until: dict[str, float] = {}
_lock = threading.Lock()


class FailSafeRedisCacheClient(RedisCacheClient):
    def __init__(self, servers, retry_after: float = 5.0, **options):
        super().__init__(servers, **options)
        self._retry_after = retry_after
        self._name = ",".join(servers)
        self._clients: dict = {}  # connection pool -> its redis.Redis

    def get_client(self, key=None, *, write=False):
        """One ``redis.Redis`` per connection pool, kept. Django's client builds a new one
        at every cache call (filling in some 170 response callbacks each time), several
        times per API request; a Redis client over a pool is safe to share between
        threads."""
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client

    def _call(self, method: str, fallback, *args):
        parent = super()
        return self._guarded(lambda: getattr(parent, method)(*args), fallback)

    def _guarded(self, call, fallback):
        if time.monotonic() < _down_until.get(self._name, 0.0):
            return fallback
        try:
            return call()
        except redis.RedisError as error:
            with _lock:
                was_up = time.monotonic() >= _down_until.get(self._name, 0.0)
                _down_until[self._name] = time.monotonic() + self._retry_after
            if was_up:
                log.warning(
                    "Cache %s unreachable (%s: %s): serving without it for %ss",
                    self._name,
                    type(error).__name__,
                    error,
                    self._retry_after,
                )
            return fallback

    def add(self, key, value, timeout):
        return self._call("add", True, key, value, timeout)

    def get(self, key, default):
        return self._call("get", default, key, default)

    def set(self, key, value, timeout):
        return self._call("set", None, key, value, timeout)

    def touch(self, key, timeout):
        return self._call("touch", False, key, timeout)

    def delete(self, key):
        return self._call("delete", False, key)

    def get_many(self, keys):
        return self._call("get_many", {}, keys)

    def has_key(self, key):
        return self._call("has_key", False, key)

    def set_many(self, data, timeout):
        return self._call("set_many", None, data, timeout)

    def delete_many(self, keys):
        return self._call("delete_many", None, keys)

    def count_in_window(self, key, timeout: int) -> int:
        """Add one to a counter that lives ``timeout`` seconds from its first count, and
        return it: one round trip (SET NX EX and INCR in a pipeline), where ``add`` then
        ``incr`` take three (``incr`` checks EXISTS first). 0 while Redis is down (limits
        fail open)."""

        def count():
            pipe = self.get_client(key, write=True).pipeline(transaction=False)
            pipe.set(key, 0, ex=timeout, nx=True)
            pipe.incr(key)
            return pipe.execute()[1]

        return self._guarded(count, 0)


class FailSafeRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` that survives Redis being down."""

    def __init__(self, server, params):
        super().__init__(server, params)
        options: dict = dict(params.get("OPTIONS", {}))
        options["retry_after"] = float(options.pop("RETRY_AFTER", 5.0))
        self._options = options
        self._class = FailSafeRedisCacheClient

    def count_in_window(self, key: str, timeout: int) -> int:
        client = cast(FailSafeRedisCacheClient, self._cache)  # the class set above
        return client.count_in_window(self.make_and_validate_key(key), timeout)
