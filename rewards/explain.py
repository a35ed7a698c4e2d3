"""A reward rule in plain words, as a source reads it in its portal.

``rule_in_words(rule)`` says who gets what, for which event, in which form, and when:
"You earn €25.00 in cash for your friend's first purchase, after a 30-day refund window."
"""

from decimal import Decimal

from core.money import format_money

from .models import TIER_KEY, RewardRule, TierBasis

_EVENT = {
    RewardRule.Trigger.SIGNUP: "when your friend signs up",
    RewardRule.Trigger.FIRST_PURCHASE: "for your friend's first purchase",
    RewardRule.Trigger.EVERY_PURCHASE: "for every purchase your friend makes",
    RewardRule.Trigger.ADVOCACY: "when a customer you spoke to buys again",
}
_FRIEND_EVENT = {
    RewardRule.Trigger.SIGNUP: "when they sign up",
    RewardRule.Trigger.FIRST_PURCHASE: "on their first purchase",
    RewardRule.Trigger.EVERY_PURCHASE: "on every purchase",
    RewardRule.Trigger.ADVOCACY: "when they buy again",
}
_FORM = {
    RewardRule.Kind.CREDIT: "of credit",
    RewardRule.Kind.CASH: "in cash",
    RewardRule.Kind.GIFT_CARD: "as a gift card",
    RewardRule.Kind.COUPON: "as a coupon",
}


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def _percent(value) -> str:
    return f"{Decimal(value).normalize():f}%"


def _rate(rule: RewardRule, *, amount=None, percent=None) -> str:
    currency = rule.currency
    if rule.formula == RewardRule.Formula.PERCENT:
        text = f"{_percent(percent if percent is not None else rule.percent)} of the amount"
        if rule.cap is not None:
            text += f" (at most {format_money(rule.cap, currency)} each time)"
        return text
    return format_money(Decimal(amount if amount is not None else rule.amount), currency)


def _tiers(rule: RewardRule) -> str:
    if not rule.tiers or not isinstance(rule.tiers, list):
        return ""
    key = TIER_KEY.get(rule.tier_basis, "min_referrals")
    rate_key = "percent" if rule.formula == RewardRule.Formula.PERCENT else "amount"
    parts = []
    for tier in sorted(rule.tiers, key=lambda t: Decimal(str(t.get(key, 0)))):
        if key not in tier or rate_key not in tier:
            continue
        if rule.tier_basis == TierBasis.VALUE:
            reached = f"once your friends have bought {format_money(tier[key], rule.currency)}"
        else:
            count = int(Decimal(str(tier[key])))
            reached = f"from your {_ordinal(count)} customer"
        rate = (
            _percent(tier[rate_key])
            if rate_key == "percent"
            else format_money(Decimal(str(tier[rate_key])), rule.currency)
        )
        parts.append(f"{rate} {reached}")
    return ("; ".join(parts) + ".") if parts else ""


def rule_in_words(rule: RewardRule) -> str:
    """One or two sentences a source understands without knowing the rule's fields."""
    rate = _rate(rule)
    form = _FORM.get(rule.reward_kind, "")
    if rule.beneficiary == RewardRule.Beneficiary.FRIEND:
        text = f"Your friend gets {rate} {form} {_FRIEND_EVENT.get(rule.trigger, '')}".rstrip()
    else:
        text = f"You earn {rate} {form} {_EVENT.get(rule.trigger, '')}".rstrip()
    if rule.hold_days:
        text += f", after a {rule.hold_days}-day refund window"
    text += "."
    if rule.lifetime_cap is not None:
        text += f" At most {format_money(rule.lifetime_cap, rule.currency)} in all per friend."
    if rule.reward_kind == RewardRule.Kind.CREDIT and rule.credit_lifetime_days:
        text += f" Credit lasts {rule.credit_lifetime_days} days."
    tiers = _tiers(rule)
    if tiers:
        text += f" Rising with what you bring: {tiers}"
    return " ".join(text.split())
