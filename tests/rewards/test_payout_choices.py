"""
A source chooses how it is paid and how much: its bank details are checked and kept, a
payout is of a chosen amount bounded by what is payable, and it carries the bank details
as they were when it was asked for.
"""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from rewards.models import Payout, PayoutBalanceEntry, PayoutDetails, Reward
from rewards.selectors import default_payout_method, source_earnings
from rewards.services import (
    credit_account_for,
    payout_amount_clean,
    payout_details_update,
    payout_request,
    reward_grant_manual,
)
from tests.factories import ReferralSourceFactory

IBAN = "NL91ABNA0417164300"


@pytest.fixture
def owe(acme, alice):
    def _owe(source, amount: str, kind: str = "cash"):
        return reward_grant_manual(
            organization=acme,
            source=source,
            amount=Decimal(amount),
            note="Test",
            actor=alice,
            reward_kind=kind,
        )

    return _owe


def bank(source, **fields):
    defaults = {"method": "bank_transfer", "account_holder": "Sam Source", "iban": IBAN}
    return payout_details_update(source=source, **{**defaults, **fields})


# Bank details -----------------------------------------------------------------------------


def test_bank_details_are_kept_normalized(source):
    details = bank(source, iban="nl91 abna 0417 1643 00", bic="abnanl2a")
    details.refresh_from_db()
    assert (details.iban, details.bic, details.iban_masked) == (
        IBAN,
        "ABNANL2A",
        "NL•• •••• 4300",
    )
    assert default_payout_method(source=source) == "bank_transfer"


def test_a_bad_iban_is_refused_and_nothing_is_saved(source):
    with pytest.raises(ValidationError) as caught:
        bank(source, iban="NL91ABNA0417164301")
    assert "iban" in caught.value.message_dict
    assert not PayoutDetails.objects.exists()


def test_a_bank_transfer_needs_an_account_holder_and_an_iban(source):
    with pytest.raises(ValidationError) as caught:
        bank(source, account_holder="", iban="")
    assert set(caught.value.message_dict) == {"account_holder", "iban"}


def test_a_gift_card_needs_no_bank_account_but_an_email(acme, source):
    assert bank(source, method="gift_card", account_holder="", iban="").method == "gift_card"
    silent = ReferralSourceFactory(organization=acme, name="No Mail", kind="agent", email="")
    with pytest.raises(ValidationError) as caught:
        bank(silent, method="gift_card", account_holder="", iban="")
    assert "method" in caught.value.message_dict


def test_an_unknown_method_is_refused(source):
    with pytest.raises(ValidationError):
        bank(source, method="bitcoin")


# The amount -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, message",
    [
        ("0", "more than zero"),
        ("-5", "more than zero"),
        ("10.001", "whole cents"),
        ("120.01", "At most €120.00"),
        ("lots", "Give an amount"),
        ("NaN", "Give an amount"),
        ("Infinity", "Give an amount"),
    ],
)
def test_a_payout_amount_is_bounded_by_what_is_payable(amount, message):
    with pytest.raises(ValidationError) as caught:
        payout_amount_clean(amount, payable=Decimal("120.00"), currency="EUR")
    assert message in caught.value.message_dict["amount"][0]


@pytest.mark.parametrize("amount", ["0.01", "50", "50,5", "120.00"])
def test_any_amount_up_to_the_payable_balance_is_accepted(amount):
    value = payout_amount_clean(amount, payable=Decimal("120.00"), currency="EUR")
    assert Decimal("0") < value <= Decimal("120.00")


def test_a_chosen_amount_is_paid_and_the_rest_stays_payable(source, owe):
    first, second, third = owe(source, "40.00"), owe(source, "40.00"), owe(source, "40.00")
    bank(source)
    payout = payout_request(source=source, amount="90.00", require_bank_account=True)
    assert (payout.amount, payout.currency, payout.iban) == (Decimal("90.00"), "EUR", IBAN)
    account = credit_account_for(organization_id=source.organization_id, source=source)
    assert source_earnings(source=source, account=account).payable == Decimal("30.00")
    # The payout carries the rewards it covers whole, oldest first; the third waits.
    carried = set(Reward.objects.filter(payout=payout).values_list("pk", flat=True))
    assert carried == {first.pk, second.pk}
    assert Reward.objects.get(pk=third.pk).payout is None


def test_more_than_is_payable_is_refused_and_changes_nothing(source, owe):
    owe(source, "40.00")
    bank(source)
    with pytest.raises(ValidationError) as caught:
        payout_request(source=source, amount="40.01")
    assert caught.value.message_dict["amount"] == ["At most €40.00 can be paid out now."]
    assert not Payout.objects.exists()
    assert PayoutBalanceEntry.objects.filter(kind="payout").count() == 0


def test_the_same_key_twice_is_one_payout(source, owe):
    owe(source, "100.00")
    bank(source)
    one = payout_request(source=source, amount="30.00", idempotency_key="portal:1:abc")
    two = payout_request(source=source, amount="30.00", idempotency_key="portal:1:abc")
    assert one.pk == two.pk and Payout.objects.count() == 1


def test_the_portal_refuses_a_bank_transfer_without_bank_details(source, owe):
    owe(source, "40.00")
    with pytest.raises(ValidationError) as caught:
        payout_request(source=source, method="bank_transfer", require_bank_account=True)
    assert "Add the bank account" in caught.value.messages[0]
    assert not Payout.objects.exists()


def test_a_payout_keeps_the_bank_details_it_was_asked_with(source, owe):
    owe(source, "40.00")
    bank(source)
    payout = payout_request(source=source)
    bank(source, iban="DE89370400440532013000", account_holder="Sam S.")
    payout.refresh_from_db()
    assert (payout.iban, payout.account_holder) == (IBAN, "Sam Source")


def test_a_payout_follows_the_method_the_source_chose(source, owe):
    owe(source, "40.00")
    bank(source, method="credit", account_holder="", iban="")
    assert payout_request(source=source).method == "credit"


# What the source earned ------------------------------------------------------------------


def test_earnings_are_split_into_pending_approved_paid_and_payable(source, owe):
    owe(source, "40.00")
    held = owe(source, "15.00")
    Reward.objects.filter(pk=held.pk).update(status="pending")
    paid = owe(source, "7.50")
    Reward.objects.filter(pk=paid.pk).update(status="fulfilled")
    void = owe(source, "99.00")
    Reward.objects.filter(pk=void.pk).update(status="void")
    account = credit_account_for(organization_id=source.organization_id, source=source)
    earnings = source_earnings(source=source, account=account)
    assert (earnings.pending, earnings.approved, earnings.paid, earnings.currency) == (
        Decimal("15.00"),
        Decimal("40.00"),
        Decimal("7.50"),
        "EUR",
    )
