"""
The Celery tasks, run by a real worker (the ``celery_worker`` fixture: a worker thread on
this run's Redis queue), and the beat schedule that runs them.
"""

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from celery.signals import task_postrun
from django.conf import settings
from django.core import mail
from django.utils import timezone

from config.celery import app
from rewards import providers
from rewards.models import CreditLot, CreditReminder, LedgerEntry, Payout, Reward
from rewards.providers import gift_card_code
from rewards.selectors import credit_balance
from rewards.services import credit_account_for, credit_grant, payout_request, reward_grant_manual
from tests.helpers import wait_for
from tests.rewards.conftest import convert

pytestmark = pytest.mark.worker

PERIODIC = {
    "rewards.release_held_rewards",
    "rewards.expire_credit_lots",
    "rewards.send_expiry_reminders",
    "rewards.process_payouts",
}


@pytest.fixture
def finished():
    """Names of the tasks the worker has finished since the test began, in order."""
    names = []

    def record(sender=None, **kwargs):
        names.append(sender.name)

    task_postrun.connect(record, weak=False)
    yield names
    task_postrun.disconnect(record)


def rewards_emails():
    """Emails of the rewards app (the referrals app also writes to friends)."""
    return [m for m in mail.outbox if "Acme Bank" in m.subject]


def finished_count(finished, name):
    return sum(1 for n in finished if n == name)


def test_every_periodic_task_is_on_the_beat_schedule():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled >= PERIODIC
    app.loader.import_default_modules()
    assert set(app.tasks) >= PERIODIC


def test_the_database_scheduler_keeps_the_schedule_editable_in_the_admin(transactional_db):
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    DatabaseScheduler(app=app, lazy=True).setup_schedule()
    stored = set(PeriodicTask.objects.values_list("task", flat=True))
    assert stored >= PERIODIC


def test_the_worker_releases_held_rewards_and_emails_the_beneficiary(
    celery_worker, make_rule, referral, source
):
    make_rule(hold_days=14)
    # The relayed reward task may reach the worker before this call: either way, one reward.
    convert(referral, "order-1")
    reward = Reward.objects.get(conversion__external_id="order-1")
    Reward.objects.filter(pk=reward.pk).update(hold_until=timezone.now() - timedelta(minutes=1))
    app.send_task("rewards.release_held_rewards")
    wait_for(lambda: Reward.objects.get(pk=reward.pk).status == "fulfilled")
    assert credit_balance(account=source.credit_account) == Decimal("25.00")
    email = wait_for(lambda: next((m for m in mail.outbox if "credit" in m.subject), None))
    assert email.to == ["sam@example.com"]
    assert email.subject == "You have €25.00 of credit at Acme Bank"


def test_the_reward_earned_email_is_sent_once(celery_worker, finished, acme, alice, source):
    reward = reward_grant_manual(
        organization=acme, source=source, amount=Decimal("10"), note="Tip", actor=alice
    )
    wait_for(lambda: finished_count(finished, "rewards.send_reward_earned_email") == 1)
    app.send_task("rewards.send_reward_earned_email", args=[reward.pk])  # a duplicate
    wait_for(lambda: finished_count(finished, "rewards.send_reward_earned_email") == 2)
    assert len(rewards_emails()) == 1


def test_the_worker_expires_credit(celery_worker, source):
    account = credit_account_for(organization_id=source.organization_id, source=source)
    lot = credit_grant(
        account=account,
        amount=Decimal("30.00"),
        expires_at=timezone.now() - timedelta(minutes=1),
        idempotency_key="expired",
    )
    app.send_task("rewards.expire_credit_lots")
    wait_for(lambda: CreditLot.objects.get(pk=lot.pk).expired_at is not None)
    assert LedgerEntry.objects.get(kind="expire").amount == Decimal("-30.00")
    assert credit_balance(account=account) == Decimal("0")


def test_a_duplicated_reminder_task_sends_one_email(celery_worker, finished, source):
    account = credit_account_for(organization_id=source.organization_id, source=source)
    credit_grant(
        account=account,
        amount=Decimal("30.00"),
        expires_at=timezone.now() + timedelta(days=6),
        idempotency_key="soon",
    )
    app.send_task("rewards.send_expiry_reminders")
    app.send_task("rewards.send_expiry_reminders")
    wait_for(lambda: finished_count(finished, "rewards.send_expiry_reminders") == 2)
    assert len(rewards_emails()) == 1
    assert CreditReminder.objects.get().sent_at is not None


def test_the_worker_pays_a_gift_card_once(celery_worker, acme, alice, source):
    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("40"),
        note="Gift",
        actor=alice,
        reward_kind="gift_card",
    )
    payout = payout_request(source=source, idempotency_key="gc-1")
    wait_for(lambda: Payout.objects.get(pk=payout.pk).status == "paid")
    cards = [m for m in mail.outbox if "gift card" in m.subject]
    assert len(cards) == 1 and gift_card_code("gc-1") in cards[0].body


def test_the_worker_retries_a_failing_payout_then_fails_it(
    celery_worker, acme, alice, source, settings, monkeypatch
):
    settings.REWARDS_PAYOUT_RETRY_BASE_SECONDS = 0  # no waiting in tests
    settings.REWARDS_PAYOUT_MAX_ATTEMPTS = 3
    calls = []

    class Down(providers.PayoutProvider):
        method = "bank_transfer"

        def pay(self, payout):
            calls.append(payout.pk)
            raise TimeoutError("bank did not answer")

    monkeypatch.setitem(providers._providers, "bank_transfer", Down())
    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("40"),
        note="x",
        actor=alice,
        reward_kind="cash",
    )
    payout = payout_request(source=source, method="bank_transfer")
    wait_for(lambda: Payout.objects.get(pk=payout.pk).status == "failed")
    payout.refresh_from_db()
    assert payout.attempts == 3 and len(calls) == 3
    assert payout.last_error == "TimeoutError: bank did not answer"


def test_a_paid_bank_transfer_emails_the_source(celery_worker, acme, alice, bob, source):
    from rewards.services import payout_mark_paid

    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("1234.5"),
        note="x",
        actor=alice,
        reward_kind="cash",
    )
    payout = payout_request(source=source, method="bank_transfer")
    wait_for(lambda: Payout.objects.get(pk=payout.pk).provider_reference)
    payout_mark_paid(payout=payout, actor=bob, reference="BANK-1")
    email = wait_for(lambda: next((m for m in mail.outbox if "paid you" in m.subject), None))
    assert email.subject == "Acme Bank paid you €1,234.50"
    paid_at = timezone.localtime(Payout.objects.get(pk=payout.pk).paid_at, ZoneInfo(acme.timezone))
    assert f"on {paid_at:%-d %B %Y, %H:%M} (Europe/Amsterdam)" in email.body


def test_a_payout_batch_runs_in_the_worker(celery_worker, acme, alice, source):
    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("40"),
        note="x",
        actor=alice,
        reward_kind="cash",
    )
    app.send_task("rewards.start_payout_batch", args=[acme.pk, "batch-1", "bank_transfer"])
    payout = wait_for(lambda: Payout.objects.filter(status="processing").first())
    assert payout.amount == Decimal("40.00")


def test_lost_payout_tasks_are_resumed(celery_worker, acme, alice, source, monkeypatch):
    from rewards import services

    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("40"),
        note="x",
        actor=alice,
        reward_kind="gift_card",
    )
    with monkeypatch.context() as patched:  # the task is lost: never sent
        patched.setattr(services.payouts, "enqueue_on_commit", lambda *args: None)
        payout = payout_request(source=source)
    Payout.objects.filter(pk=payout.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    app.send_task("rewards.process_payouts")
    wait_for(lambda: Payout.objects.get(pk=payout.pk).status == "paid")
