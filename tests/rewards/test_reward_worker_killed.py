"""
A Celery worker is SIGKILLed in the middle of issuing a backlog of rewards; two fresh
workers and the outbox drain finish the job: every reward issued exactly once, every
reward email sent exactly once, nothing left in the outbox.

The killed worker's message is not given back by Redis within the test (its visibility
timeout is Redis's default hour, as in production), so the reward the worker was issuing
comes back only through the outbox: its row was never marked done, and the drain sends it
again once its lease (2 s here) has passed. The drain also re-sends rows still queued
behind the backlog, so workers receive duplicates; the tasks' idempotency makes them
no-ops.

Real processes: ``celery -A config worker`` subprocesses (see ``tests/workers.py``) on this
run's Redis and test database, consuming a queue of this test's own;
``tests/rewards/reward_worker.py`` gives them the pause and the log of sent emails.
"""

import os
import signal
from collections import Counter
from decimal import Decimal

import pytest
from django.conf import settings as django_settings

import core.tasks
from core.models import OutboxMessage
from core.tasks import drain_outbox
from referrals.models import Program
from referrals.services import conversion_record, referral_create
from rewards.models import LedgerEntry, Reward
from rewards.selectors import credit_balance
from tests.helpers import wait_for
from tests.workers import celery_app, purge, start_worker, stop_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CONVERSIONS = 150
PAUSE_AFTER = 40  # the worker is killed while issuing the 40th reward


def test_a_worker_killed_mid_issuance_loses_no_reward_and_doubles_none(
    acme, program, source, fixed_rule, settings, monkeypatch, tmp_path
):
    settings.OUTBOX_LEASE_SECONDS = 2
    queue = f"{django_settings.CELERY_TASK_DEFAULT_QUEUE}-reward-kill"
    app = celery_app(django_settings.CELERY_BROKER_URL, queue)
    monkeypatch.setattr(core.tasks, "celery_app", lambda: app)
    import redis

    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    purge(broker, queue)
    Program.objects.filter(pk=program.pk).update(velocity_limit_per_hour=100_000)
    program.refresh_from_db()

    conversions = []
    for i in range(CONVERSIONS):
        referral = referral_create(
            program=program, source=source, channel="in_person", friend_email=f"f{i}@example.com"
        )
        conversion, _ = conversion_record(
            referral=referral, kind="purchase", external_id=f"order-{i}", amount=Decimal("100")
        )
        conversions.append(conversion.pk)
    assert broker.llen(queue) == CONVERSIONS  # every reward task relayed after its commit

    sent_log = tmp_path / "sent.log"
    pause_file = tmp_path / "paused"
    common = {
        "broker_url": django_settings.CELERY_BROKER_URL,
        "queue": queue,
        "tmp_path": tmp_path,
        "include": "tests.rewards.reward_worker",
        "ADVOCATE_TEST_SENT_LOG": str(sent_log),
        "OUTBOX_LEASE_SECONDS": "2",
    }
    first = start_worker(
        name="first",
        ADVOCATE_TEST_PAUSE_AFTER=str(PAUSE_AFTER),
        ADVOCATE_TEST_PAUSE_FILE=str(pause_file),
        **common,
    )
    others = []
    try:
        wait_for(lambda: pause_file.exists() or first.poll() is not None, timeout=120)
        assert pause_file.exists(), (tmp_path / "first.log").read_text()
        killed_conversion = int(pause_file.read_text().split()[1])
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=20)
        # What the killed worker had committed; the reward it was issuing rolled back.
        assert Reward.objects.count() == PAUSE_AFTER - 1
        assert not Reward.objects.filter(conversion_id=killed_conversion).exists()
        assert OutboxMessage.objects.filter(args=[killed_conversion]).exists()

        others = [start_worker(name=name, **common) for name in ("second", "third")]

        def settled():
            drain_outbox()  # what beat does every 30 s
            done = (
                Reward.objects.filter(notified_at__isnull=False).count() == CONVERSIONS
                and not OutboxMessage.objects.exists()
            )
            return done or any(worker.poll() is not None for worker in others)

        wait_for(settled, timeout=240, interval=0.5)
    finally:
        for worker in [first, *others]:
            stop_worker(worker)
        purge(broker, queue)
    logs = {w: (tmp_path / f"{w}.log").read_text() for w in ("first", "second", "third")}
    assert not OutboxMessage.objects.exists(), logs["second"][-3000:]

    # Every conversion earned its reward exactly once, and the credit was granted once.
    per_conversion = Counter(Reward.objects.values_list("conversion_id", flat=True))
    assert set(per_conversion) == set(conversions)
    assert set(per_conversion.values()) == {1}
    assert LedgerEntry.objects.filter(kind="grant").count() == CONVERSIONS
    assert credit_balance(account=source.credit_account) == Decimal("25.00") * CONVERSIONS
    # One email per reward, however often its task was delivered.
    sent = sent_log.read_text().splitlines()
    assert len(sent) == CONVERSIONS
    assert {int(line.split()[0]) for line in sent} == set(
        Reward.objects.values_list("pk", flat=True)
    )

    runs = (
        sum(log.count("Task rewards.issue_rewards_for_conversion[") for log in logs.values()) // 2
    )  # one "received" and one "succeeded" line per run (the killed run: received only)
    print(f"{CONVERSIONS} rewards, {runs} issuance task runs across the kill")
