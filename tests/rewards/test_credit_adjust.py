"""Staff adjust credit by hand: written as adjustment entries, never edits, never below zero."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from rewards.models import LedgerEntry
from rewards.selectors import credit_balance
from rewards.services import credit_account_for, credit_adjust, credit_grant


@pytest.fixture
def account(source):
    account = credit_account_for(organization_id=source.organization_id, source=source)
    credit_grant(
        account=account,
        amount=Decimal("30"),
        expires_at=timezone.now() + timedelta(days=9),
        idempotency_key="g1",
    )
    return account


def test_it_adds_credit_as_a_lot_of_its_own(account, bob):
    moved = credit_adjust(
        account=account, amount=Decimal("12.50"), note="Goodwill", idempotency_key="k1", actor=bob
    )
    assert moved == Decimal("12.50")
    entry = LedgerEntry.objects.get(account=account, kind="adjustment")
    assert entry.amount == Decimal("12.50") and "bob@example.com: Goodwill" in entry.reference
    assert entry.lot.remaining == Decimal("12.50")
    assert credit_balance(account=account) == Decimal("42.50")


def test_it_takes_credit_away_first_to_expire_first(account, bob):
    credit_grant(
        account=account,
        amount=Decimal("20"),
        expires_at=timezone.now() + timedelta(days=99),
        idempotency_key="g2",
    )
    assert credit_adjust(
        account=account, amount=Decimal("-35"), note="Error", idempotency_key="k1", actor=bob
    ) == Decimal("-35")
    lots = {lot.amount: lot.remaining for lot in account.lots.all()}
    assert lots == {Decimal("30.00"): Decimal("0.00"), Decimal("20.00"): Decimal("15.00")}
    assert credit_balance(account=account) == Decimal("15.00")


def test_it_never_takes_the_balance_below_zero(account, bob):
    with pytest.raises(ValidationError) as error:
        credit_adjust(
            account=account,
            amount=Decimal("-30.01"),
            note="Too much",
            idempotency_key="k1",
            actor=bob,
        )
    assert "amount" in error.value.message_dict
    assert credit_balance(account=account) == Decimal("30.00")


def test_the_same_key_changes_nothing_twice(account, bob):
    for _ in range(2):
        credit_adjust(
            account=account, amount=Decimal("-5"), note="Fee", idempotency_key="k1", actor=bob
        )
    assert credit_balance(account=account) == Decimal("25.00")


@pytest.mark.parametrize("amount,note", [(Decimal("0"), "Zero"), (Decimal("5"), " ")])
def test_it_needs_an_amount_and_a_reason(account, bob, amount, note):
    with pytest.raises(ValidationError) as caught:
        credit_adjust(account=account, amount=amount, note=note, idempotency_key="k1", actor=bob)
    assert sorted(caught.value.message_dict) == ["amount" if amount == 0 else "note"]
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()


def test_staff_adjust_from_the_balance_page(login, bob, charlie, eve, account):
    url = f"/app/balances/{account.pk}/adjust/"
    assert (
        login(charlie).post(url, {"amount": "5", "note": "x", "adjust_key": "a"}).status_code == 403
    )
    assert login(eve).post(url, {"amount": "5", "note": "x", "adjust_key": "a"}).status_code == 404
    client = login(bob)
    response = client.post(url, {"amount": "-31", "note": "Too much", "adjust_key": "a"})
    assert response.status_code == 400 and "can be taken away" in response.content.decode()
    assert (
        client.post(
            url, {"amount": "-10", "note": "Duplicate grant", "adjust_key": "b"}
        ).status_code
        == 302
    )
    assert credit_balance(account=account) == Decimal("20.00")
