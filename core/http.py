"""What a view needs to know about the request it answers."""

from django.conf import settings


def client_ip(request) -> str:
    """The visitor's address: REMOTE_ADDR, or, when a trusted proxy's header is configured
    (``CLIENT_IP_HEADER``, e.g. ``HTTP_X_FORWARDED_FOR``), the address the outermost of the
    ``CLIENT_IP_PROXY_COUNT`` trusted proxies saw.

    Each proxy appends the address it received from, so that is the entry counted from the
    right; entries further left are whatever the client sent, and never believed (a made-up
    address per request passed every rate limit)."""
    header = getattr(settings, "CLIENT_IP_HEADER", "")
    if header:
        forwarded = [part.strip() for part in request.META.get(header, "").split(",")]
        forwarded = [part for part in forwarded if part]
        if forwarded:
            hops = max(int(getattr(settings, "CLIENT_IP_PROXY_COUNT", 1)), 1)
            return forwarded[-min(hops, len(forwarded))][:45]
    return request.META.get("REMOTE_ADDR", "")
