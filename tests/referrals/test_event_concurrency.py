"""
Deliveries of events racing each other, for real: threads with their own PostgreSQL
connections, each call in its own transaction, all released at once.

Fifty deliveries of one purchase leave one customer, one referral, one purchase, one
conversion and one reward task, with a referral code or without, whether the friend is
already a customer or not: the losers write nothing. Different orders of one friend nobody
has seen yet, arriving at once, make one customer and one referral, won once.
"""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections, transaction
from django.utils import timezone

from accounts.models import Customer
from referrals.models import Conversion, Purchase, Referral
from referrals.services import REWARD_TASK, event_record, link_get_or_create, referral_create
from rewards.models import Reward
from rewards.services import issue_rewards_for_conversion, rule_create

pytestmark = pytest.mark.django_db(transaction=True)

DELIVERIES = 50
FRIEND = "fay@example.com"


@pytest.fixture
def queued(monkeypatch):
    """The tasks services queue, recorded when their transaction commits (not sent)."""
    calls = []
    lock = threading.Lock()

    def enqueue_on_commit(name, *args):
        def record():
            with lock:
                calls.append((name, args))

        transaction.on_commit(record)

    monkeypatch.setattr("referrals.services.referrals.enqueue_on_commit", enqueue_on_commit)
    # What the rewards queue (their emails) stays in the outbox: a Celery worker another
    # test started must not run it against this database while the test tears it down.
    monkeypatch.setattr("core.tasks._relay", lambda pk: None)
    return calls


def all_at_once(count: int, deliver) -> tuple[list, list]:
    """Run ``deliver(n)`` in ``count`` threads released together; (results, errors)."""
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run(n):
        try:
            barrier.wait(timeout=30)
            results.append(deliver(n))
        except Exception as error:  # noqa: BLE001 - every failure is reported by the test
            errors.append(error)
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results, errors


@pytest.mark.parametrize("friend_known", [False, True], ids=["unknown-friend", "known-friend"])
@pytest.mark.parametrize("by_code", [False, True], ids=["by-email", "by-code"])
def test_fifty_concurrent_deliveries_of_one_purchase_record_it_once(
    acme, program, source, queued, by_code, friend_known
):
    rule_create(program=program, beneficiary="referrer", trigger="first_purchase", amount=25)
    rule_create(
        program=program, beneficiary="referrer", trigger="advocacy", formula="percent", percent=2
    )
    link = link_get_or_create(program=program, source=source)
    if not by_code:  # an introduction the purchase is matched to by email
        referral_create(program=program, source=source, channel="phone", friend_email=FRIEND)
    if friend_known:
        Customer.objects.create(
            organization=acme, email=FRIEND, first_seen_at=timezone.now() - timedelta(days=1)
        )
    if friend_known and not by_code:  # they signed up after the introduction: not known before
        Customer.objects.update(first_seen_at=timezone.now())

    def deliver(n):
        return event_record(
            organization=acme,
            kind="purchase",
            external_id="order-1",
            amount=Decimal("100"),
            email=FRIEND.upper() if n % 2 else FRIEND,
            code=link.code if by_code else "",
        )

    results, errors = all_at_once(DELIVERIES, deliver)

    assert errors == []
    assert sum(created for _, created in results) == 1
    [conversion] = Conversion.objects.all()
    assert {c.pk for c, _ in results} == {conversion.pk}
    assert Customer.objects.filter(email__iexact=FRIEND).count() == 1
    assert Referral.objects.count() == 1
    assert Purchase.objects.count() == 1
    # A friend the code brings while a customer already is advocacy; otherwise a new customer.
    assert conversion.kind == ("advocacy" if by_code and friend_known else "purchase")
    assert [args for name, args in queued if name == REWARD_TASK] == [(conversion.pk,)]
    issue_rewards_for_conversion(conversion_id=conversion.pk)
    issue_rewards_for_conversion(conversion_id=conversion.pk)
    [reward] = Reward.objects.all()
    expected = Decimal("2.00") if conversion.kind == "advocacy" else Decimal("25.00")
    assert (reward.amount, reward.source_id) == (expected, source.pk)


@pytest.mark.parametrize("by_code", [False, True], ids=["by-email", "by-code"])
def test_ten_different_orders_of_one_unseen_friend_at_once_win_them_once(
    acme, program, source, queued, by_code
):
    link = link_get_or_create(program=program, source=source)
    if not by_code:
        referral_create(program=program, source=source, channel="phone", friend_email=FRIEND)

    def deliver(n):
        return event_record(
            organization=acme,
            kind="purchase",
            external_id=f"order-{n}",
            amount=Decimal("10"),
            email=FRIEND,
            code=link.code if by_code else "",
        )

    results, errors = all_at_once(10, deliver)

    assert errors == []
    assert all(created for _, created in results)
    assert Customer.objects.count() == 1 and Referral.objects.count() == 1
    assert Purchase.objects.count() == 10
    assert Conversion.objects.filter(is_first_purchase=True).count() == 1
    assert Conversion.objects.filter(kind="purchase").count() == 10
