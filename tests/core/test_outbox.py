"""
The transactional outbox (core/tasks.py): a task queued by a service is written with the
business write, relayed after the commit, drained when the broker could not take it,
deleted once a worker ran it, and never sent twice by two drains at once.
"""

import threading
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
import redis
from celery.exceptions import Retry
from celery.signals import task_postrun
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import call_command
from django.db import OperationalError, connection, transaction
from django.utils import timezone

import core.tasks
from config.celery import app as project_app
from core.models import OutboxMessage, TaskClaim
from core.tasks import drain_outbox, enqueue_on_commit, once
from referrals.services import referral_create
from tests.helpers import wait_for
from tests.workers import celery_app, free_port, purge, queued_task_ids

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue():
    return f"{django_settings.CELERY_TASK_DEFAULT_QUEUE}-outbox"


@pytest.fixture
def broker(queue):
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    purge(client, queue)
    yield client
    purge(client, queue)


@pytest.fixture
def own_queue(queue, broker, monkeypatch):
    """Publish to a queue no worker consumes, to look at what reaches the broker."""
    app = celery_app(django_settings.CELERY_BROKER_URL, queue)
    monkeypatch.setattr(core.tasks, "celery_app", lambda: app)
    yield queue
    app.close()


@pytest.fixture
def dead_broker(monkeypatch):
    """Publish to a port nothing listens on: the broker is down."""
    app = celery_app(f"redis://127.0.0.1:{free_port()}/0", "nowhere")
    monkeypatch.setattr(core.tasks, "celery_app", lambda: app)
    yield app
    app.close()


def test_a_rolled_back_transaction_queues_nothing(own_queue, broker):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit("rewards.issue_rewards_for_conversion", 1)
        raise RuntimeError("the business write failed")
    assert not OutboxMessage.objects.exists()
    assert broker.llen(own_queue) == 0


def test_the_task_is_written_with_the_transaction_and_relayed_after_its_commit(own_queue, broker):
    with transaction.atomic():
        enqueue_on_commit("rewards.issue_rewards_for_conversion", 7)
        row = OutboxMessage.objects.get()
        assert row.sent_at is None and broker.llen(own_queue) == 0  # nothing before the commit
    row.refresh_from_db()
    assert row.sent_at is not None and row.sends == 1
    assert queued_task_ids(broker, own_queue) == [f"outbox-{row.pk}"]
    assert drain_outbox() == 0  # sent, within its lease: not sent again


def test_with_the_broker_down_the_commit_stands_and_the_row_waits(dead_broker, caplog):
    with transaction.atomic():
        enqueue_on_commit("rewards.issue_rewards_for_conversion", 7)
    row = OutboxMessage.objects.get()
    assert row.sent_at is None and row.status == "waiting"
    assert "Connection refused" in row.last_error
    assert "kept for the drain" in caplog.text
    assert drain_outbox() == 0
    row.refresh_from_db()
    assert row.sends == 0 and row.next_attempt_at <= timezone.now()


def test_the_drain_command_shows_the_backlog(dead_broker):
    enqueue_on_commit("rewards.issue_rewards_for_conversion", 7)
    out = StringIO()
    call_command("drain_outbox", stdout=out)
    assert out.getvalue().startswith("sent 0; backlog 1 (waiting for the broker 1, failed 0,")


def test_a_sent_row_no_worker_ran_is_sent_again_after_its_lease(own_queue, broker, settings):
    settings.OUTBOX_LEASE_SECONDS = 60
    enqueue_on_commit("rewards.issue_rewards_for_conversion", 7)
    row = OutboxMessage.objects.get()
    assert drain_outbox() == 0
    # The lease runs out (the message was lost, or its worker died).
    OutboxMessage.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert drain_outbox() == 1
    row.refresh_from_db()
    assert row.sends == 2
    # The next lease is twice as long, so a backlog is not flooded with copies.
    assert row.next_attempt_at - row.sent_at == timedelta(seconds=120)
    assert queued_task_ids(broker, own_queue) == [f"outbox-{row.pk}"] * 2


def test_a_row_that_cannot_be_published_does_not_block_the_others(own_queue, broker, monkeypatch):
    rows = OutboxMessage.objects.bulk_create(
        [OutboxMessage(task="rewards.issue_rewards_for_conversion", args=[i]) for i in range(3)]
    )
    publish = core.tasks._publish

    def publish_but_the_first(app, message, *, retry):
        if message.pk == rows[0].pk:
            raise ValueError("cannot encode")
        publish(app, message, retry=retry)

    monkeypatch.setattr(core.tasks, "_publish", publish_but_the_first)
    assert drain_outbox() == 2
    poison = OutboxMessage.objects.get(pk=rows[0].pk)
    assert poison.sent_at is None and "cannot encode" in poison.last_error
    assert poison.next_attempt_at > timezone.now()  # put off by a lease, tried again later
    assert sorted(queued_task_ids(broker, own_queue)) == sorted(
        f"outbox-{row.pk}" for row in rows[1:]
    )


def test_two_drains_racing_send_each_row_once(own_queue, broker, monkeypatch):
    rows = OutboxMessage.objects.bulk_create(
        [OutboxMessage(task="rewards.issue_rewards_for_conversion", args=[i]) for i in range(60)]
    )
    # Each drain waits inside its first send until the other drain is inside one too: the
    # two hold row locks at the same moment. (Rows the other holds must be skipped, not
    # waited for, or the barrier breaks; rows it holds must not be sent twice.)
    both_sending = threading.Barrier(2, timeout=30)
    first_send = threading.local()
    publish = core.tasks._publish

    def racing_publish(app, message, *, retry):
        if not getattr(first_send, "done", False):
            first_send.done = True
            both_sending.wait()
        publish(app, message, retry=retry)

    monkeypatch.setattr(core.tasks, "_publish", racing_publish)
    sent = {}

    def drain(name):
        try:
            sent[name] = drain_outbox(batch_size=10)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not both_sending.broken
    assert sent["a"] > 0 and sent["b"] > 0 and sent["a"] + sent["b"] == 60
    ids = queued_task_ids(broker, own_queue)
    assert sorted(ids) == sorted(f"outbox-{row.pk}" for row in rows)
    assert set(OutboxMessage.objects.values_list("sends", flat=True)) == {1}


@pytest.mark.worker
def test_a_worker_running_the_task_deletes_its_row(celery_worker, program, source):
    referral = referral_create(
        program=program, source=source, channel="email", friend_email="fay@x.io"
    )
    wait_for(lambda: any(m.to == ["fay@x.io"] for m in mail.outbox))
    wait_for(lambda: not OutboxMessage.objects.exists())
    assert TaskClaim.objects.filter(key=f"referrals.introduction:{referral.pk}").exists()
    # Delivered again (a redelivery after a lost ack), the introduction is not sent again.
    finished = []

    def record(task_id=None, retval=None, **kwargs):
        finished.append((task_id, retval))

    task_postrun.connect(record, weak=False)
    try:
        again = project_app.send_task("referrals.send_introduction_email", args=[referral.pk])
        wait_for(lambda: any(task_id == again.id for task_id, _ in finished))
    finally:
        task_postrun.disconnect(record)
    assert (again.id, False) in finished  # the task saw the claim and sent nothing
    assert [m.to for m in mail.outbox].count(["fay@x.io"]) == 1


@pytest.mark.worker
def test_a_task_that_fails_for_good_is_kept_and_not_sent_again(celery_worker):
    enqueue_on_commit("rewards.send_reward_earned_email")  # no reward id: a TypeError
    wait_for(lambda: OutboxMessage.objects.filter(failed_at__isnull=False).exists())
    row = OutboxMessage.objects.get()
    assert row.status == "failed" and "TypeError" in row.last_error
    OutboxMessage.objects.update(next_attempt_at=timezone.now() - timedelta(hours=1))
    assert drain_outbox() == 0


def test_a_task_retried_later_is_not_due_before_its_retry(settings):
    settings.OUTBOX_LEASE_SECONDS = 60
    row = OutboxMessage.objects.create(task="rewards.process_payout", args=[1])
    core.tasks._task_retried(
        request=SimpleNamespace(id=f"outbox-{row.pk}"),
        reason=Retry(exc=OSError("provider down"), when=3600),
    )
    row.refresh_from_db()
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=3600)
    assert row.last_error == "provider down"
    assert drain_outbox() == 0


def test_a_task_failing_on_the_database_is_sent_again_after_its_lease(settings):
    settings.OUTBOX_LEASE_SECONDS = 60
    row = OutboxMessage.objects.create(task="rewards.send_reward_earned_email", args=[1])
    core.tasks._task_failed(
        task_id=f"outbox-{row.pk}", exception=OperationalError("server closed the connection")
    )
    row.refresh_from_db()
    assert row.failed_at is None and "server closed the connection" in row.last_error
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=50)


def test_once_acts_for_one_of_two_concurrent_deliveries():
    inside = threading.Event()
    release = threading.Event()
    results = {}

    def deliver(name, hold):
        try:
            with once("email:1") as first:
                results[name] = first
                if hold:
                    inside.set()
                    release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=deliver, args=("first", True))
    holder.start()
    assert inside.wait(timeout=30)
    second = threading.Thread(target=deliver, args=("second", False))
    second.start()
    second.join(timeout=1)
    assert second.is_alive()  # waits for the first delivery's claim to commit or roll back
    release.set()
    holder.join(timeout=30)
    second.join(timeout=30)
    assert results == {"first": True, "second": False}


def test_once_acts_again_when_the_first_attempt_died_before_its_commit():
    with pytest.raises(ConnectionError), once("email:2") as first:
        assert first
        raise ConnectionError("killed mid-send")
    with once("email:2") as again:
        assert again
    with once("email:2") as third:
        assert not third


def test_the_drain_is_on_the_beat_schedule():
    entry = django_settings.CELERY_BEAT_SCHEDULE["drain-outbox"]
    assert entry["task"] == "core.drain_outbox" and entry["schedule"] <= 30
    project_app.loader.import_default_modules()
    assert "core.drain_outbox" in project_app.tasks


def test_operators_watch_the_backlog_in_the_admin(client, dead_broker):
    from accounts.models import User

    enqueue_on_commit("rewards.issue_rewards_for_conversion", 7)
    OutboxMessage.objects.create(task="rewards.send_payout_sent_email", failed_at=timezone.now())
    admin = User.objects.create_superuser(email="ops@example.com", password="x")
    client.force_login(admin)
    response = client.get("/admin/core/outboxmessage/?status=waiting")
    assert [m.task for m in response.context["cl"].result_list] == [
        "rewards.issue_rewards_for_conversion"
    ]
    assert "Connection refused" in response.content.decode()
    failed = OutboxMessage.objects.get(failed_at__isnull=False)
    response = client.post(
        "/admin/core/outboxmessage/",
        {"action": "send_again", "_selected_action": [failed.pk]},
    )
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.failed_at is None and failed.next_attempt_at <= timezone.now()


def test_off_postgresql_the_relay_sends_at_the_commit_without_waiting_for_the_drain(
    own_queue, broker, monkeypatch, settings, caplog
):
    """bin/dev's SQLite has no arrays or SKIP LOCKED: the relay claims each row with an UPDATE
    that finds it unsent (a row a drain took is left to it), and publishes at the commit. It
    used to fail there on every commit, and every reward and webhook waited for the drain.
    This runs that portable path on PostgreSQL (its logic); tests/test_smoke_dev.py runs it
    on bin/dev's real SQLite."""
    settings.OUTBOX_LEASE_SECONDS = 60
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with transaction.atomic():
        enqueue_on_commit("rewards.issue_rewards_for_conversion", 7)
        enqueue_on_commit("rewards.issue_rewards_for_conversion", 8)
    rows = list(OutboxMessage.objects.order_by("id"))
    assert [(r.sends, r.last_error) for r in rows] == [(1, ""), (1, "")]
    assert all(r.next_attempt_at - r.sent_at == timedelta(seconds=60) for r in rows)
    sent = sorted(f"outbox-{r.pk}" for r in rows)
    assert sorted(queued_task_ids(broker, own_queue)) == sent
    assert "kept for the drain" not in caplog.text

    # A row a drain already sent is not claimed (nor sent) again by a late relay.
    core.tasks._relay_many([r.pk for r in rows])
    assert sorted(queued_task_ids(broker, own_queue)) == sent
    assert [r.sends for r in OutboxMessage.objects.order_by("id")] == [1, 1]
