"""CSV cells that are safe to open in a spreadsheet.

Spreadsheets run a cell that starts with one of ``FORMULA_STARTS`` as a formula. Every
export puts a quote in front of such a cell (``escape_cell``); imports take it off again
(``unescape_cell``), so a file round-trips.
"""

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value) -> str:
    """Make a cell safe to open in a spreadsheet (no formula injection)."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def unescape_cell(value: str) -> str:
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


class _Echo:
    """A file-like object whose ``write`` hands the line back, for a streaming csv.writer."""

    def write(self, value):
        return value


def csv_lines(rows: Iterable[Iterable]) -> Iterator[str]:
    """The lines of a CSV file for a streaming response, after a byte order mark (so
    spreadsheets read it as UTF-8). Text is escaped; numbers are written as they are, so
    a negative amount stays a number."""
    writer = csv.writer(_Echo())
    yield "\ufeff"
    for row in rows:
        yield writer.writerow(
            [cell if isinstance(cell, int | Decimal) else escape_cell(cell) for cell in row]
        )
