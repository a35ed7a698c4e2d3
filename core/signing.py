"""Keyed digests of the app's own values, on Django's ``salted_hmac``.

One purpose, one salt: a digest made for gift-card codes can never be replayed as an IP
hash or a coupon code.
"""

from django.utils.crypto import salted_hmac


def digest(purpose: str, value: str, *, secret: str | None = None) -> str:
    """The hex HMAC-SHA256 of ``value`` for ``purpose`` (keyed by SECRET_KEY by default)."""
    return salted_hmac(f"advocate.{purpose}", value, secret=secret, algorithm="sha256").hexdigest()
