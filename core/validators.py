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
