"""
What each kind of rule pays, for whom, and when: the formula (fixed or percent), the
per-reward cap, the lifetime cap per friend, tiers by the number or the value of the
customers a source has sent, every trigger, both beneficiaries and every reward kind.
"""

from decimal import Decimal

import pytest

from rewards.models import Reward
from rewards.selectors import credit_balance, payout_balance
from tests.rewards.conftest import convert, make_referral, refund


def test_it_pays_a_fixed_amount_to_the_referrer_on_the_first_purchase(make_rule, referral):
    make_rule(amount=Decimal("25.00"))
    [reward] = convert(referral, "order-1", amount="80.00")
    assert (reward.amount, reward.source_id, reward.customer_id) == (
        Decimal("25.00"),
        referral.source_id,
        None,
    )


def test_it_pays_the_first_purchase_rule_only_once_per_friend(make_rule, referral):
    make_rule()
    assert len(convert(referral, "order-1")) == 1
    assert convert(referral, "order-2") == []


def test_it_pays_a_percent_of_every_purchase(make_rule, referral):
    make_rule(trigger="every_purchase", formula="percent", percent=Decimal("10"), amount=0)
    [first] = convert(referral, "order-1", amount="80.00")
    [second] = convert(referral, "order-2", amount="19.99")
    assert (first.amount, second.amount) == (Decimal("8.00"), Decimal("2.00"))


def test_it_caps_each_reward(make_rule, referral):
    make_rule(trigger="every_purchase", formula="percent", percent=Decimal("10"), cap=Decimal("15"))
    [reward] = convert(referral, "order-1", amount="500.00")
    assert reward.amount == Decimal("15.00")


def test_it_caps_what_one_friend_earns_in_all(make_rule, referral):
    make_rule(
        trigger="every_purchase",
        formula="percent",
        percent=Decimal("10"),
        lifetime_cap=Decimal("25"),
    )
    amounts = [convert(referral, f"order-{i}", amount="100.00") for i in range(4)]
    assert [r[0].amount for r in amounts[:3]] == [
        Decimal("10.00"),
        Decimal("10.00"),
        Decimal("5.00"),
    ]
    assert amounts[3] == []  # the cap is reached: nothing more is issued


def test_a_voided_reward_does_not_count_against_the_lifetime_cap(make_rule, referral):
    make_rule(trigger="every_purchase", amount=Decimal("20"), lifetime_cap=Decimal("30"))
    convert(referral, "order-1")
    refund(referral, "refund-1", of="order-1")
    [second] = convert(referral, "order-2")
    [third] = convert(referral, "order-3")
    assert (second.amount, third.amount) == (Decimal("20.00"), Decimal("10.00"))


def test_it_raises_the_rate_with_the_number_of_customers_sent(make_rule, program, source):
    make_rule(
        amount=Decimal("10"),
        tiers=[{"min_referrals": 2, "amount": "15"}, {"min_referrals": 3, "amount": "20"}],
    )
    paid = []
    for i in range(4):
        referral = make_referral(program, source, f"friend{i}@example.com")
        paid.append(convert(referral, f"order-{i}")[0].amount)
    assert paid == [Decimal("10.00"), Decimal("15.00"), Decimal("20.00"), Decimal("20.00")]


def test_it_raises_the_rate_with_the_value_of_customers_sent(make_rule, program, source):
    make_rule(
        trigger="every_purchase",
        formula="percent",
        percent=Decimal("5"),
        tier_basis="value",
        tiers=[{"min_value": "1000", "percent": "10"}],
    )
    referral = make_referral(program, source, "big@example.com")
    [below] = convert(referral, "order-1", amount="600.00")  # 600 sent: 5 %
    [above] = convert(referral, "order-2", amount="500.00")  # 1100 sent: 10 %
    assert (below.amount, above.amount) == (Decimal("30.00"), Decimal("50.00"))


def test_refunds_lower_the_value_a_source_has_sent(make_rule, program, source):
    make_rule(
        trigger="every_purchase",
        formula="percent",
        percent=Decimal("5"),
        tier_basis="value",
        tiers=[{"min_value": "1000", "percent": "10"}],
    )
    referral = make_referral(program, source, "big@example.com")
    convert(referral, "order-1", amount="900.00")
    refund(referral, "refund-1", of="order-1", amount="900.00")
    [reward] = convert(referral, "order-2", amount="200.00")  # 200 net sent: still 5 %
    assert reward.amount == Decimal("10.00")


def test_it_rewards_a_signup(make_rule, referral):
    make_rule(trigger="signup", amount=Decimal("5"))
    [reward] = convert(referral, "signup-1", kind="signup", amount="0")
    assert reward.amount == Decimal("5.00")
    assert convert(referral, "order-1") == []  # a signup rule ignores purchases


def test_it_rewards_advocacy(make_rule, referral):
    make_rule(trigger="advocacy", formula="percent", percent=Decimal("2"), amount=0)
    [reward] = convert(referral, "renewal-1", kind="advocacy", amount="1000.00")
    assert reward.amount == Decimal("20.00") and reward.source_id == referral.source_id
    assert convert(referral, "order-1") == []  # an advocacy rule ignores purchases


def test_it_rewards_the_friend(make_rule, referral):
    make_rule(beneficiary="friend", amount=Decimal("50"))
    [reward] = convert(referral, "order-1")
    referral.refresh_from_db()
    assert reward.customer_id == referral.friend_id and reward.source_id is None
    assert credit_balance(account=reward.customer.credit_account) == Decimal("50.00")


def test_one_purchase_can_reward_both_sides(make_rule, referral):
    make_rule(beneficiary="referrer", amount=Decimal("25"))
    make_rule(beneficiary="friend", amount=Decimal("50"))
    rewards = convert(referral, "order-1")
    assert sorted(r.amount for r in rewards) == [Decimal("25.00"), Decimal("50.00")]


def test_a_credit_reward_opens_a_lot_that_expires_after_the_credit_lifetime(make_rule, referral):
    make_rule(credit_lifetime_days=90)
    [reward] = convert(referral, "order-1")
    assert reward.status == "fulfilled"
    lot = reward.lot
    assert lot.amount == lot.remaining == Decimal("25.00")
    assert (lot.expires_at - lot.granted_at).days in (89, 90)


def test_a_cash_reward_is_owed_on_the_payout_balance_until_paid(make_rule, referral, source):
    make_rule(reward_kind="cash", amount=Decimal("40"))
    [reward] = convert(referral, "order-1")
    assert reward.status == "approved"
    assert payout_balance(account=source.credit_account) == Decimal("40.00")
    assert credit_balance(account=source.credit_account) == Decimal("0")


def test_a_gift_card_reward_is_owed_like_cash(make_rule, referral, source):
    make_rule(reward_kind="gift_card", amount=Decimal("30"))
    [reward] = convert(referral, "order-1")
    assert reward.status == "approved" and reward.is_paid_out
    assert payout_balance(account=source.credit_account) == Decimal("30.00")


def test_a_coupon_reward_gets_a_code_at_once(make_rule, referral):
    make_rule(beneficiary="friend", reward_kind="coupon", amount=Decimal("15"))
    [reward] = convert(referral, "order-1")
    assert reward.status == "fulfilled"
    assert reward.coupon_code.startswith("ADV-") and len(reward.coupon_code) == 13


def test_an_inactive_rule_pays_nothing(make_rule, referral):
    make_rule(active=False)
    assert convert(referral, "order-1") == []


def test_a_flagged_referral_earns_nothing_until_approved(make_rule, program, source):
    make_rule()
    referral = make_referral(program, source, "sam@example.com")  # the source's own email
    assert referral.flagged
    assert convert(referral, "order-1") == []
    assert not Reward.objects.exists()


def test_issuing_twice_issues_once(make_rule, referral):
    from rewards.services import issue_rewards_for_conversion

    make_rule()
    [reward] = convert(referral, "order-1")
    assert issue_rewards_for_conversion(conversion_id=reward.conversion_id) == []
    assert Reward.objects.count() == 1


@pytest.mark.parametrize("kind", ["credit", "cash", "gift_card", "coupon"])
def test_every_reward_kind_records_its_history(make_rule, referral, kind):
    make_rule(reward_kind=kind)
    [reward] = convert(referral, "order-1")
    steps = [(e.from_status, e.to_status) for e in reward.events.all()]
    if kind in ("credit", "coupon"):
        assert steps == [("", "pending"), ("pending", "approved"), ("approved", "fulfilled")]
    else:
        assert steps == [("", "pending"), ("pending", "approved")]
