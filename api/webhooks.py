"""
How a receiver checks an Advocate webhook: copy this function into your own service.

    from api.webhooks import verify_signature

    if not verify_signature(request.body, request.headers["Advocate-Signature"], secret):
        return 400

It needs only the standard library. The header is ``t=<unix seconds>,v1=<hex>``, where the
hex is the HMAC-SHA256, keyed by the endpoint's secret, of ``"<t>." + raw body``. Checking
the raw bytes (not re-encoded JSON) and the time (not older than five minutes, nor from the
future) makes a captured delivery useless to replay.
"""

import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300


def verify_signature(
    body: bytes,
    header: str,
    secret: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds."""
    timestamp, signatures = None, []
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        # ASCII only: str.isdigit() takes "²", which int() refuses, and compare_digest
        # raises on a non-ASCII string; a forged header is a False, never an exception.
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value.isascii():
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)
