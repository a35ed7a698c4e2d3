"""
Creating a reward rule: the service refuses an invalid rule with a clear error on the
field at fault, and saves nothing.
"""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from rewards.models import RewardRule
from rewards.services import rule_create

VALID = {
    "beneficiary": "referrer",
    "trigger": "first_purchase",
    "formula": "fixed",
    "amount": Decimal("25.00"),
    "reward_kind": "credit",
}


def errors_of(program, **fields) -> dict:
    with pytest.raises(ValidationError) as caught:
        rule_create(program=program, **{**VALID, **fields})
    assert not RewardRule.objects.exists()
    return caught.value.message_dict


def test_it_creates_a_rule_in_the_organizations_currency(program):
    rule = rule_create(program=program, **VALID)
    assert rule.currency == "EUR"
    assert rule.organization_id == program.organization_id
    assert rule.tiers == [] and rule.tier_basis == "count"


def test_it_rejects_a_negative_amount(program):
    assert errors_of(program, amount=Decimal("-5")) == {
        "amount": ["The amount cannot be negative."]
    }


def test_it_rejects_a_fixed_reward_of_nothing(program):
    assert errors_of(program, amount=Decimal("0"))["amount"] == [
        "A fixed reward needs an amount above zero."
    ]


def test_it_rejects_a_percent_over_100(program):
    errors = errors_of(program, formula="percent", percent=Decimal("120"))
    assert errors["percent"] == ["A percent cannot be over 100."]


def test_it_rejects_a_negative_percent(program):
    errors = errors_of(program, formula="percent", percent=Decimal("-1"))
    assert "A percent cannot be negative." in errors["percent"]


def test_it_rejects_a_percent_reward_without_a_percent(program):
    errors = errors_of(program, formula="percent", percent=Decimal("0"))
    assert errors["percent"] == ["A percent reward needs a percent above zero."]


def test_it_rejects_a_percent_of_a_signup(program):
    errors = errors_of(program, formula="percent", percent=Decimal("10"), trigger="signup")
    assert "A signup has no amount to take a percent of" in errors["trigger"][0]


def test_it_rejects_a_cap_below_zero(program):
    assert errors_of(program, cap=Decimal("-0.01")) == {"cap": ["The cap cannot be below zero."]}


def test_it_rejects_a_lifetime_cap_below_zero(program):
    assert errors_of(program, lifetime_cap=Decimal("-1")) == {
        "lifetime_cap": ["The lifetime cap cannot be below zero."]
    }


def test_it_rejects_a_currency_other_than_the_organizations(program):
    assert errors_of(program, currency="USD") == {
        "currency": ["Rewards are paid in the organization's currency (EUR), not USD."]
    }


def test_it_rejects_cash_for_a_friend(program):
    errors = errors_of(program, beneficiary="friend", reward_kind="cash")
    assert errors["reward_kind"] == [
        "A friend's reward is credit or a coupon; cash and gift cards are paid out to sources."
    ]


def test_it_rejects_a_credit_lifetime_of_zero_days(program):
    errors = errors_of(program, credit_lifetime_days=0)
    assert "credit_lifetime_days" in errors


def test_it_rejects_a_negative_hold(program):
    assert "hold_days" in errors_of(program, hold_days=-1)


@pytest.mark.parametrize(
    ("tiers", "basis", "message"),
    [
        ("5 referrals", "count", "Tiers are a list of {threshold, rate} objects."),
        ([{"amount": "30"}], "count", 'Each tier of this basis needs "min_referrals"'),
        (
            [{"min_referrals": 5, "amount": "30"}],
            "value",
            'Each tier of this basis needs "min_value"',
        ),
        ([{"min_referrals": -1, "amount": "30"}], "count", '"min_referrals" must be a number'),
        ([{"min_referrals": 5}], "count", 'Each tier of a fixed amount rule needs "amount"'),
        ([{"min_referrals": 5, "amount": "-3"}], "count", 'A tier\'s "amount" cannot be negative.'),
    ],
)
def test_it_rejects_a_malformed_tier(program, tiers, basis, message):
    errors = errors_of(program, tiers=tiers, tier_basis=basis)
    assert errors["tiers"][0].startswith(message)


def test_it_rejects_a_tier_percent_over_100(program):
    errors = errors_of(
        program,
        formula="percent",
        percent=Decimal("5"),
        tiers=[{"min_referrals": 3, "percent": "150"}],
    )
    assert errors["tiers"] == ["A tier's percent cannot be over 100."]


def test_it_reports_every_error_at_once(program):
    errors = errors_of(program, amount=Decimal("-1"), cap=Decimal("-1"), currency="GBP")
    assert set(errors) == {"amount", "cap", "currency"}


@pytest.mark.parametrize(
    "field,too_many", [("hold_days", 3_651), ("credit_lifetime_days", 999_999_999)]
)
def test_it_rejects_a_hold_or_lifetime_beyond_its_bound(program, field, too_many):
    assert errors_of(program, **{field: too_many})[field] == [
        f"At most {3_650 if field == 'hold_days' else 36_500:,} days."
    ]


def test_the_database_refuses_an_unbounded_rule_too(program):
    from django.db import IntegrityError, transaction

    rule = rule_create(program=program, **VALID)
    with pytest.raises(IntegrityError), transaction.atomic():
        RewardRule.objects.filter(pk=rule.pk).update(credit_lifetime_days=999_999_999)
