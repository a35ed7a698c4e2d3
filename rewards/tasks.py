"""Celery tasks of the rewards app: thin wrappers around services."""

from celery import shared_task

from . import services


@shared_task(name="rewards.issue_rewards_for_conversion", bind=True, max_retries=5)
def issue_rewards_for_conversion(self, conversion_id: int) -> int:
    try:
        return len(services.issue_rewards_for_conversion(conversion_id=conversion_id))
    except Exception as exc:  # noqa: BLE001 - retried with backoff, then surfaced in logs
        raise self.retry(exc=exc, countdown=2**self.request.retries) from exc


@shared_task(name="rewards.release_held_rewards")
def release_held_rewards() -> int:
    return services.release_held_rewards()


@shared_task(name="rewards.expire_credit_lots")
def expire_credit_lots() -> int:
    return services.expire_credit_lots()
