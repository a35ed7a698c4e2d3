"""What a reward rule pays, in one plain sentence.

One function for the words, so the rule form, the program page, the first-program wizard
and the source's portal say the same thing about the same rule:

    The referrer gets €20.00 in credit when a friend first buys, after a 30-day hold;
    credit expires after 365 days.

It reads only the rule's fields, so an unsaved rule (a form being filled in) can be told too.
"""

from decimal import Decimal

from core.money import format_money

from .models import RewardRule, TierBasis, _decimal_or_none

WHO = {
    RewardRule.Beneficiary.REFERRER: "The referrer",
    RewardRule.Beneficiary.FRIEND: "The friend",
}

WHEN = {
    RewardRule.Trigger.SIGNUP: "when a friend signs up",
    RewardRule.Trigger.FIRST_PURCHASE: "when a friend first buys",
    RewardRule.Trigger.EVERY_PURCHASE: "on every purchase a friend makes",
    RewardRule.Trigger.ADVOCACY: "when an existing customer buys again because of the referrer",
}

WHEN_FRIEND = {
    RewardRule.Trigger.SIGNUP: "when they sign up",
    RewardRule.Trigger.FIRST_PURCHASE: "when they first buy",
    RewardRule.Trigger.EVERY_PURCHASE: "on every purchase they make",
    RewardRule.Trigger.ADVOCACY: "when they buy again because of the referrer",
}

AS = {
    RewardRule.Kind.CREDIT: "in credit",
    RewardRule.Kind.CASH: "in cash",
    RewardRule.Kind.GIFT_CARD: "as a gift card",
    RewardRule.Kind.COUPON: "as a coupon",
}


def _percent(value) -> str:
    number = Decimal(str(value or 0)).normalize()
    return f"{number:f}%"


def _rate(rule: RewardRule, *, amount, percent, currency: str) -> str:
    if rule.formula == RewardRule.Formula.PERCENT:
        return f"{_percent(percent)} of the purchase"
    return format_money(amount or 0, currency)


def _tiers(rule: RewardRule, currency: str) -> str:
    """ "5 or more customers sent: €30.00" for each tier, in rising order."""
    if not isinstance(rule.tiers, list) or not rule.tiers:
        return ""
    by_value = rule.tier_basis == TierBasis.VALUE
    key = "min_value" if by_value else "min_referrals"
    rate_key = "percent" if rule.formula == RewardRule.Formula.PERCENT else "amount"
    parts = []
    rows = [t for t in rule.tiers if isinstance(t, dict)]
    rows.sort(key=lambda t: _decimal_or_none(t.get(key)) or Decimal(0))
    for tier in rows:
        threshold = _decimal_or_none(tier.get(key))
        rate = _decimal_or_none(tier.get(rate_key))
        if threshold is None or rate is None:
            continue
        if by_value:
            reached = f"from {format_money(threshold, currency)} of purchases sent"
        else:
            count = int(threshold)
            reached = f"from {count} customer{'s' if count != 1 else ''} sent"
        shown = _percent(rate) if rate_key == "percent" else format_money(rate, currency)
        parts.append(f"{reached}, {shown}")
    return "; ".join(parts)


def rule_in_words(rule: RewardRule, *, currency: str = "") -> str:
    """The rule as one sentence a business owner (or a source) reads without help."""
    currency = currency or rule.currency or ""
    if not currency and rule.program_id:
        currency = rule.program.organization.currency
    who = WHO.get(rule.beneficiary, "The referrer")
    what = _rate(rule, amount=rule.amount, percent=rule.percent, currency=currency)
    if rule.formula == RewardRule.Formula.PERCENT and rule.cap is not None:
        what += f" (at most {format_money(rule.cap, currency)})"
    kind = AS.get(rule.reward_kind, "")
    friend = rule.beneficiary == RewardRule.Beneficiary.FRIEND
    when = (WHEN_FRIEND if friend else WHEN).get(rule.trigger, "")
    hold = int(rule.hold_days or 0)
    sentence = f"{who} gets {what} {kind} {when}"
    sentence += f", after a {hold}-day hold" if hold else ", at once"
    extras = []
    if (
        rule.formula == RewardRule.Formula.FIXED
        and rule.cap is not None
        and rule.cap < (rule.amount or 0)
    ):
        extras.append(f"at most {format_money(rule.cap, currency)} a reward")
    tiers = _tiers(rule, currency)
    if tiers:
        extras.append(f"more for more sent: {tiers}")
    if rule.lifetime_cap is not None:
        extras.append(f"at most {format_money(rule.lifetime_cap, currency)} in all per friend")
    if rule.reward_kind == RewardRule.Kind.CREDIT and rule.credit_lifetime_days:
        days = int(rule.credit_lifetime_days)
        extras.append(f"credit expires after {days} day{'s' if days != 1 else ''}")
    if extras:
        sentence += "; " + "; ".join(extras)
    return " ".join(sentence.split()) + "."
