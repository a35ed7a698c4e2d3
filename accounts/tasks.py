"""Celery tasks of the accounts app: thin wrappers around services."""

from celery import shared_task
from django.conf import settings

from core.email import send_organization_email

from . import webhooks
from .models import ReferralSource


@shared_task(
    name="accounts.send_portal_link",
    bind=True,
    max_retries=5,
    acks_late=True,
    reject_on_worker_lost=True,
)
def send_portal_link(self, source_id: int, token: str, base_url: str = "") -> bool:
    """Email a source the address of its portal, once per request to send it.

    The token is the one the source had when staff asked: if it was rotated since, the
    old address is dead and this email is not sent.
    """
    source = (
        ReferralSource.objects.select_related("organization")
        .filter(pk=source_id, portal_token=token)
        .first()
    )
    if source is None or not source.active or not source.email:
        return False
    try:
        return send_organization_email(
            "portal_link",
            organization=source.organization,
            to=source.email,
            once_key=f"accounts.portal_link:{self.request.id or token}",
            source=source,
            url=f"{(base_url or settings.SITE_URL).rstrip('/')}/me/{source.portal_token}/",
            site_url=base_url or settings.SITE_URL,
        )
    except OSError as exc:
        raise self.retry(exc=exc, countdown=2**self.request.retries) from exc


@shared_task(name="accounts.deliver_webhook", bind=True, max_retries=None)
def deliver_webhook(self, delivery_id: int) -> str:
    """One attempt at a webhook delivery; the delivery's own attempt count bounds retries."""
    try:
        delivery = webhooks.webhook_deliver(delivery_id=delivery_id)
    except webhooks.WebhookRetry as retry:
        raise self.retry(countdown=retry.countdown) from retry
    return delivery.status if delivery is not None else "missing"


@shared_task(name="accounts.resume_webhook_deliveries")
def resume_webhook_deliveries() -> int:
    """Re-drive deliveries whose task was lost; a delivery sent twice is deduplicated by the
    receiver through its event id."""
    ids = webhooks.deliveries_to_resume()
    for pk in ids:
        deliver_webhook.delay(pk)
    return len(ids)
