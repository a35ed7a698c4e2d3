"""How the API shows each object. Ids are integers, times ISO 8601 in UTC, money a decimal
string beside its currency code. Input serializers live next to the view that takes them."""

import re
from datetime import UTC
from decimal import Decimal

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from accounts.models import Customer, ReferralSource
from core.middleware import CONTROL_IN_TEXT
from referrals.models import Program, Referral, ReferralLink
from rewards.models import CreditLot, Payout, Reward, RewardRule

from .parsers import JsonNumber


def refuse_control_characters(value: str) -> None:
    """C0 control characters other than tab and new lines are refused, as in a form
    (``core.middleware``); NUL has DRF's own check and code."""
    if "\x00" not in value and CONTROL_IN_TEXT.search(value):
        raise serializers.ValidationError(
            "Control characters are not allowed.", code="control_character"
        )


class Text(serializers.CharField):
    """A string, and only a string: a number or a list where text belongs is a 400, and so
    is a control character other than tab and new lines."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(refuse_control_characters)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Email(serializers.EmailField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class UtcDateTime(serializers.DateTimeField):
    """An ISO 8601 time with any offset, taken as UTC (PostgreSQL refuses offsets beyond
    ±16 hours, and a time that cannot be expressed in UTC is a 400)."""

    def to_internal_value(self, value):
        moment = super().to_internal_value(value)
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            self.fail("invalid", format="ISO 8601")


# A plain decimal as a person writes it: no exponent, no NaN or Infinity, ASCII digits.
# (as the schema's pattern for a decimal has it: "25", "25.50", ".5", "25.")
PLAIN_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
DIGITS = re.compile(r"[0-9]+", re.ASCII)
MAX_ID = 2**63 - 1  # PostgreSQL's bigint


class Money(serializers.DecimalField):
    """An amount as a decimal string with two places ("25.00"); never a float.

    Taken as a plain decimal only ("25", "25.5", "25.00", or a JSON number written so): an
    exponent ("1e3", or the JSON number 1e3), "NaN", "Infinity", true, or digits of other
    scripts are a 400."""

    default_error_messages = {
        "invalid": 'Give the amount as a plain decimal number, such as "25.00".',
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | float | Decimal):
            self.fail("invalid")
        if isinstance(data, JsonNumber):
            # A JSON number with a fraction or an exponent, as the client wrote it: 1e3 is
            # refused as the string "1e3" is, 12.50000 read as "12.50000" (api.parsers).
            text = data.text
        elif isinstance(data, str):
            text = data.strip()
        elif isinstance(data, Decimal):
            text = format(data, "f")  # from code, not a body: NaN and Infinity stay refused
        else:
            # A float from code: one whose shortest form needs an exponent (1e-07, 1e+16)
            # is no plain decimal.
            text = repr(data)
        if not PLAIN_DECIMAL.fullmatch(text):
            self.fail("invalid")
        return super().to_internal_value(text)


class Id(serializers.IntegerField):
    """An object's id: a whole number (a JSON integer, or a string of digits) from 1. A
    fraction (1.0, "1.5"), true or false is a 400, not rounded or taken for 1."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        if isinstance(data, str) and not DIGITS.fullmatch(data.strip()):
            self.fail("invalid")
        return super().to_internal_value(data)


class CustomerOut(serializers.ModelSerializer):
    referred = serializers.BooleanField(source="is_referred")
    created_at = serializers.DateTimeField(source="first_seen_at")

    class Meta:
        model = Customer
        fields = ["id", "external_id", "email", "name", "phone", "status", "referred", "created_at"]


class SourceOut(serializers.ModelSerializer):
    class Meta:
        model = ReferralSource
        fields = ["id", "kind", "name", "email", "company", "customer", "active", "created_at"]


def portal_url(source: ReferralSource) -> str:
    return settings.SITE_URL + reverse("portal:home", args=[source.portal_token])


class PortalOut(serializers.Serializer):
    source = serializers.IntegerField(source="pk")
    url = serializers.SerializerMethodField()

    def get_url(self, source) -> str:
        return portal_url(source)


class RuleOut(serializers.ModelSerializer):
    amount = Money()
    percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    cap = Money(allow_null=True)
    lifetime_cap = Money(allow_null=True)
    tiers = serializers.ListField(child=serializers.DictField())

    class Meta:
        model = RewardRule
        fields = [
            "id",
            "name",
            "beneficiary",
            "trigger",
            "formula",
            "amount",
            "percent",
            "cap",
            "lifetime_cap",
            "tiers",
            "tier_basis",
            "reward_kind",
            "currency",
            "hold_days",
            "credit_lifetime_days",
            "active",
        ]


class ProgramOut(serializers.ModelSerializer):
    allowed_source_kinds = serializers.ListField(child=serializers.CharField())
    rules = RuleOut(many=True, source="active_rules")  # prefetched by the selector

    class Meta:
        model = Program
        fields = [
            "id",
            "name",
            "status",
            "attribution_window_days",
            "attribution_model",
            "landing_mode",
            "destination_url",
            "landing_headline",
            "friend_offer",
            "allowed_source_kinds",
            "created_at",
            "rules",
        ]


class LinkOut(serializers.ModelSerializer):
    code = serializers.CharField(source="public_code")
    url = serializers.SerializerMethodField()
    qr_svg_url = serializers.SerializerMethodField()
    live = serializers.BooleanField(
        source="is_live",
        read_only=True,
        help_text="Whether the link takes visitors now: its program is active and its source "
        "too. A paused or ended program's links (and an inactive source's) answer 404, and "
        "their code is refused in events, until both are active again.",
    )

    class Meta:
        model = ReferralLink
        fields = ["id", "program", "source", "code", "url", "qr_svg_url", "live", "created_at"]

    def get_url(self, link) -> str:
        return f"{settings.SITE_URL}/r/{link.public_code}"

    def get_qr_svg_url(self, link) -> str:
        return settings.SITE_URL + reverse("portal:qr", args=[link.source.portal_token, link.pk])


class ReferralOut(serializers.ModelSerializer):
    customer = serializers.PrimaryKeyRelatedField(source="friend", read_only=True)

    class Meta:
        model = Referral
        fields = [
            "id",
            "program",
            "source",
            "link",
            "customer",
            "friend_email",
            "friend_name",
            "friend_phone",
            "channel",
            "status",
            "flagged",
            "rejection_reason",
            "created_at",
            "signed_up_at",
            "converted_at",
        ]


class RewardOut(serializers.ModelSerializer):
    amount = Money()
    # What partial refunds of its purchase took back, and what the reward is worth now.
    taken_back = Money(read_only=True)
    value = Money(read_only=True)

    class Meta:
        model = Reward
        fields = [
            "id",
            "status",
            "amount",
            "taken_back",
            "value",
            "currency",
            "reward_kind",
            "source",
            "customer",
            "conversion",
            "rule",
            "payout",
            "coupon_code",
            "hold_until",
            "void_reason",
            "created_at",
            "approved_at",
            "fulfilled_at",
            "voided_at",
        ]


class PayoutOut(serializers.ModelSerializer):
    amount = Money()

    class Meta:
        model = Payout
        fields = [
            "id",
            "source",
            "amount",
            "currency",
            "method",
            "status",
            "provider_reference",
            "attempts",
            "last_error",
            "created_at",
            "paid_at",
            "failed_at",
        ]


class LotOut(serializers.ModelSerializer):
    amount = Money()
    remaining = Money()

    class Meta:
        model = CreditLot
        fields = ["id", "amount", "remaining", "granted_at", "expires_at", "expired_at"]
