"""Rate limits on what the public can reach: per client address, on the shared cache.

Built on django-ratelimit: ``@limit("60/m")`` on a view counts requests per client address
(``core.http.client_ip``, which honours a trusted proxy's header) and answers an honest
429 with ``Retry-After`` past the rate. The counters live in the cache (Redis in
production); while Redis is down the cache serves misses, so limits open rather than a
page failing. Rates are settings (``RATELIMITS``), so an operator can tune them.
"""

import time
from functools import lru_cache, wraps

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django_ratelimit.core import is_ratelimited

from .http import client_ip

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _client_key(group, request) -> str:
    return client_ip(request) or "unknown"


def rate(name: str) -> str:
    """The rate named ``name`` in settings.RATELIMITS, e.g. "60/m"."""
    return settings.RATELIMITS[name]


@lru_cache(maxsize=64)
def parse_rate(rate_text: str) -> tuple[int, int]:
    """ "120/m" -> (120, 60); "5/5m" -> (5, 300): how many requests in how many seconds."""
    count, period = rate_text.split("/")
    return int(count), PERIODS.get(period[-1:], 60) * int(period[:-1] or 1)


def too_many_requests(rate_text: str, request=None) -> HttpResponse:
    """The 429: a page for a browser (which asks for text/html), plain text for anything
    else (the widget's script, curl)."""
    period = parse_rate(rate_text)[1]
    if request is not None and "text/html" in request.headers.get("Accept", ""):
        response = render(request, "429.html", {"retry_after": period}, status=429)
    else:
        response = HttpResponse(
            "Too many requests from your address: wait a little and try again.\n",
            status=429,
            content_type="text/plain; charset=utf-8",
        )
    response["Retry-After"] = str(period)
    return response


def limit(name: str, *, methods: tuple[str, ...] = ("GET", "POST")):
    """Limit a view to the rate ``settings.RATELIMITS[name]`` per client address."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not getattr(settings, "RATELIMIT_ENABLE", True) or request.method not in methods:
                return view(request, *args, **kwargs)
            rate_text = rate(name)
            if is_ratelimited(
                request, group=f"advocate.{name}", key=_client_key, rate=rate_text, increment=True
            ):
                return too_many_requests(rate_text, request)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def refused(request, name: str) -> HttpResponse | None:
    """Count one request against ``settings.RATELIMITS[name]``; a 429 once past it.

    For what a view decides to count (a miss, say) rather than every request.
    """
    rate_text = rate(name)
    if not getattr(settings, "RATELIMIT_ENABLE", True) or not rate_text:
        return None
    if is_ratelimited(
        request, group=f"advocate.{name}", key=_client_key, rate=rate_text, increment=True
    ):
        return too_many_requests(rate_text, request)
    return None


class LocalLimiter:
    """A per-process, in-memory fixed-window limit per client address: no network round
    trip, for the click path. Each web process counts on its own, so the rate a client
    really gets is this one times the number of processes: a guard against floods, not
    an exact quota. Memory is bounded: the table is emptied when a new window starts."""

    def __init__(self, name: str):
        self.name = name
        self.window_start = 0.0
        self.counts: dict[str, int] = {}

    def refused(self, request, now: float | None = None) -> HttpResponse | None:
        rate_text = rate(self.name)
        if not getattr(settings, "RATELIMIT_ENABLE", True) or not rate_text:
            return None
        limit_count, seconds = parse_rate(rate_text)
        now = time.monotonic() if now is None else now
        if now - self.window_start >= seconds:
            self.window_start, self.counts = now, {}
        key = _client_key(None, request)
        count = self.counts.get(key, 0) + 1
        self.counts[key] = count
        if count > limit_count:
            return too_many_requests(rate_text, request)
        return None
