"""``{% load money %}{{ reward.amount|money:reward.currency }}`` shows "€25.00"."""

from django import template
from django.utils import translation

from core.money import format_money

register = template.Library()


@register.filter(name="money")
def money_filter(amount, currency: str = "") -> str:
    if amount is None or amount == "":
        return ""
    return format_money(amount, currency, locale=translation.to_locale(translation.get_language()))
