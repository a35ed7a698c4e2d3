"""
Expiry closes every lot past its date with an ``expire`` entry for what was left, in
set-based batches: one SQL statement per batch, never a loop over rows in Python.
"""

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rewards.models import CreditLot, LedgerEntry
from rewards.selectors import credit_balance
from rewards.services import credit_redeem, expire_credit_lots


def test_it_expires_what_is_left_of_a_lot_past_its_date(account, grant):
    lot = grant("30.00", days=1)
    credit_redeem(account=account, amount=Decimal("12.50"), order_id="o-1")
    later = timezone.now() + timedelta(days=2)
    assert expire_credit_lots(now=later) == 1
    lot.refresh_from_db()
    assert (lot.remaining, lot.expired_at) == (Decimal("0"), later)
    entry = LedgerEntry.objects.get(kind="expire")
    assert (entry.amount, entry.lot_id, entry.account_id, entry.at) == (
        Decimal("-17.50"),
        lot.pk,
        account.pk,
        lot.expires_at,  # when the credit expired, not when the task got to it
    )
    assert credit_balance(account=account) == Decimal("0")


def test_a_late_run_dates_the_breakage_on_the_day_the_credit_expired(account, grant):
    """After an outage the hourly task runs days late: the breakage it writes belongs to the
    day the credit expired (the analytics read it by the entry's date), not the day of the
    run. The lot says when it was closed."""
    from analytics.period import Period
    from analytics.report import reward_cost

    lot = grant("30.00", days=1)
    run = lot.expires_at + timedelta(days=5)
    assert expire_credit_lots(now=run) == 1
    lot.refresh_from_db()
    assert lot.expired_at == run
    assert LedgerEntry.objects.get(kind="expire").at == lot.expires_at
    tz = lot.organization.timezone
    expiry_day = timezone.localtime(lot.expires_at, ZoneInfo(tz)).date()
    run_day = timezone.localtime(run, ZoneInfo(tz)).date()
    on = {}
    for day in (expiry_day, run_day):
        period = Period(start=day, end=day, tz=tz)
        on[day] = reward_cost(organization=lot.organization, period=period)[None].breakage
    assert on == {expiry_day: Decimal("30.00"), run_day: Decimal("0")}


def test_it_leaves_lots_that_have_not_expired(account, grant):
    grant("30.00", days=10)
    assert expire_credit_lots(now=timezone.now() + timedelta(days=9)) == 0
    assert not LedgerEntry.objects.filter(kind="expire").exists()


def test_it_expires_a_lot_once(account, grant):
    grant("30.00", days=1)
    later = timezone.now() + timedelta(days=2)
    assert expire_credit_lots(now=later) == 1
    assert expire_credit_lots(now=later + timedelta(days=1)) == 0
    assert LedgerEntry.objects.filter(kind="expire").count() == 1


def test_a_lot_spent_in_full_needs_no_expiry_entry(account, grant):
    grant("30.00", days=1)
    credit_redeem(account=account, amount=Decimal("30.00"), order_id="o-1")
    assert expire_credit_lots(now=timezone.now() + timedelta(days=2)) == 0


def test_it_works_in_batches_of_one_statement_each(account, grant):
    for _ in range(5):
        grant("10.00", days=1)
    grant("10.00", days=30)
    with CaptureQueriesContext(connection) as captured:
        expired = expire_credit_lots(now=timezone.now() + timedelta(days=2), batch_size=2)
    assert expired == 5
    statements = [q["sql"] for q in captured.captured_queries if "rewards_creditlot" in q["sql"]]
    # 3 batches (2 + 2 + 1) and the empty one that ends the run: each a single statement.
    assert len(statements) == 4
    assert all(s.lstrip().startswith("WITH batch AS") for s in statements)
    assert CreditLot.objects.filter(expired_at__isnull=False).count() == 5
    assert credit_balance(account=account) == Decimal("10.00")
