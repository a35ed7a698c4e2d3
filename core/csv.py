"""CSV cells that are safe to open in a spreadsheet.

Spreadsheets run a cell that starts with one of ``FORMULA_STARTS`` as a formula. Every
export puts a quote in front of such a cell (``escape_cell``); imports take it off again
(``unescape_cell``), so a file round-trips.
"""

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
