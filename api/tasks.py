"""Celery tasks of the API surface."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import IdempotencyRecord


@shared_task(name="api.purge_idempotency_records")
def purge_idempotency_records() -> int:
    """Forget answers older than ``API_IDEMPOTENCY_HOURS`` (24): their keys may be used again."""
    hours = int(getattr(settings, "API_IDEMPOTENCY_HOURS", 24))
    since = timezone.now() - timedelta(hours=hours)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=since).delete()
    return deleted
