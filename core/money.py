"""Money: amounts to the cent, and how an amount is shown in its currency.

Every amount is a ``Decimal`` with a currency code beside it, never a float.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale
from babel.numbers import format_currency, get_currency_precision, get_currency_symbol
from django.db import models

ZERO = Decimal("0")
CENT = Decimal("0.01")
MONEY_MAX_DIGITS = 14
MONEY_DECIMAL_PLACES = 2


def cents(value) -> Decimal:
    """``value`` as a Decimal rounded to the cent (0.00 for None).

    Every money total read from the database goes through here: SQLite, the embedded
    default, sums decimal columns as floats (a real 5.01 comes back as 5.00999999999999),
    while PostgreSQL is exact, so the same code gives the same answer on both. A total that
    rounds to nothing is 0.00, never -0.00 (SQLite's -1.8e-14 for entries that cancel out).
    """
    rounded = Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)
    return rounded if rounded else abs(rounded)


def format_money(amount, currency: str, locale: str = "en") -> str:
    """The amount in its currency as a reader of ``locale`` expects it: "€25.00", "¥1,200".

    Babel knows each currency's symbol and minor unit; an unknown code is shown after the
    number. Anything that is not a number gives "".
    """
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, TypeError, ValueError):
        return ""
    if not value.is_finite():
        return ""
    return _formatted(str(value), (currency or "").upper(), locale or "en")


@lru_cache(maxsize=8192)
def _formatted(text: str, currency: str, locale: str) -> str:
    """``format_money`` of an exact amount (given as its text), remembered: Babel takes
    about 0.15 ms a number, and a table shows the same few amounts (0.00 most of all) again
    and again."""
    value = Decimal(text)
    if not currency:
        return f"{value.quantize(CENT, rounding=ROUND_HALF_UP):,}"
    # Round half up to the currency's minor unit (Babel alone would round half to even).
    value = value.quantize(Decimal(1).scaleb(-get_currency_precision(currency)), ROUND_HALF_UP)
    value = value if value else abs(value)  # nothing is never "-€0.00"
    pattern = None
    if get_currency_symbol(currency, locale) == currency:
        # No symbol in this locale ("SEK" in English): keep the code apart from the digits.
        standard = Locale.parse(locale).currency_formats["standard"].pattern
        pattern = standard.replace("\u00a4#", "\u00a4\u00a0#").replace("\u00a4-#", "\u00a4\u00a0-#")
    return format_currency(value, currency, format=pattern, locale=locale)


class MoneyField(models.DecimalField):
    """Every money column: 14 digits with 2 decimals (up to 999,999,999,999.99).

    Its currency is a separate three-letter field beside it.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", MONEY_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        # Migrations see a plain DecimalField: they never import this module.
        return name, "django.db.models.DecimalField", args, kwargs
