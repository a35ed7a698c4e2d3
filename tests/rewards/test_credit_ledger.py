"""
The credit ledger's invariants: entries are appended, never edited; the balance is the sum
of the entries and never negative; redemptions take the lots that expire first; one order
id redeems once.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from rewards.models import CreditLot, LedgerEntry
from rewards.selectors import credit_available, credit_balance
from rewards.services import credit_grant, credit_redeem


def assert_lots_match_entries(account):
    """What is left of every lot is exactly the sum of its entries."""
    for lot in CreditLot.objects.filter(account=account):
        total = lot.entries.aggregate(total=Sum("amount"))["total"]
        assert total == lot.remaining, lot


def test_a_grant_opens_a_lot_and_writes_one_entry(account, grant):
    lot = grant("30.00", days=10)
    [entry] = LedgerEntry.objects.filter(account=account)
    assert (entry.kind, entry.amount, entry.lot_id) == ("grant", Decimal("30.00"), lot.pk)
    assert credit_balance(account=account) == Decimal("30.00")


def test_the_same_grant_key_twice_grants_once(account, grant):
    first = grant("30.00", key="promo-1")
    second = grant("30.00", key="promo-1")
    assert first.pk == second.pk
    assert credit_balance(account=account) == Decimal("30.00")


def test_a_grant_must_be_above_zero(account):
    with pytest.raises(ValidationError) as caught:
        credit_grant(
            account=account,
            amount=Decimal("0"),
            expires_at=timezone.now() + timedelta(days=1),
            idempotency_key="zero",
        )
    assert sorted(caught.value.message_dict) == ["amount"]


def test_redemption_consumes_the_lot_that_expires_first(account, grant):
    late = grant("50.00", days=300)
    soon = grant("20.00", days=5)
    middle = grant("20.00", days=60)
    assert credit_redeem(account=account, amount=Decimal("30.00"), order_id="o-1") == Decimal(
        "30.00"
    )
    for lot in (late, soon, middle):
        lot.refresh_from_db()
    assert (soon.remaining, middle.remaining, late.remaining) == (
        Decimal("0"),
        Decimal("10.00"),
        Decimal("50.00"),
    )
    entries = LedgerEntry.objects.filter(kind="redeem").order_by("id")
    assert [(e.lot_id, e.amount) for e in entries] == [
        (soon.pk, Decimal("-20.00")),
        (middle.pk, Decimal("-10.00")),
    ]
    assert credit_balance(account=account) == Decimal("60.00")
    assert_lots_match_entries(account)


def test_it_never_takes_the_balance_below_zero(account, grant):
    grant("30.00")
    with pytest.raises(ValidationError) as caught:
        credit_redeem(account=account, amount=Decimal("30.01"), order_id="o-1")
    assert caught.value.message_dict == {"amount": ["Only €30.00 of credit is available."]}
    assert credit_balance(account=account) == Decimal("30.00")
    assert not LedgerEntry.objects.filter(kind="redeem").exists()


def test_credit_past_its_date_cannot_be_spent_even_before_the_expiry_task(account, grant):
    grant("30.00", days=-1)  # expired yesterday; the expiry task has not run yet
    grant("10.00", days=5)
    assert credit_balance(account=account) == Decimal("40.00")
    assert credit_available(account=account) == Decimal("10.00")
    with pytest.raises(ValidationError) as caught:
        credit_redeem(account=account, amount=Decimal("20.00"), order_id="o-1")
    assert sorted(caught.value.message_dict) == ["amount"]
    assert credit_redeem(account=account, amount=Decimal("10.00"), order_id="o-2") == Decimal(
        "10.00"
    )


def test_the_same_order_redeems_once(account, grant):
    grant("100.00")
    first = credit_redeem(account=account, amount=Decimal("40.00"), order_id="order-7")
    again = credit_redeem(account=account, amount=Decimal("40.00"), order_id="order-7")
    assert first == again == Decimal("40.00")
    assert credit_balance(account=account) == Decimal("60.00")
    assert LedgerEntry.objects.filter(kind="redeem").count() == 1


def test_an_order_id_reused_for_another_amount_is_refused(account, grant):
    grant("100.00")
    credit_redeem(account=account, amount=Decimal("40.00"), order_id="order-7")
    with pytest.raises(ValidationError) as caught:
        credit_redeem(account=account, amount=Decimal("50.00"), order_id="order-7")
    assert caught.value.message_dict == {"order_id": ["Order order-7 already redeemed €40.00."]}
    assert credit_balance(account=account) == Decimal("60.00")


@pytest.mark.parametrize(
    ("amount", "order_id", "field"),
    [
        (Decimal("0"), "o-1", "amount"),
        (Decimal("-5"), "o-1", "amount"),
        (Decimal("5"), " ", "order_id"),
    ],
)
def test_a_redemption_needs_an_amount_and_an_order_id(account, grant, amount, order_id, field):
    grant("10.00")
    with pytest.raises(ValidationError) as caught:
        credit_redeem(account=account, amount=amount, order_id=order_id)
    assert field in caught.value.message_dict


def test_the_database_refuses_a_lot_below_zero(account, grant):
    lot = grant("10.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditLot.objects.filter(pk=lot.pk).update(remaining=Decimal("-1"))


def test_every_movement_is_an_entry_that_sums_to_the_lots(account, grant):
    from rewards.services import expire_credit_lots

    grant("30.00", days=1)
    grant("30.00", days=100)
    credit_redeem(account=account, amount=Decimal("45.00"), order_id="o-1")
    expire_credit_lots(now=timezone.now() + timedelta(days=2))
    assert_lots_match_entries(account)
    kinds = list(LedgerEntry.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["grant", "grant", "redeem", "redeem"]  # the first lot was spent in full
    assert credit_balance(account=account) == Decimal("15.00")


@pytest.mark.parametrize("mismatch", ["account", "organization"])
def test_the_database_refuses_an_entry_on_a_lot_of_another_account_or_organization(
    account, grant, acme, globex, mismatch
):
    """One composite foreign key (lot, account, organization) -> the lot's own: an entry
    cannot move credit on a lot while naming another account or tenant."""
    from accounts.models import Customer
    from rewards.services import credit_account_for

    lot = grant("30.00", days=10)
    other = Customer.objects.create(organization=acme, email="other@example.com")
    fields = {
        "organization_id": lot.organization_id,
        "account_id": lot.account_id,
        "lot_id": lot.pk,
        "kind": LedgerEntry.Kind.ADJUSTMENT,
        "amount": Decimal("-1.00"),
        "idempotency_key": "mismatch",
    }
    if mismatch == "account":
        fields["account_id"] = credit_account_for(organization_id=acme.pk, customer=other).pk
    else:
        fields["organization_id"] = globex.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(**fields)
        # The key is checked at commit (deferred, like Django's own); check it now.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert not LedgerEntry.objects.filter(idempotency_key="mismatch").exists()
