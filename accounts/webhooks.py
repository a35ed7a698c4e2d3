"""
Outgoing webhooks: endpoints an owner registers, events the domain emits, signed deliveries.

``emit(organization, event_type, payload)`` is what the domain apps call at the moments a
business may want to hear about (a referral created or converted, a reward approved,
fulfilled or voided, credit about to expire, a payout paid or failed). It writes one
``WebhookDelivery`` per subscribed endpoint in the caller's transaction and queues the task
``accounts.deliver_webhook`` after it commits: a rolled-back change sends nothing.

Each attempt POSTs the same JSON body with the header

    Advocate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>

so a receiver can check the body came from us and refuse replays older than five minutes
(``api.webhooks.verify_signature`` does both). A delivery is retried with exponential backoff
until a 2xx answer or ``WEBHOOK_MAX_ATTEMPTS``; delivery is at least once, so receivers
deduplicate by the event id.

Only http(s) URLs are taken, redirects are not followed, and outside development an address
that is private, loopback, link-local or otherwise not global is refused, at registration and
again before each attempt (SSRF), unless ``WEBHOOK_ALLOW_PRIVATE_URLS`` is on. The attempt
connects to the address that was checked (the host is not looked up a second time), so a
DNS answer that changes between the check and the connection (rebinding) cannot turn a
public host into a private one.
"""

import functools
import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.tasks import enqueue_on_commit

from .models import Organization, User, WebhookDelivery, WebhookEndpoint, WebhookEventType

DELIVER_TASK = "accounts.deliver_webhook"
SIGNATURE_HEADER = "Advocate-Signature"
EVENT_TYPES = list(WebhookEventType.values)


class WebhookRetry(Exception):
    """The endpoint did not take the event; try again after ``countdown`` seconds."""

    def __init__(self, countdown: float, error: str):
        super().__init__(error)
        self.countdown = countdown


def max_attempts() -> int:
    return int(getattr(settings, "WEBHOOK_MAX_ATTEMPTS", 8))


def backoff(attempts: int) -> float:
    """Seconds before the next attempt: doubling from the base, at most six hours."""
    base = float(getattr(settings, "WEBHOOK_RETRY_BASE_SECONDS", 30))
    return min(base * 2 ** max(attempts - 1, 0), 6 * 3600)


# Signing ----------------------------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The value of the signature header for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


# Endpoints --------------------------------------------------------------------------------


# IPv6 forms that carry an IPv4 address and reach it through a translator or a tunnel
# (NAT64, IPv4-compatible, IPv4-translated; 6to4 and IPv4-mapped have their own properties),
# which Python 3.11 calls global: each is public only if the IPv4 address it carries is.
# A local-use NAT64 prefix and site-local addresses are the network's own: never public.
_CARRIES_IPV4 = [ipaddress.ip_network(n) for n in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")]
_NEVER_PUBLIC = [ipaddress.ip_network(n) for n in ("64:ff9b:1::/48", "fec0::/10")]


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _NEVER_PUBLIC):
            return False
        carried = ip.ipv4_mapped or ip.sixtofour
        if carried is None and any(ip in net for net in _CARRIES_IPV4):
            carried = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if carried is not None and not _is_public(str(carried)):
            return False
    return ip.is_global and not ip.is_multicast


def check_url(url: str) -> str:
    """The URL if deliveries may be sent to it; a ValidationError if not."""
    return _checked(url)[0]


def _checked(url: str) -> tuple[str, str | None]:
    """The URL and the address a delivery must connect to (None: any, when private
    addresses are allowed). Every address the host resolves to must be public, and the
    connection then goes to the first of them, not to whatever a second lookup answers: a
    host whose DNS answers a public address to the check and a private one to the
    connection (DNS rebinding) reaches only the public one."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError({"url": "Enter a valid URL."}) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": "Use an http:// or https:// URL."})
    if getattr(settings, "WEBHOOK_ALLOW_PRIVATE_URLS", False):
        return url, None
    try:
        addresses = [
            str(info[4][0])
            for info in socket.getaddrinfo(
                parts.hostname, port or (443 if parts.scheme == "https" else 80)
            )
        ]
    except (OSError, UnicodeError):
        raise ValidationError({"url": "This host name does not resolve."}) from None
    if not addresses or not all(_is_public(a) for a in addresses):
        raise ValidationError({"url": "Webhooks go to public addresses only."})
    return url, addresses[0]


def _clean_events(events) -> list[str]:
    events = sorted(set(events or []))
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise ValidationError({"events": f"Unknown event types: {', '.join(unknown)}."})
    if not events:
        raise ValidationError({"events": "Choose at least one event."})
    return events


def endpoint_create(
    *,
    organization: Organization,
    url: str,
    events: list[str],
    description: str = "",
    created_by: User | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint. Returns it with its signing secret, which is shown once."""
    errors = {}
    try:
        url = check_url(url)
    except ValidationError as error:
        errors.update(error.message_dict)
    try:
        events = _clean_events(events)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        url=url,
        events=events,
        description=(description or "").strip()[:200],
        secret=secret,
        created_by=created_by,
    )
    return endpoint, secret


def endpoint_set_active(*, endpoint: WebhookEndpoint, active: bool) -> WebhookEndpoint:
    if endpoint.active != active:
        endpoint.active = active
        endpoint.save(update_fields=["active"])
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


# Emitting ---------------------------------------------------------------------------------


def subscribed(organization_id: int, event_type: str) -> bool:
    """Whether any active endpoint of the organization listens to ``event_type``: a batch
    asks once instead of once per object."""
    return any(
        event_type in (events or [])
        for events in WebhookEndpoint.objects.filter(
            organization_id=organization_id, active=True
        ).values_list("events", flat=True)
    )


def emit(organization: Organization | int, event_type: str, payload: dict) -> list[WebhookDelivery]:
    """Queue ``event_type`` with ``payload`` (the object it is about) for every endpoint of the
    organization subscribed to it. Costs one query when nobody listens."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type {event_type!r}")
    organization_id = organization if isinstance(organization, int) else organization.pk
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(
            organization_id=organization_id, active=True
        ).only("id", "events")
        if event_type in (endpoint.events or [])
    ]
    if not endpoints:
        return []
    now = timezone.now()
    event_id = f"evt_{uuid.uuid4().hex}"
    body = json.dumps(
        {"id": event_id, "type": event_type, "created": now, "data": {"object": payload}},
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                organization_id=organization_id,
                endpoint_id=endpoint.pk,
                event_id=event_id,
                event_type=event_type,
                body=body,
                created_at=now,
            )
            for endpoint in endpoints
        ]
    )
    for delivery in deliveries:
        enqueue_on_commit(DELIVER_TASK, delivery.pk)
    return deliveries


def delivery_resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send an event again to its endpoint: a new delivery of the same event and body."""
    copy = WebhookDelivery.objects.create(
        organization_id=delivery.organization_id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        body=delivery.body,
    )
    enqueue_on_commit(DELIVER_TASK, copy.pk)
    return copy


# Sending ----------------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx is an answer, not a place to follow (it could point anywhere)


def _connect_to(address: str):
    """A ``create_connection`` that connects to ``address`` whatever host it is given: the
    Host header, and for HTTPS the name the certificate must carry (SNI), stay the URL's."""

    def create_connection(where, *args, **kwargs):
        return socket.create_connection((address, where[1]), *args, **kwargs)

    return create_connection


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host, *, address: str, **kwargs):
        super().__init__(host, **kwargs)
        self._create_connection = _connect_to(address)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, *, address: str, **kwargs):
        super().__init__(host, **kwargs)
        self._create_connection = _connect_to(address)


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, address: str):
        super().__init__()
        self.address = address

    def http_open(self, req):
        return self.do_open(functools.partial(_PinnedHTTP, address=self.address), req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, address: str):
        super().__init__()
        self.address = address

    def https_open(self, req):
        return self.do_open(
            functools.partial(_PinnedHTTPS, address=self.address),
            req,
            context=self._context,  # type: ignore[attr-defined]
        )


def _opener(address: str | None):
    # No proxy from the environment: a delivery goes straight to the address that was checked.
    handlers: list = [urllib.request.ProxyHandler({}), _NoRedirects()]
    if address is not None:
        handlers += [_PinnedHTTPHandler(address), _PinnedHTTPSHandler(address)]
    return urllib.request.build_opener(*handlers)


def _post(url: str, body: bytes, headers: dict, *, address: str | None = None) -> int:
    # _checked() allowed only http(s) before this is called.
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    timeout = float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", 10))
    try:
        with _opener(address).open(request, timeout=timeout) as response:
            response.read(1024)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """Make one attempt at a pending delivery and write down how it went.

    Raises ``WebhookRetry`` when it failed and attempts are left; the task retries then.
    """
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return delivery
    endpoint = delivery.endpoint
    body = delivery.body.encode()
    status_code: int | None = None
    error = ""
    started = time.monotonic()
    if not endpoint.active:
        error = "The endpoint is disabled."
    else:
        try:
            url, address = _checked(endpoint.url)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Advocate-Webhooks/1.0",
                SIGNATURE_HEADER: sign(endpoint.secret, body, int(time.time())),
            }
            status_code = _post(url, body, headers, address=address)
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except (OSError, ValueError) as exc:  # refused, timed out, TLS, bad URL
            error = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        if delivery.status != WebhookDelivery.Status.PENDING:
            return delivery
        delivery.attempts += 1
        delivery.last_status_code = status_code
        delivery.last_duration_ms = duration_ms
        delivery.last_error = error[:300]
        delivery.log = [
            *(delivery.log or []),
            {"at": now.isoformat(), "status": status_code, "ms": duration_ms, "error": error[:300]},
        ][-20:]
        delivery.next_attempt_at = None
        if not error:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = now
        elif delivery.attempts >= max_attempts() or not endpoint.active:
            delivery.status = WebhookDelivery.Status.FAILED
        else:
            countdown = backoff(delivery.attempts)
            delivery.next_attempt_at = now + timedelta(seconds=countdown)
        delivery.save()
    if delivery.status == WebhookDelivery.Status.PENDING:
        raise WebhookRetry(backoff(delivery.attempts), error)
    return delivery


def deliveries_to_resume(*, now=None) -> list[int]:
    """Pending deliveries whose task may have been lost (a broker restart, a purged queue):
    never tried for five minutes, or five minutes past their next attempt."""
    now = now or timezone.now()
    late = now - timedelta(minutes=5)
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
        .filter(Q(attempts=0, created_at__lte=late) | Q(attempts__gt=0, next_attempt_at__lte=late))
        .values_list("pk", flat=True)[:10_000]
    )
