"""Celery tasks of the analytics app: keep the daily rollups and the customer facts current
(see ``rollups`` and ``facts``)."""

from celery import shared_task

from accounts.models import Organization

from . import facts, rollups


@shared_task(name="analytics.refresh_rollups")
def refresh_rollups() -> int:
    """Rebuild the last few days of every organization's rollups (all of them the first
    time), then its customer facts of the customers changed since the last run, then
    vacuums the rollup and fact tables. Returns the number of organizations refreshed."""
    count = 0
    for organization in Organization.objects.order_by("pk").iterator():
        rollups.refresh(organization=organization)
        facts.refresh(organization=organization)
        count += 1
    rollups.vacuum(also=facts.FACT_MODELS)
    return count
