"""Money totals are exact to the cent, whatever the database does with decimals."""

from decimal import Decimal

import pytest

from accounts.money import cents


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
def test_cents(raw, expected):
    value = cents(raw)
    assert value == expected and value.as_tuple().exponent == -2
