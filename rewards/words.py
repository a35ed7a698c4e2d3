"""What a reward rule pays, in one plain sentence.

One function for the words, so the rule form, the program page, the first-program wizard
and the source's portal say the same thing about the same rule:

    The referrer gets €20.00 in credit when a friend first buys, after a 30-day hold;
    credit expires after 365 days.

The source's portal says the same rule to the source itself (``rule_in_words_for_source``):

    You earn €25.00 in cash for your friend's first purchase, after a 30-day refund window.

Both read only the rule's fields, so an unsaved rule (a form being filled in) can be told too.
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


def _currency(rule: RewardRule, currency: str = "") -> str:
    currency = currency or rule.currency or ""
    if not currency and rule.program_id:
        currency = rule.program.organization.currency
    return currency


def _tier_rows(rule: RewardRule, currency: str, *, cap: Decimal | None = None):
    """Each well-formed tier in rising order, as (threshold, the rate it pays in words);
    with ``cap``, a fixed amount above it is said as the cap it pays."""
    if not isinstance(rule.tiers, list) or not rule.tiers:
        return
    key = "min_value" if rule.tier_basis == TierBasis.VALUE else "min_referrals"
    rate_key = "percent" if rule.formula == RewardRule.Formula.PERCENT else "amount"
    rows = [t for t in rule.tiers if isinstance(t, dict)]
    rows.sort(key=lambda t: _decimal_or_none(t.get(key)) or Decimal(0))
    for tier in rows:
        threshold = _decimal_or_none(tier.get(key))
        rate = _decimal_or_none(tier.get(rate_key))
        if threshold is None or rate is None:
            continue
        if cap is not None and rate_key == "amount":
            rate = min(rate, cap)
        yield threshold, _percent(rate) if rate_key == "percent" else format_money(rate, currency)


def _tiers(rule: RewardRule, currency: str) -> str:
    """ "from 5 customers sent, €30.00" for each tier, in rising order."""
    parts = []
    for threshold, shown in _tier_rows(rule, currency):
        if rule.tier_basis == TierBasis.VALUE:
            reached = f"from {format_money(threshold, currency)} of purchases sent"
        else:
            count = int(threshold)
            reached = f"from {count} customer{'s' if count != 1 else ''} sent"
        parts.append(f"{reached}, {shown}")
    return "; ".join(parts)


def rule_in_words(rule: RewardRule, *, currency: str = "") -> str:
    """The rule as one sentence a business owner (or a source) reads without help."""
    currency = _currency(rule, currency)
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


# The same rule, said to the source in its portal ------------------------------------------

SOURCE_WHEN = {
    RewardRule.Trigger.SIGNUP: "when your friend signs up",
    RewardRule.Trigger.FIRST_PURCHASE: "for your friend's first purchase",
    RewardRule.Trigger.EVERY_PURCHASE: "for every purchase your friend makes",
    RewardRule.Trigger.ADVOCACY: "when a customer you spoke to buys again",
}
SOURCE_WHEN_FRIEND = {
    RewardRule.Trigger.SIGNUP: "when they sign up",
    RewardRule.Trigger.FIRST_PURCHASE: "on their first purchase",
    RewardRule.Trigger.EVERY_PURCHASE: "on every purchase",
    RewardRule.Trigger.ADVOCACY: "when they buy again",
}
SOURCE_AS = {**AS, RewardRule.Kind.CREDIT: "of credit"}


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def rule_in_words_for_source(rule: RewardRule, *, currency: str = "") -> str:
    """The rule as the source reads it in its portal: "You earn ..." or "Your friend gets ..."."""
    currency = _currency(rule, currency)
    if rule.formula == RewardRule.Formula.PERCENT:
        rate = f"{_percent(rule.percent)} of the amount"
        if rule.cap is not None:
            rate += f" (at most {format_money(rule.cap, currency)} each time)"
    else:
        # What reward_amount pays: the fixed amount, but never more than the cap.
        amount = rule.amount or 0
        rate = format_money(min(amount, rule.cap) if rule.cap is not None else amount, currency)
    kind = SOURCE_AS.get(rule.reward_kind, "")
    if rule.beneficiary == RewardRule.Beneficiary.FRIEND:
        text = f"Your friend gets {rate} {kind} {SOURCE_WHEN_FRIEND.get(rule.trigger, '')}"
    else:
        text = f"You earn {rate} {kind} {SOURCE_WHEN.get(rule.trigger, '')}"
    text = text.rstrip()
    if rule.hold_days:
        text += f", after a {rule.hold_days}-day refund window"
    text += "."
    if rule.lifetime_cap is not None:
        text += f" At most {format_money(rule.lifetime_cap, currency)} in all per friend."
    if rule.reward_kind == RewardRule.Kind.CREDIT and rule.credit_lifetime_days:
        text += f" Credit lasts {rule.credit_lifetime_days} days."
    parts = []
    for threshold, shown in _tier_rows(rule, currency, cap=rule.cap):
        if rule.tier_basis == TierBasis.VALUE:
            parts.append(
                f"{shown} once your friends have bought {format_money(threshold, currency)}"
            )
        else:
            parts.append(f"{shown} from your {_ordinal(int(threshold))} customer")
    if parts:
        text += f" Rising with what you bring: {'; '.join(parts)}."
    return " ".join(text.split())
