"""Bounds on what a person or a partner system may type, shared by models, forms and services.

A value outside them is a field error with a message, never an overflow in a task or a
date PostgreSQL cannot read back.
"""

import datetime

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator

EARLIEST = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
LATEST = datetime.datetime(2100, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)

MAX_HOLD_DAYS = 3_650  # ten years of refund window
MAX_CREDIT_LIFETIME_DAYS = 36_500  # a century of credit

max_hold_days = MaxValueValidator(MAX_HOLD_DAYS, f"At most {MAX_HOLD_DAYS:,} days.")
max_credit_lifetime_days = MaxValueValidator(
    MAX_CREDIT_LIFETIME_DAYS, f"At most {MAX_CREDIT_LIFETIME_DAYS:,} days."
)


def validate_sane_datetime(value: datetime.datetime) -> None:
    """Between 1970 and 2100 (an aware datetime, compared in UTC)."""
    if value is None:
        return
    if not EARLIEST <= value <= LATEST:
        raise ValidationError("Give a date between 1970 and 2100.", code="out_of_range")


def validate_sane_date(value: datetime.date) -> None:
    if value is None:
        return
    if not EARLIEST.date() <= value <= LATEST.date():
        raise ValidationError("Give a date between 1970 and 2100.", code="out_of_range")


# IBAN lengths by country, from the SWIFT IBAN registry.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def normalize_iban(value: str) -> str:
    """An IBAN as stored: upper case, no spaces (people type it in groups of four)."""
    return "".join((value or "").split()).upper()


def validate_iban(value: str) -> None:
    """A known country's length and the ISO 13616 check digits (mod 97 == 1).

    Catches a mistyped or swapped digit before finance pays the wrong account; it cannot
    know whether the account exists.
    """
    iban = normalize_iban(value)
    if not iban:
        return
    if not iban.isascii() or not iban.isalnum():
        raise ValidationError("An IBAN has only letters and digits.", code="iban_chars")
    country = iban[:2]
    length = IBAN_LENGTHS.get(country)
    if length is None or not iban[2:4].isdigit():
        raise ValidationError(
            "An IBAN starts with a country code and two check digits, e.g. NL91 ABNA ...",
            code="iban_country",
        )
    if len(iban) != length:
        raise ValidationError(
            f"An IBAN from {country} has {length} characters; this one has {len(iban)}.",
            code="iban_length",
        )
    digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    if int(digits) % 97 != 1:
        raise ValidationError(
            "This IBAN's check digits do not match: look for a mistyped character.",
            code="iban_checksum",
        )


def normalize_bic(value: str) -> str:
    return "".join((value or "").split()).upper()


def validate_bic(value: str) -> None:
    """A BIC (SWIFT code): 4 letters of bank, 2 of country, 2 of place, optionally 3 of
    branch."""
    bic = normalize_bic(value)
    if not bic:
        return
    if len(bic) not in (8, 11) or not bic.isascii() or not bic.isalnum() or not bic[:6].isalpha():
        raise ValidationError("A BIC has 8 or 11 characters, e.g. ABNANL2A.", code="bic_format")
