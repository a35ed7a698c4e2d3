"""
API keys as each web process remembers them: a request finds its key and organization
without a query, and a revoked key is still refused by the very next request.

Each process keeps the keys it has read, each with the *generation* it was read under: a
token in the cache (Redis) that ``api_key_revoke`` replaces (before and again after its
transaction commits, so a key read in between is not remembered under the new token). A
request reads the token (one Redis GET) and uses a remembered key only when the token is
the one it was read under; otherwise the key is read from PostgreSQL again. A revocation in
any process therefore reaches every process at its next request.

When Redis cannot be reached the token reads as None and every request reads its key from
PostgreSQL, as without this cache. Entries also expire after ``TTL_SECONDS``: that bounds
how long a change that does not replace the token (an organization's settings, a revocation
whose token write failed at that very moment) takes to be seen.
"""

import time
import uuid
from collections.abc import Callable

from django.core.cache import cache

from .models import ApiKey

GENERATION_KEY = "api:keys:generation"
TTL_SECONDS = 10.0
MAX_ENTRIES = 10_000  # keys remembered per process; a flood of keys only resets the dict

_entries: dict[str, tuple[str, float, ApiKey]] = {}  # digest -> (generation, expires, key)
_clock = time.monotonic  # tests move it


def lookup(digest: str, load: Callable[[], ApiKey | None]) -> ApiKey | None:
    """The live key with this digest: remembered, or ``load()``ed (and remembered)."""
    generation = _generation()
    now = _clock()
    entry = _entries.get(digest)
    if generation is not None and entry is not None and entry[0] == generation and entry[1] > now:
        return entry[2]
    api_key = load()
    if api_key is None:
        _entries.pop(digest, None)
    elif generation is not None:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[digest] = (generation, now + TTL_SECONDS, api_key)
    return api_key


def new_generation() -> None:
    """Every process forgets the keys it remembers (at its next request)."""
    _entries.clear()
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


def forget_local() -> None:
    _entries.clear()


def _generation() -> str | None:
    generation = cache.get(GENERATION_KEY)
    if generation is None:  # never set, evicted, or Redis is down
        cache.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
        generation = cache.get(GENERATION_KEY)
    return generation
