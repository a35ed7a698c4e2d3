"""Celery tasks of the accounts app: thin wrappers around services."""

from celery import shared_task

from . import webhooks


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
