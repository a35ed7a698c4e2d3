"""What a view needs to know about the request it answers."""

from django.conf import settings


def client_ip(request) -> str:
    """The visitor's address: REMOTE_ADDR, or the first address of the header a trusted
    proxy sets (``CLIENT_IP_HEADER``, e.g. ``HTTP_X_FORWARDED_FOR``) when one is configured."""
    header = getattr(settings, "CLIENT_IP_HEADER", "")
    if header:
        forwarded = request.META.get(header, "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:45]
    return request.META.get("REMOTE_ADDR", "")
