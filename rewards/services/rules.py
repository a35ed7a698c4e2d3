"""Reward rules: which conversion a rule pays for, and how much (fixed, percent, tiers)."""

import logging
from decimal import Decimal

from accounts.models import ReferralSource
from core.money import ZERO
from core.money import cents as _money
from referrals.models import Conversion, Program, Purchase, Referral

from ..models import (
    Reward,
    RewardRule,
    TierBasis,
)

log = logging.getLogger(__name__)

TRIGGERS_FOR_KIND = {
    Conversion.Kind.SIGNUP: {RewardRule.Trigger.SIGNUP},
    Conversion.Kind.PURCHASE: {
        RewardRule.Trigger.FIRST_PURCHASE,
        RewardRule.Trigger.EVERY_PURCHASE,
    },
    Conversion.Kind.ADVOCACY: {RewardRule.Trigger.ADVOCACY},
}


# Rules ----------------------------------------------------------------------------------


def rule_create(*, program: Program, **fields) -> RewardRule:
    """Add a reward rule to a program. Invalid rules raise ValidationError, nothing saved."""
    if not fields.get("currency"):
        fields["currency"] = program.organization.currency
    if fields.get("tiers") is None:
        fields["tiers"] = []
    if not fields.get("tier_basis"):
        fields["tier_basis"] = TierBasis.COUNT
    rule = RewardRule(organization_id=program.organization_id, program=program, **fields)
    rule.full_clean()
    rule.save()
    return rule


def _sent_by_source(rule: RewardRule, source: ReferralSource) -> Decimal:
    """How much the source has sent to the rule's program: customers won, or the net revenue
    credited to it (the same figure its page shows, counted for this program only)."""
    if rule.tier_basis == TierBasis.VALUE:
        return (
            Purchase.objects.credited_to(source)
            .filter(conversion__referral__program_id=rule.program_id)
            .net_revenue()
        )
    count = (
        Referral.objects.credited().won().filter(source=source, program_id=rule.program_id).count()
    )
    return Decimal(count)


def tier_for(*, rule: RewardRule, source: ReferralSource) -> dict | None:
    """The highest tier the source has reached, or None (the rule's own rate applies)."""
    if not rule.tiers:
        return None
    key = "min_value" if rule.tier_basis == TierBasis.VALUE else "min_referrals"
    sent = _sent_by_source(rule, source)
    best = None
    for tier in rule.tiers:
        threshold = Decimal(str(tier[key]))
        if sent >= threshold and (best is None or threshold >= best[0]):
            best = (threshold, tier)
    return best[1] if best else None


def reward_amount(*, rule: RewardRule, conversion: Conversion) -> Decimal:
    """What ``rule`` pays for ``conversion``: formula, tier, per-reward cap, lifetime cap.

    The lifetime cap is per friend (per referral): what the rule already paid for this
    friend, voided rewards and what refunds took back excepted, counts against it.
    """
    amount_fixed, percent = rule.amount, rule.percent
    tier = tier_for(rule=rule, source=conversion.referral.source)
    if tier:
        amount_fixed = Decimal(str(tier.get("amount", amount_fixed)))
        percent = Decimal(str(tier.get("percent", percent)))
    if rule.formula == RewardRule.Formula.FIXED:
        value = amount_fixed
    else:
        value = conversion.amount * percent / Decimal(100)
    if rule.cap is not None:
        value = min(value, rule.cap)
    if rule.lifetime_cap is not None:
        paid = Reward.objects.filter(
            rule=rule, conversion__referral_id=conversion.referral_id
        ).cost()
        value = min(value, max(rule.lifetime_cap - paid, ZERO))
    return max(_money(value), ZERO)


def _rule_applies(rule: RewardRule, conversion: Conversion) -> bool:
    if rule.trigger not in TRIGGERS_FOR_KIND.get(
        Conversion.Kind(conversion.kind), set[RewardRule.Trigger]()
    ):
        return False
    if rule.trigger == RewardRule.Trigger.SIGNUP:
        # A signup rule pays once per friend: on the referral's first signup only.
        return not Conversion.objects.filter(
            referral_id=conversion.referral_id, kind=Conversion.Kind.SIGNUP, pk__lt=conversion.pk
        ).exists()
    # A first-purchase rule pays once per friend: only on the purchase marked first.
    return rule.trigger != RewardRule.Trigger.FIRST_PURCHASE or conversion.is_first_purchase
