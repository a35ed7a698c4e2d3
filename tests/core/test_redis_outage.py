"""
Redis crashes while friends follow links and staff record a purchase: nothing answers 500,
no click is lost, and once Redis is back the outbox delivers the reward tasks (including
one Redis lost in the crash) and a real worker issues each reward exactly once.

The test runs a redis-server of its own (no persistence: a crash loses every queued
message) and points the cache and the publishing Celery app at it; the worker is a real
``celery worker`` subprocess on that broker and the test database.
"""

from decimal import Decimal

import pytest
from django.conf import settings as django_settings

import core.tasks
from core.models import OutboxMessage
from core.tasks import drain_outbox
from portal.links import FRIEND_EMAIL_TASK
from referrals.models import Click, Conversion, Program, Referral
from referrals.services import REWARD_TASK, event_record, referral_create
from rewards.models import Reward
from rewards.selectors import credit_balance
from rewards.services import reward_grant_manual
from tests.conftest import PASSWORD
from tests.helpers import form_datetime, wait_for
from tests.workers import (
    RedisServer,
    celery_app,
    free_port,
    queued_task_ids,
    start_worker,
    stop_worker,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def queue():
    return f"{django_settings.CELERY_TASK_DEFAULT_QUEUE}-outage"


@pytest.fixture
def on_own_redis(redis_server, queue, settings, monkeypatch):
    """The cache and the broker the app publishes to are the test's own redis-server."""
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.FailSafeRedisCache",
            "LOCATION": f"redis://127.0.0.1:{redis_server.port}/1",
            "OPTIONS": {**django_settings.CACHE_REDIS_OPTIONS, "RETRY_AFTER": 0.2},
        }
    }
    # Every sent row that no worker ran is due again at once (as after its lease).
    settings.OUTBOX_LEASE_SECONDS = 0
    app = celery_app(redis_server.url, queue)
    monkeypatch.setattr(core.tasks, "celery_app", lambda: app)
    yield redis_server
    app.close()


@pytest.fixture
def referral_for_fay(program, source):
    return referral_create(
        program=program, source=source, channel="in_person", friend_email="fay@example.com"
    )


def reward_row(conversion: Conversion) -> OutboxMessage | None:
    return OutboxMessage.objects.filter(task=REWARD_TASK, args=[conversion.pk]).first()


def welcome_row(email: str) -> OutboxMessage:
    """The outbox row of the welcome email a friend gets for leaving their email."""
    referral = Referral.objects.get(friend_email=email)
    return OutboxMessage.objects.get(task=FRIEND_EMAIL_TASK, args__0=referral.pk)


def test_a_redis_crash_loses_no_click_and_no_reward(
    on_own_redis, client, acme, bob, program, source, link, fixed_rule, queue, tmp_path
):
    redis = on_own_redis
    redirecting = Program.objects.create(
        organization=acme,
        name="Straight to the shop",
        landing_mode="redirect",
        destination_url="https://shop.example.com/",
    )
    from referrals.services import link_get_or_create

    shop_link = link_get_or_create(program=redirecting, source=source)
    assert client.get(f"/r/{link.code}").status_code == 200  # cached while Redis is up
    lead = client.post(
        f"/r/{link.code}", {"name": "Ann", "email": "ann@example.com"}, REMOTE_ADDR="10.0.0.1"
    )
    assert lead.status_code == 200

    # A purchase while Redis is up: its reward task is accepted by the broker...
    first, _ = event_record(
        organization=acme,
        kind="purchase",
        external_id="order-A",
        amount=Decimal("100"),
        email="ann@example.com",
    )
    assert reward_row(first).sent_at is not None
    # The broker holds Ann's welcome email and the reward task.
    assert sorted(queued_task_ids(redis.client(), queue)) == sorted(
        [f"outbox-{welcome_row('ann@example.com').pk}", f"outbox-{reward_row(first).pk}"]
    )

    # ...and lost: Redis crashes before any worker took it.
    redis.crash()

    # Friends keep following links: every click answered and stored.
    for _ in range(3):
        response = client.get(f"/r/{link.code}")
        assert response.status_code == 200 and "Bank with us" in response.content.decode()
    for _ in range(2):
        response = client.get(f"/r/{shop_link.code}")
        assert response.status_code == 302
        assert response["Location"].startswith("https://shop.example.com/?ref=")
    assert Click.objects.filter(link=link).count() == 4
    assert Click.objects.filter(link=shop_link).count() == 2
    # A friend leaves their email on the landing page.
    lead = client.post(
        f"/r/{link.code}", {"name": "Ben", "email": "ben@example.com"}, REMOTE_ADDR="10.0.0.2"
    )
    assert lead.status_code == 200 and lead.context["form"].is_valid()

    # Staff sign in (sessions are in PostgreSQL, rate limits in the cache) and record a sale.
    response = client.post("/accounts/login/", {"login": bob.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/app/").status_code == 200
    sale = {
        "kind": "purchase",
        "external_id": "order-B",
        "amount": "80",
        "occurred_at": form_datetime(tz="Europe/Amsterdam"),
        "email": "ben@example.com",
    }
    response = client.post("/app/events/new/", sale, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Purchase credited to Sam Source." in page
    assert "its reward will follow automatically once the queue is back" in page
    second = Conversion.objects.get(external_id="order-B")
    waiting = reward_row(second)
    assert waiting.sent_at is None
    # The first refusal (Ben's welcome email) is recorded; the relay then pauses, so the
    # reward task waits for the drain untried.
    assert "Connection refused" in welcome_row("ben@example.com").last_error
    # Sent again, the same event is "already recorded", and still says its reward follows.
    page = client.post("/app/events/new/", sale, follow=True).content.decode()
    assert "Event order-B was already recorded." in page
    assert "its reward will follow automatically" in page

    # A drain while Redis is down sends nothing, loses nothing, raises nothing.
    assert drain_outbox() == 0
    assert OutboxMessage.objects.filter(task=REWARD_TASK).count() == 2
    assert welcome_row("ben@example.com").sent_at is None

    # Redis is back, empty. The drain sends both reward tasks and both welcome emails, the
    # ones lost in the crash included.
    redis.start()
    assert redis.client().llen(queue) == 0
    assert drain_outbox() == 4
    assert sorted(queued_task_ids(redis.client(), queue)) == sorted(
        [
            f"outbox-{reward_row(first).pk}",
            f"outbox-{reward_row(second).pk}",
            f"outbox-{welcome_row('ann@example.com').pk}",
            f"outbox-{welcome_row('ben@example.com').pk}",
        ]
    )

    worker = start_worker(
        broker_url=redis.url,
        queue=queue,
        tmp_path=tmp_path,
        name="outage",
        OUTBOX_LEASE_SECONDS="300",
    )
    try:
        wait_for(
            lambda: (
                (
                    Reward.objects.filter(
                        conversion__in=[first, second], notified_at__isnull=False
                    ).count()
                    == 2
                    and not OutboxMessage.objects.exists()
                )
                or worker.poll() is not None
            ),
            timeout=90,
        )
    finally:
        stop_worker(worker)
    log = (tmp_path / "outage.log").read_text()
    assert not OutboxMessage.objects.exists(), log  # every queued task ran, emails included

    # Exactly one reward each, and nothing left for a later drain.
    assert Reward.objects.filter(conversion=first).count() == 1
    assert Reward.objects.filter(conversion=second).count() == 1
    assert credit_balance(account=source.credit_account) == Decimal("50.00")
    assert drain_outbox() == 0
    assert Click.objects.count() == 6


def test_staff_pages_that_queue_work_answer_while_the_broker_is_down(
    login, bob, acme, alice, source, referral_for_fay, monkeypatch
):
    app = celery_app(f"redis://127.0.0.1:{free_port()}/0", "nowhere")
    monkeypatch.setattr(core.tasks, "celery_app", lambda: app)
    client = login(bob)
    response = client.post(
        f"/app/referrals/{referral_for_fay.pk}/conversions/",
        {
            "kind": "purchase",
            "external_id": "o-1",
            "amount": "50",
            "occurred_at": form_datetime(tz="Europe/Amsterdam"),
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "its reward will follow automatically" in response.content.decode()
    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("20"),
        note="x",
        actor=alice,
        reward_kind="cash",
    )
    fingerprint = (
        client.get("/app/payouts/batch/", {"method": "bank_transfer"})
        .context["preview"]
        .fingerprint
    )
    response = client.post(
        "/app/payouts/batch/", {"method": "bank_transfer", "fingerprint": fingerprint}
    )
    assert response.status_code == 302
    assert set(
        OutboxMessage.objects.filter(sent_at__isnull=True).values_list("task", flat=True)
    ) >= {REWARD_TASK, "rewards.start_payout_batch"}
    app.close()
