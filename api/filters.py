"""Query filters of the list endpoints (django-filter). Unknown values are a 400."""

from datetime import UTC

import django_filters as df
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from accounts.models import Customer, ReferralSource, SourceKind
from referrals.models import Referral, ReferralLink
from rewards.models import Payout, Reward

from .serializers import DIGITS

MAX_ID = 2**63 - 1


class WholeNumberField(forms.IntegerField):
    """Digits only: Django's IntegerField takes "1.0" (and "١") for 1."""

    def to_python(self, value):
        if value not in self.empty_values and not DIGITS.fullmatch(str(value).strip()):
            raise DjangoValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class IdFilter(df.NumberFilter):
    """An object id: a whole number in the database's range (anything else is a 400)."""

    field_class = WholeNumberField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class StrictOrdering(OrderingFilter):
    """``?ordering=`` takes the fields the list documents (``-`` for descending); any other
    value is a 400 on ``ordering``. DRF's filter drops what it does not know, and the client
    silently gets an order it did not ask for."""

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = super().remove_invalid_fields(queryset, fields, view, request)
        if len(valid) != len(fields):
            names = [
                name for name, _ in self.get_valid_fields(queryset, view, {"request": request})
            ]
            raise ValidationError(
                {
                    "ordering": [
                        f"Order by {', '.join(names)}, with - before a field for descending."
                    ]
                },
                code="invalid",
            )
        return valid


class StrictBooleanFilter(df.TypedChoiceFilter):
    """``true`` or ``false``; anything else is a 400 (not silently ignored)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(*args, **kwargs)


class UtcIsoDateTimeField(df.fields.IsoDateTimeField):
    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError("Enter a valid ISO 8601 time.", code="invalid") from None


class UtcDateTimeFilter(df.IsoDateTimeFilter):
    """An ISO 8601 time with any offset, compared in UTC (offsets beyond PostgreSQL's ±16
    hours included)."""

    field_class = UtcIsoDateTimeField


class CustomerFilter(df.FilterSet):
    email = df.CharFilter(field_name="email", lookup_expr="iexact", max_length=254)
    external_id = df.CharFilter(field_name="external_id", max_length=120)
    referred = StrictBooleanFilter(field_name="is_referred")
    created_after = UtcDateTimeFilter(field_name="first_seen_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="first_seen_at", lookup_expr="lt")

    class Meta:
        model = Customer
        fields: list[str] = []


class SourceFilter(df.FilterSet):
    kind = df.ChoiceFilter(choices=SourceKind.choices)
    active = StrictBooleanFilter()
    email = df.CharFilter(field_name="email", lookup_expr="iexact", max_length=254)

    class Meta:
        model = ReferralSource
        fields: list[str] = []


class LinkFilter(df.FilterSet):
    source = IdFilter(field_name="source_id")
    program = IdFilter(field_name="program_id")

    class Meta:
        model = ReferralLink
        fields: list[str] = []


class ReferralFilter(df.FilterSet):
    status = df.ChoiceFilter(choices=Referral.Status.choices)
    source = IdFilter(field_name="source_id")
    program = IdFilter(field_name="program_id")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Referral
        fields: list[str] = []


class RewardFilter(df.FilterSet):
    status = df.ChoiceFilter(choices=Reward.Status.choices)
    source = IdFilter(field_name="source_id")
    customer = IdFilter(field_name="customer_id")
    conversion = IdFilter(field_name="conversion_id")
    event = df.CharFilter(
        field_name="conversion__external_id", help_text="The id of the event that earned it."
    )
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Reward
        fields: list[str] = []


class PayoutFilter(df.FilterSet):
    status = df.ChoiceFilter(choices=Payout.Status.choices)
    source = IdFilter(field_name="source_id")

    class Meta:
        model = Payout
        fields: list[str] = []
