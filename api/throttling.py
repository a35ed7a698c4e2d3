"""Rate limits per API key: a fixed window counted with one atomic INCR on the Redis cache.

DRF's ``SimpleRateThrottle`` keeps a list of timestamps per client and rewrites it on every
request (a read and a write of a growing value, not atomic across processes); a counter per
window is one round trip (``core.cache``'s ``count_in_window``: SET NX EX and INCR in one
pipeline) and exact under concurrency. ``API_RATE_LIMIT`` sets the rate ("1200/minute" by
default, "N/second|minute|hour"); a 429 says in Retry-After when the window ends.
"""

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

PERIODS = {"s": 1, "m": 60, "h": 3600}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip()[0].lower()]


class ApiKeyThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        api_key = request.auth
        if api_key is None or not getattr(api_key, "pk", None):
            return True  # unauthenticated requests are refused before they do any work
        limit, period = parse_rate(getattr(settings, "API_RATE_LIMIT", "1200/minute"))
        now = time.time()
        window = int(now // period)
        key = f"api:rate:{api_key.pk}:{period}:{window}"
        if hasattr(cache, "count_in_window"):  # Redis: one round trip
            count = cache.count_in_window(key, period + 1)
        elif cache.add(key, 1, timeout=period + 1):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=period + 1)
                count = 1
        self._wait = (window + 1) * period - now
        return count <= limit

    def wait(self) -> float:
        return self._wait
