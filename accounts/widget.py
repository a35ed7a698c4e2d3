"""
Customer tokens for the embeddable widget (``/widget.js``).

The business's own backend makes a token for the customer who is signed in on its site,
and puts it in the page; the widget shows that customer's share link and credit. A token
is two base64url parts joined by a dot:

    payload   = base64url(JSON {"org": "<organization slug>", "customer": "<external id>",
                                "email": "<optional>", "name": "<optional>", "exp": <unix>})
    signature = base64url(HMAC-SHA256(organization.widget_secret, payload))
    token     = payload + "." + signature

(base64url without "=" padding.) Any language can make one; docs/widget.md shows how.
A token lives at most ``MAX_LIFETIME`` seconds, so one copied out of a page soon stops
working. Rotating the secret ends every token at once.
"""

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .models import Customer, Organization
from .services import customer_get_or_create

log = logging.getLogger(__name__)

MAX_LIFETIME = 24 * 3600  # seconds a token may live, whatever its exp says
MAX_TOKEN_LENGTH = 2048


#: A customer's id as the business keeps it (``Customer.external_id``).
MAX_CUSTOMER_ID_LENGTH = Customer._meta.get_field("external_id").max_length or 120


class InvalidToken(Exception):
    """Why a token was refused: logged, never shown to the visitor."""


@dataclass(frozen=True)
class WidgetClaims:
    organization: Organization
    customer_external_id: str
    email: str
    name: str
    expires_at: int


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def make_token(
    *,
    organization: Organization,
    customer_external_id: str,
    email: str = "",
    name: str = "",
    lifetime: int = 3600,
) -> str:
    """What the business's backend does; used by the demo page and the tests."""
    claims = {
        "org": organization.slug,
        "customer": customer_external_id,
        "email": email,
        "name": name,
        "exp": int(time.time()) + lifetime,
    }
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{payload}.{_sign(organization.widget_secret, payload)}"


def read_token(token: str, *, now: float | None = None) -> WidgetClaims:
    """The claims of a valid token; ``InvalidToken`` saying why otherwise."""
    now = time.time() if now is None else now
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise InvalidToken("malformed token")
    payload, signature = token.split(".")
    try:
        claims = json.loads(_b64decode(payload))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidToken("payload is not base64url JSON") from None
    if not isinstance(claims, dict):
        raise InvalidToken("payload is not a JSON object")
    slug, customer, exp = claims.get("org"), claims.get("customer"), claims.get("exp")
    if not isinstance(slug, str) or not isinstance(customer, str) or not customer.strip():
        raise InvalidToken("org and customer must be non-empty strings")
    if len(customer.strip()) > MAX_CUSTOMER_ID_LENGTH:
        # Cut short, two customers whose ids share their beginning would be one.
        raise InvalidToken(f"customer is longer than {MAX_CUSTOMER_ID_LENGTH} characters")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise InvalidToken("exp must be a unix time in seconds")
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        raise InvalidToken(f"unknown organization {slug[:60]!r}")
    if not hmac.compare_digest(signature, _sign(organization.widget_secret, payload)):
        raise InvalidToken(f"bad signature for organization {slug!r}")
    if exp <= now:
        raise InvalidToken(f"expired {int(now - exp)} s ago")
    if exp > now + MAX_LIFETIME:
        raise InvalidToken(f"exp is more than {MAX_LIFETIME} s ahead")
    email, name = claims.get("email") or "", claims.get("name") or ""
    if not isinstance(email, str) or not isinstance(name, str):
        raise InvalidToken("email and name must be strings")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise InvalidToken("email is not an email address") from None
    return WidgetClaims(organization, customer.strip(), email[:254], name[:200], exp)


def customer_for_token(token: str) -> Customer | None:
    """The customer a token names (made on first sight), or None with the reason logged."""
    try:
        claims = read_token(token)
        # The token's id is who the visitor is; its email is only what the business was
        # told. A customer found by that email under another id is someone else (showing
        # them would show anyone who gave a stranger's address that stranger's credit):
        # ``customer_find`` finds by email only a customer known by no id yet.
        customer, _ = customer_get_or_create(
            organization=claims.organization,
            external_id=claims.customer_external_id,
            email=claims.email,
            name=claims.name,
        )
    except InvalidToken as error:
        log.warning("Widget token refused: %s", error)
        return None
    except ValidationError as error:
        log.warning("Widget token names an unusable customer: %s", "; ".join(error.messages))
        return None
    return customer


def widget_secret_rotate(*, organization: Organization) -> str:
    """A new secret: every token signed with the old one stops working at once."""
    organization.widget_secret = secrets.token_urlsafe(32)
    organization.save(update_fields=["widget_secret"])
    return organization.widget_secret
