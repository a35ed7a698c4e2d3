"""Keyed digests of the app's own values, on Django's ``salted_hmac``.

One purpose, one salt: a digest made for gift-card codes can never be replayed as an IP
hash or a coupon code.
"""

import hashlib
import hmac
from functools import lru_cache

from django.utils.crypto import salted_hmac


def digest(purpose: str, value: str, *, secret: str | None = None) -> str:
    """The hex HMAC-SHA256 of ``value`` for ``purpose`` (keyed by SECRET_KEY by default)."""
    return salted_hmac(f"advocate.{purpose}", value, secret=secret, algorithm="sha256").hexdigest()


@lru_cache(maxsize=16)
def _keyed(purpose: str, secret: str):
    # The key salted_hmac derives on every call, set into an HMAC once; copied per use.
    key = hashlib.sha256(f"advocate.{purpose}".encode() + secret.encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def fast_digest(purpose: str, value: str, *, secret: str) -> str:
    """``digest()``'s very value, with the key derived and set up once per purpose and
    secret: for the hot path (a click's IP hash), where that was most of the cost."""
    mac = _keyed(purpose, secret).copy()
    mac.update(value.encode())
    return mac.hexdigest()
