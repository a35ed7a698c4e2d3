"""Money amounts to the cent."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def cents(value) -> Decimal:
    """``value`` as a Decimal rounded to the cent (0.00 for None).

    Every money total read from the database goes through here: SQLite, the embedded
    default, sums decimal columns as floats (a real 5.01 comes back as 5.00999999999999),
    while PostgreSQL is exact, so the same code gives the same answer on both.
    """
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)
