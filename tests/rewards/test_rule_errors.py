"""An error in one reward rule never stops the others from paying; the task is retried and
pays only what is still missing."""

from decimal import Decimal

import pytest

from referrals.services import conversion_record
from rewards.models import Reward
from rewards.services import issue_rewards_for_conversion, lifecycle


def test_a_failing_rule_does_not_stop_the_others(monkeypatch, make_rule, referral):
    broken = make_rule(amount=Decimal("25.00"))
    working = make_rule(beneficiary="friend", amount=Decimal("10.00"))
    real_amount = lifecycle.reward_amount

    def flaky(*, rule, conversion):
        if rule.pk == broken.pk:
            raise RuntimeError("the tier table is unreadable")
        return real_amount(rule=rule, conversion=conversion)

    monkeypatch.setattr(lifecycle, "reward_amount", flaky)
    conversion, _ = conversion_record(
        referral=referral, kind="purchase", external_id="o-1", amount=Decimal("100")
    )
    with pytest.raises(RuntimeError, match="unreadable"):
        issue_rewards_for_conversion(conversion_id=conversion.pk)
    assert list(Reward.objects.values_list("rule_id", flat=True)) == [working.pk]

    monkeypatch.setattr(lifecycle, "reward_amount", real_amount)  # fixed; the task retries
    issue_rewards_for_conversion(conversion_id=conversion.pk)
    assert sorted(Reward.objects.values_list("rule_id", flat=True)) == sorted(
        [broken.pk, working.pk]
    )
