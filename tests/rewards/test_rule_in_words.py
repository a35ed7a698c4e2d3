"""A reward rule in words, as the source reads it in its portal."""

from decimal import Decimal

from rewards.models import RewardRule
from rewards.words import rule_in_words_for_source as rule_in_words


def rule(**fields):
    defaults = {
        "beneficiary": "referrer",
        "trigger": "first_purchase",
        "formula": "fixed",
        "amount": Decimal("25.00"),
        "reward_kind": "cash",
        "currency": "EUR",
        "hold_days": 0,
        "credit_lifetime_days": 365,
        "tiers": [],
    }
    return RewardRule(**{**defaults, **fields})


def test_a_fixed_cash_reward_after_a_refund_window():
    assert rule_in_words(rule(hold_days=30)) == (
        "You earn €25.00 in cash for your friend's first purchase, after a 30-day refund window."
    )


def test_a_capped_percent_of_every_purchase_as_credit():
    text = rule_in_words(
        rule(
            formula="percent",
            percent=Decimal("10.00"),
            cap=Decimal("50"),
            trigger="every_purchase",
            reward_kind="credit",
            credit_lifetime_days=180,
        )
    )
    assert text == (
        "You earn 10% of the amount (at most €50.00 each time) of credit for every purchase "
        "your friend makes. Credit lasts 180 days."
    )


def test_what_the_friend_gets():
    text = rule_in_words(rule(beneficiary="friend", reward_kind="coupon", trigger="signup"))
    assert text == "Your friend gets €25.00 as a coupon when they sign up."


def test_tiers_rise_with_what_the_source_brings():
    text = rule_in_words(
        rule(tiers=[{"min_referrals": 10, "amount": "50"}, {"min_referrals": 5, "amount": "35"}])
    )
    assert text.endswith(
        "Rising with what you bring: €35.00 from your 5th customer; €50.00 from your 10th customer."
    )


def test_a_lifetime_cap_is_said():
    assert "At most €100.00 in all per friend." in rule_in_words(rule(lifetime_cap=Decimal("100")))


def test_every_trigger_and_kind_reads_as_words():
    for trigger in RewardRule.Trigger.values:
        for kind in RewardRule.Kind.values:
            text = rule_in_words(rule(trigger=trigger, reward_kind=kind))
            assert "_" not in text and text.endswith(".")


def test_tier_thresholds_read_as_ordinals():
    tiers = [{"min_referrals": n, "amount": "1"} for n in (1, 2, 3, 11, 22)]
    text = rule_in_words(rule(tiers=tiers))
    for word in ("1st", "2nd", "3rd", "11th", "22nd"):
        assert f"your {word} customer" in text


def test_a_fixed_reward_above_its_cap_is_said_as_what_it_pays():
    # reward_amount pays min(amount, cap): the source is told what it will be given.
    capped = rule(
        cap=Decimal("20"),
        tiers=[{"min_referrals": 5, "amount": "15"}, {"min_referrals": 10, "amount": "40"}],
    )
    assert rule_in_words(capped) == (
        "You earn €20.00 in cash for your friend's first purchase. Rising with what you bring: "
        "€15.00 from your 5th customer; €20.00 from your 10th customer."
    )
