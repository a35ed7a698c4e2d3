"""
Money in the organization's currency: ``format_money(Decimal("25"), "EUR")`` is "€25.00".

In templates: ``{% load money %}{{ reward.amount|money:reward.currency }}``.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

register = template.Library()

PREFIX = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "CHF": "CHF "}
SUFFIX = {"SEK": " kr", "NOK": " kr", "DKK": " kr", "PLN": " zł"}
NO_MINOR_UNIT = {"JPY"}


def format_money(amount, currency: str) -> str:
    """The amount with its currency's symbol and two decimals (none for yen), "-" first."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, TypeError, ValueError):
        return ""
    currency = (currency or "").upper()
    places = Decimal("1") if currency in NO_MINOR_UNIT else Decimal("0.01")
    value = value.quantize(places, rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    digits = f"{abs(value):,.{0 if currency in NO_MINOR_UNIT else 2}f}"
    if currency in PREFIX:
        return f"{sign}{PREFIX[currency]}{digits}"
    if currency in SUFFIX:
        return f"{sign}{digits}{SUFFIX[currency]}"
    return f"{sign}{digits} {currency}".rstrip()


@register.filter(name="money")
def money_filter(amount, currency: str = "") -> str:
    if amount is None or amount == "":
        return ""
    return format_money(amount, currency)
