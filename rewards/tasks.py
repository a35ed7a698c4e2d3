"""Celery tasks of the rewards app: thin wrappers around services.

The periodic ones are in ``CELERY_BEAT_SCHEDULE`` (config/settings.py); django-celery-beat's
DatabaseScheduler copies them into the database, where operators edit them in the admin.
"""

import logging

from celery import shared_task

from . import notifications, services

log = logging.getLogger(__name__)


# Tasks queued by services run with acks_late whatever the settings say: a worker killed
# mid-task leaves its message to be delivered again, and the task, being idempotent, finds
# what was committed and does only the rest (the outbox re-sends it too, core/tasks.py).
REDELIVER = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="rewards.issue_rewards_for_conversion", bind=True, max_retries=5, **REDELIVER)
def issue_rewards_for_conversion(self, conversion_id: int) -> int:
    try:
        return len(services.issue_rewards_for_conversion(conversion_id=conversion_id))
    except Exception as exc:  # noqa: BLE001 - retried with backoff, then surfaced in logs
        raise self.retry(exc=exc, countdown=2**self.request.retries) from exc


@shared_task(name="rewards.issue_rewards_for_conversions", bind=True, max_retries=5, **REDELIVER)
def issue_rewards_for_conversions(self, conversion_ids: list[int]) -> int:
    """``issue_rewards_for_conversion`` for many conversions (a bulk of events queues one
    task per hundred): each is issued, a failure does not stop the others, and the task is
    retried when one failed (issuing being idempotent, a retry pays only what is missing)."""
    issued, failed = 0, []
    for conversion_id in conversion_ids:
        try:
            issued += len(services.issue_rewards_for_conversion(conversion_id=conversion_id))
        except Exception as exc:  # noqa: BLE001 - the others go on; retried below
            failed.append(exc)
    if failed:
        raise self.retry(exc=failed[0], countdown=2**self.request.retries) from failed[0]
    return issued


@shared_task(name="rewards.release_held_rewards")
def release_held_rewards() -> int:
    return services.release_held_rewards()


@shared_task(name="rewards.expire_credit_lots")
def expire_credit_lots() -> int:
    return services.expire_credit_lots()


@shared_task(name="rewards.send_expiry_reminders")
def send_expiry_reminders() -> int:
    return services.send_expiry_reminders()


@shared_task(
    name="rewards.process_payout",
    bind=True,
    max_retries=None,  # the payout's own attempt count decides (REWARDS_PAYOUT_MAX_ATTEMPTS)
    acks_late=True,  # a worker killed mid-payment leaves the message to be delivered again
    reject_on_worker_lost=True,
)
def process_payout(self, payout_id: int) -> str:
    from .models import Payout

    try:
        return services.payout_process(payout_id=payout_id).status
    except Payout.DoesNotExist:
        return "missing"
    except services.PayoutRetry as retry:
        raise self.retry(countdown=retry.countdown) from retry


@shared_task(name="rewards.process_payouts")
def process_payouts() -> int:
    """Re-drive payouts whose task was lost (a broker restart, a purged queue)."""
    ids = services.payouts_to_resume()
    for pk in ids:
        process_payout.delay(pk)
    return len(ids)


@shared_task(name="rewards.start_payout_batch", **REDELIVER)
def start_payout_batch(
    organization_id: int,
    batch_key: str,
    method: str = "",
    actor_id: int | None = None,
    source_ids: list[int] | None = None,
) -> int:
    from accounts.models import Organization, User

    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return 0
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    return len(
        services.payout_batch(
            organization=organization,
            batch_key=batch_key,
            method=method,
            actor=actor,
            source_ids=source_ids,
        )
    )


@shared_task(name="rewards.send_reward_earned_email", **REDELIVER)
def send_reward_earned_email(reward_id: int) -> bool:
    return notifications.send_reward_earned(reward_id=reward_id)


@shared_task(name="rewards.send_payout_sent_email", **REDELIVER)
def send_payout_sent_email(payout_id: int) -> bool:
    return notifications.send_payout_sent(payout_id=payout_id)
