"""Amounts are shown in the organization's currency: "€25.00", "$25.00", "£25.00"."""

from decimal import Decimal

import pytest
from django.template import Context, Template

from rewards.templatetags.money import format_money


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("25"), "EUR", "€25.00"),
        (Decimal("25"), "USD", "$25.00"),
        (Decimal("25"), "GBP", "£25.00"),
        (Decimal("1234.5"), "EUR", "€1,234.50"),
        (Decimal("-20"), "EUR", "-€20.00"),
        (Decimal("0.005"), "EUR", "€0.01"),
        (Decimal("1500"), "JPY", "¥1,500"),
        (Decimal("99.9"), "SEK", "99.90 kr"),
        (Decimal("10"), "CHF", "CHF 10.00"),
        (Decimal("10"), "XYZ", "10.00 XYZ"),
    ],
)
def test_it_formats_money_in_its_currency(amount, currency, shown):
    assert format_money(amount, currency) == shown


def test_the_template_filter_formats_money():
    template = Template("{% load money %}{{ amount|money:currency }}")
    assert template.render(Context({"amount": Decimal("7.5"), "currency": "GBP"})) == "£7.50"


def test_the_filter_shows_nothing_for_no_amount():
    template = Template("{% load money %}[{{ amount|money:'EUR' }}]")
    assert template.render(Context({"amount": None})) == "[]"
