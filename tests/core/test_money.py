"""Money: totals exact to the cent, and amounts shown in their currency ("€25.00")."""

from decimal import Decimal

import pytest
from django.template import Context, Template

from core.money import cents, format_money


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
        (Decimal("99.9"), "SEK", "SEK\u00a099.90"),
        (Decimal("-10"), "CHF", "-CHF\u00a010.00"),
        (Decimal("10"), "XYZ", "XYZ\u00a010.00"),
    ],
)
def test_it_formats_money_in_its_currency(amount, currency, shown):
    assert format_money(amount, currency) == shown


@pytest.mark.parametrize(
    ("locale", "shown"),
    [("sv_SE", "99,90\u00a0kr"), ("de_DE", "99,90\u00a0SEK"), ("en_GB", "SEK\u00a099.90")],
)
def test_it_formats_money_as_the_reader_of_a_locale_expects(locale, shown):
    assert format_money(Decimal("99.9"), "SEK", locale=locale) == shown


@pytest.mark.parametrize("amount", ["abc", None, Decimal("NaN"), Decimal("Infinity")])
def test_it_shows_nothing_for_what_is_not_an_amount(amount):
    assert format_money(amount, "EUR") == ""


@pytest.mark.parametrize(
    "raw,expected",
    [
        (Decimal("5.00999999999999"), Decimal("5.01")),  # what SQLite's float SUM returns
        (Decimal("5.3E-15"), Decimal("0.00")),
        (None, Decimal("0.00")),
        (Decimal("-0.005"), Decimal("-0.01")),
        (Decimal("12.345"), Decimal("12.35")),
    ],
)
def test_totals_are_exact_to_the_cent(raw, expected):
    value = cents(raw)
    assert value == expected and value.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "raw", [Decimal("-1.77635683940025E-14"), Decimal("-0.004"), Decimal("-0.00")]
)
def test_a_total_that_rounds_to_nothing_is_zero_never_minus_zero(raw):
    """SQLite sums entries that cancel out to -1.8e-14: that is 0.00, shown "€0.00"."""
    assert str(cents(raw)) == "0.00"
    assert format_money(raw, "EUR") == format_money(Decimal("0"), "EUR") == "€0.00"
    assert format_money(Decimal("-0.005"), "EUR") == "-€0.01"  # a real cent stays negative


def test_the_template_filter_formats_money():
    template = Template("{% load money %}{{ amount|money:currency }}")
    assert template.render(Context({"amount": Decimal("7.5"), "currency": "GBP"})) == "£7.50"


def test_the_filter_shows_nothing_for_no_amount():
    template = Template("{% load money %}[{{ amount|money:'EUR' }}]")
    assert template.render(Context({"amount": None})) == "[]"
