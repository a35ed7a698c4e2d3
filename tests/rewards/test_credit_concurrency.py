"""
Concurrent redemptions are serialized by the account's row lock, on the real PostgreSQL:
two threads, each with its own database connection, each in its own transaction.
"""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.utils import timezone

from rewards.models import LedgerEntry
from rewards.selectors import credit_balance
from rewards.services import credit_account_for, credit_grant, credit_redeem
from tests.factories import ReferralSourceFactory
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def funded_account(acme):
    source = ReferralSourceFactory(organization=acme, name="Rita", kind="customer")
    account = credit_account_for(organization_id=acme.pk, source=source)
    for amount in ("60.00", "40.00"):  # two lots: a lost update would show on either
        credit_grant(
            account=account,
            amount=Decimal(amount),
            expires_at=timezone.now() + timedelta(days=30),
            idempotency_key=f"seed:{amount}",
        )
    return account


def run_in_thread(target) -> threading.Thread:
    def wrapped():
        try:
            target()
        finally:
            connections.close_all()  # this thread's own connection

    thread = threading.Thread(target=wrapped)
    thread.start()
    return thread


def waiting_on_a_lock() -> int:
    """Other sessions of this database blocked on a row lock right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_only_one_of_two_concurrent_redemptions_of_80_out_of_100_succeeds(funded_account):
    results = {}
    first_holds_lock = threading.Event()
    release_first = threading.Event()

    def first():
        with transaction.atomic():
            results["first"] = credit_redeem(
                account=funded_account, amount=Decimal("80.00"), order_id="order-A"
            )
            first_holds_lock.set()
            release_first.wait(timeout=30)  # commit only once the second is blocked

    def second():
        try:
            results["second"] = credit_redeem(
                account=funded_account, amount=Decimal("80.00"), order_id="order-B"
            )
        except ValidationError as error:
            results["second"] = error

    one = run_in_thread(first)
    assert first_holds_lock.wait(timeout=30)
    two = run_in_thread(second)
    wait_for(lambda: waiting_on_a_lock() >= 1)  # the second waits on the account's lock
    release_first.set()
    one.join(timeout=30)
    two.join(timeout=30)

    assert results["first"] == Decimal("80.00")
    assert isinstance(results["second"], ValidationError)
    assert results["second"].message_dict == {"amount": ["Only €20.00 of credit is available."]}
    assert credit_balance(account=funded_account) == Decimal("20.00")
    assert LedgerEntry.objects.filter(kind="redeem").count() == 2  # 60 + 20 from two lots


def test_racing_redemptions_never_overspend(funded_account):
    barrier = threading.Barrier(2)
    outcomes = []

    def redeem(order_id):
        def run():
            barrier.wait(timeout=30)
            try:
                outcomes.append(
                    credit_redeem(
                        account=funded_account, amount=Decimal("80.00"), order_id=order_id
                    )
                )
            except ValidationError as error:
                outcomes.append(error)

        return run

    threads = [run_in_thread(redeem("order-A")), run_in_thread(redeem("order-B"))]
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(type(o).__name__ for o in outcomes) == ["Decimal", "ValidationError"]
    assert credit_balance(account=funded_account) == Decimal("20.00")


def test_the_same_order_redeemed_twice_at_once_debits_once(funded_account):
    barrier = threading.Barrier(2)
    outcomes = []

    def run():
        barrier.wait(timeout=30)
        outcomes.append(
            credit_redeem(account=funded_account, amount=Decimal("80.00"), order_id="order-A")
        )

    threads = [run_in_thread(run), run_in_thread(run)]
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes == [Decimal("80.00"), Decimal("80.00")]
    assert credit_balance(account=funded_account) == Decimal("20.00")
