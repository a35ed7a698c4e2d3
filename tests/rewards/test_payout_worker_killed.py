"""
A payout survives its worker being killed mid-payment, and is paid exactly once.

A real ``celery -A config worker`` runs in a subprocess against this run's test database
and Redis. It sends the gift card, and is SIGKILLed before it can record the payout paid.
The broker still holds the unacknowledged message (``acks_late``); a second worker
receives it again, the provider finds its record of the card already sent, and the payout
ends paid: one email, one gift card.

The workers consume a queue of this test's own (derived from this run's
``CELERY_TASK_DEFAULT_QUEUE``, passed through ``ADVOCATE_TEST_QUEUE``), so the in-thread
worker of other tests cannot take the message first.
"""

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app
from rewards import services
from rewards.models import GiftCard, Payout, Reward
from rewards.providers import gift_card_code
from tests.helpers import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(__file__).resolve().parents[2]


def start_worker(queue: str, tmp_path: Path, name: str, **env) -> subprocess.Popen:
    db = connection.settings_dict
    worker_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        # The test database (test_advocate in a default run), not the development one.
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "ADVOCATE_TEST_QUEUE": queue,
        "ADVOCATE_TEST_SENT_LOG": str(tmp_path / "sent.log"),
        **env,
    }
    if "ADVOCATE_TEST_PAUSE_FILE" not in env:
        worker_env.pop("ADVOCATE_TEST_PAUSE_FILE", None)
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            f"--queues={queue}",
            "--include=tests.rewards.payout_worker",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=INFO",
            f"--hostname={name}@%h",
        ],
        cwd=BASE_DIR,
        env=worker_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def sent_emails(tmp_path: Path) -> list[str]:
    log = tmp_path / "sent.log"
    return log.read_text().splitlines() if log.exists() else []


def test_a_worker_killed_after_sending_a_gift_card_pays_it_exactly_once(
    acme, alice, source, tmp_path, monkeypatch
):
    # The payout is requested as staff would, but its task goes to this test's own queue.
    monkeypatch.setattr(services.payouts, "enqueue_on_commit", lambda *args: None)
    services.reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("40.00"),
        note="Gift card earned",
        actor=alice,
        reward_kind="gift_card",
    )
    payout = services.payout_request(source=source, idempotency_key="kill-test-1")
    assert payout.method == "gift_card"
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-payout-kill"
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
        conn.default_channel.client.delete(f"{queue}.unacked", f"{queue}.unacked_index")
    app.send_task("rewards.process_payout", args=[payout.pk], queue=queue)

    pause_file = tmp_path / "paused"
    first = start_worker(queue, tmp_path, "first", ADVOCATE_TEST_PAUSE_FILE=str(pause_file))
    second = None
    try:
        wait_for(lambda: pause_file.exists() or first.poll() is not None, timeout=90)
        assert pause_file.exists(), (tmp_path / "first.log").read_text()
        # The card is sent and recorded by the provider; the payout is not yet paid.
        payout.refresh_from_db()
        assert (payout.status, payout.attempts) == ("processing", 1)
        assert GiftCard.objects.get(payout=payout).sent_at is not None
        assert len(sent_emails(tmp_path)) == 1

        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=20)
        payout.refresh_from_db()
        assert payout.status == "processing"  # nobody recorded it paid

        second = start_worker(queue, tmp_path, "second", ADVOCATE_TEST_VISIBILITY_TIMEOUT="3")
        wait_for(
            lambda: (
                Payout.objects.filter(pk=payout.pk, status="paid").exists()
                or second.poll() is not None
            ),
            timeout=90,
        )
        payout.refresh_from_db()
        assert payout.status == "paid", (tmp_path / "second.log").read_text()
    finally:
        stop(first)
        if second is not None:
            stop(second)

    assert payout.attempts == 2  # the message was delivered again, to the second worker
    code = gift_card_code("kill-test-1")
    assert sent_emails(tmp_path) == [f"{payout.pk} {code}"]  # one email, ever
    assert GiftCard.objects.filter(payout=payout).count() == 1
    assert payout.provider_reference == f"gift-card:...{code[-4:]}"
    assert Reward.objects.get(payout=payout).status == "fulfilled"
