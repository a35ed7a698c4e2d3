"""A rule in words: the one sentence the rule form, the program page, the wizard and the
portal show for what a rule pays."""

from decimal import Decimal

from rewards.models import RewardRule
from rewards.words import rule_in_words


def rule(**fields) -> RewardRule:
    defaults = {
        "beneficiary": "referrer",
        "trigger": "first_purchase",
        "formula": "fixed",
        "amount": Decimal("20"),
        "reward_kind": "credit",
        "hold_days": 30,
        "credit_lifetime_days": 365,
        "currency": "EUR",
    }
    return RewardRule(**{**defaults, **fields})


def test_a_fixed_credit_with_a_hold_reads_as_one_sentence():
    assert rule_in_words(rule()) == (
        "The referrer gets €20.00 in credit when a friend first buys, after a 30-day hold; "
        "credit expires after 365 days."
    )


def test_a_capped_percent_in_cash_says_the_cap_and_no_expiry():
    words = rule_in_words(
        rule(
            formula="percent",
            percent=Decimal("10"),
            cap=Decimal("50"),
            reward_kind="cash",
            trigger="every_purchase",
            hold_days=0,
        )
    )
    assert words == (
        "The referrer gets 10% of the purchase (at most €50.00) in cash on every purchase a "
        "friend makes, at once."
    )


def test_a_friends_reward_speaks_of_them():
    words = rule_in_words(
        rule(
            beneficiary="friend",
            trigger="signup",
            hold_days=0,
            amount=Decimal("5"),
            credit_lifetime_days=90,
        )
    )
    assert words == (
        "The friend gets €5.00 in credit when they sign up, at once; credit expires after 90 days."
    )


def test_tiers_are_told_in_rising_order():
    words = rule_in_words(
        rule(tiers=[{"min_referrals": 10, "amount": "40"}, {"min_referrals": 5, "amount": "30"}])
    )
    assert (
        "more for more sent: from 5 customers sent, €30.00; from 10 customers sent, €40.00" in words
    )
