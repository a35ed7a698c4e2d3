"""/api/v1/events and /api/v1/events/bulk: what the business's customers did."""

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_email
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import get_error_detail
from rest_framework.response import Response

from accounts.models import CURRENCIES
from core.memory import no_garbage_collection
from referrals.models import Conversion

from .. import events
from ..errors import validation_error_body
from ..parsers import JsonNumber
from ..serializers import Email, Money, RewardOut, Text, UtcDateTime
from .base import ApiView

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AMOUNT = 10**9


class EventIn(serializers.Serializer):
    id = Text(max_length=200, help_text="Your own id of the event (for a purchase, the order id).")
    type = serializers.ChoiceField(choices=Conversion.Kind.choices)
    customer_external_id = Text(required=False, allow_blank=True, max_length=120)
    email = Email(required=False, allow_blank=True, max_length=254)
    name = Text(required=False, allow_blank=True, max_length=200)
    amount = Money(required=False, min_value=0, max_value=MAX_AMOUNT, default=Decimal("0"))
    currency = serializers.ChoiceField(choices=CURRENCIES, required=False)
    occurred_at = UtcDateTime(required=False)
    code = Text(required=False, allow_blank=True, max_length=64)
    cookie = Text(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="The value of the adv_ref_<program> cookie the friend's browser carried, as "
        "it came (Advocate checks its signature and age), or a bare referral code.",
    )
    refund_of = Text(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="For a refund: the id of the order it refunds (required for a refund).",
    )

    def validate_occurred_at(self, value):
        if value < EARLIEST or value > timezone.now() + timedelta(days=1):
            raise ValidationError("Give a time between 2000 and now.")
        return value

    def validate(self, data):
        if data["type"] == "refund" and not data.get("refund_of"):
            raise ValidationError({"refund_of": ["A refund names the order it refunds."]})
        if data["type"] != "refund" and data.get("refund_of"):
            raise ValidationError({"refund_of": ["Only a refund names a refunded order."]})
        named = data.get("email") or data.get("customer_external_id")
        if not named and data["type"] != "refund":  # a refund's order knows its customer
            raise ValidationError(
                {"customer_external_id": ["Give the customer's external id or email."]}
            )
        if data["type"] in ("purchase", "refund") and data["amount"] <= 0:
            raise ValidationError({"amount": ["A purchase or refund needs an amount above 0."]})
        currency = data.get("currency")
        if currency and currency != self.context["organization"].currency:
            raise ValidationError(
                {
                    "currency": [
                        f"This organization works in {self.context['organization'].currency}."
                    ]
                }
            )
        return data


class ConversionOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="As recorded: a known customer's purchase is advocacy.")
    amount = Money()
    currency = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    is_first_purchase = serializers.BooleanField()


class WarningOut(serializers.Serializer):
    param = serializers.CharField(help_text='The field it is about: "code" or "cookie".')
    code = serializers.CharField(
        help_text="code_not_live (unknown here, its program paused or ended or no longer "
        "accepting its source's kind, its source inactive, or renamed), cookie_not_valid "
        "(not signed by Advocate, or past its window), code_needs_email (a code makes a "
        "referral only for a friend with an email)."
    )
    message = serializers.CharField()


class EventOut(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    stored = serializers.BooleanField(
        help_text="This request recorded the event (a purchase, refund or advocacy always; a "
        "signup when a referral covers it)."
    )
    duplicate = serializers.BooleanField(help_text="This event id was recorded before.")
    customer = serializers.IntegerField(allow_null=True)
    referral = serializers.IntegerField(allow_null=True)
    source = serializers.IntegerField(allow_null=True)
    program = serializers.IntegerField(allow_null=True)
    conversion = ConversionOut(allow_null=True)
    rewards = RewardOut(
        many=True,
        help_text="The rewards the event has earned so far. A new event's rewards are issued "
        "by a background task seconds after it is stored (see rewards_pending), so a new "
        "event answers an empty list here; an event sent again lists what it earned.",
    )
    rewards_pending = serializers.BooleanField(
        help_text="This request queued the issuing of the event's rewards: they follow within "
        "seconds, under GET /api/v1/rewards?event=<id> and as reward webhooks (none may be "
        "due, when no rule pays for the event)."
    )
    warnings = WarningOut(
        many=True,
        help_text="The referral code or cookie the event came with that could not be used: the "
        "event was recorded (and attributed) as if it had not been given. Empty when all is well.",
    )


class ErrorDetailOut(serializers.Serializer):
    type = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()
    param = serializers.CharField(allow_null=True)
    errors = serializers.ListField(child=serializers.DictField(), required=False)


class BulkIn(serializers.Serializer):
    # Each event is checked on its own below, so one bad event answers for itself alone.
    events = serializers.ListField(
        # JSON's numbers arrive as decimals (api.parsers), which this encoder can write.
        child=serializers.JSONField(encoder=DjangoJSONEncoder),
        min_length=1,
        max_length=getattr(settings, "API_BULK_MAX_EVENTS", 1000),
    )


class BulkInSchema(serializers.Serializer):
    """What the schema documents for a bulk request."""

    events = EventIn(many=True, min_length=1, max_length=1000)


class BulkItemOut(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.IntegerField(help_text="201 stored, 200 known or not attributed, 400 bad")
    result = EventOut(allow_null=True)
    error = ErrorDetailOut(allow_null=True)


class BulkOut(serializers.Serializer):
    results = BulkItemOut(many=True)


def _status(result: events.EventResult) -> int:
    return 201 if result.stored else 200


def _ingest(view, data: dict) -> events.EventResult:
    try:
        return events.ingest(organization=view.organization, **data)
    except DjangoValidationError as error:
        raise ValidationError(get_error_detail(error)) from None


class EventCreate(ApiView):
    serializer_class = EventOut

    @extend_schema(
        operation_id="events_create",
        request=EventIn,
        responses={200: EventOut, 201: EventOut},
        description="Record one event, once per id: 201 when stored, 200 when it was known "
        "before or no referral covers the customer.",
    )
    def post(self, request):
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Send a JSON object."]})
        checker = EventIn(context={"organization": self.organization})
        try:
            data = check_event(request.data, checker)
        except ValidationError as error:
            raise ValidationError(error.detail) from None
        result = _ingest(self, data)
        return Response(Answers().event(result), status=_status(result))


class EventBulk(ApiView):
    serializer_class = BulkOut

    @extend_schema(
        operation_id="events_bulk",
        request=BulkInSchema,
        responses=BulkOut,
        description="Up to 1,000 events; each answered in order with its result or its error. "
        "A bad event does not stop the others.",
    )
    def post(self, request):
        # A bulk's thousands of rows and answers live until the response: collections
        # during it (about 9 ms of its CPU) would free nothing.
        with no_garbage_collection():
            return self._post(request)

    def _post(self, request):
        items = self.validated(BulkIn)["events"]
        context = {"organization": self.organization}
        checked: list[dict | ValidationError] = []
        # One serializer checks every event: building its fields (a copy of each, with the
        # list of currencies) costs more than checking an event.
        checker = EventIn(context=context)
        for item in items:
            if not isinstance(item, dict):
                checked.append(ValidationError({"non_field_errors": ["Send a JSON object."]}))
                continue
            try:
                checked.append(check_event(item, checker))
            except ValidationError as error:
                checked.append(ValidationError(error.detail))
        known = events.already_recorded(
            organization=self.organization,
            ids=[c["id"] for c in checked if isinstance(c, dict)],
        )
        # The new events a set-based pass can take; the others one by one, in order.
        fresh = [
            (index, data)
            for index, data in enumerate(checked)
            if isinstance(data, dict) and data["id"].strip() not in known
        ]
        taken = dict(
            zip(
                (index for index, _ in fresh),
                events.ingest_many(
                    organization=self.organization, events=[data for _, data in fresh]
                ),
                strict=True,
            )
        )
        answers = Answers()
        results = []
        for index, data in enumerate(checked):
            recorded = known.get(data["id"].strip()) if isinstance(data, dict) else None
            if recorded is not None:
                result = dataclasses.replace(
                    recorded,
                    type=data["type"],
                    warnings=events.known_warnings(
                        organization=self.organization, event=data, known=recorded
                    ),
                )
                results.append(answers.item(index, 200, result=result))
                continue
            if taken.get(index) is not None:
                results.append(answers.item(index, _status(taken[index]), result=taken[index]))
                continue
            try:
                if isinstance(data, ValidationError):
                    raise data
                result = _ingest(self, data)
            except ValidationError as error:
                results.append(
                    answers.item(index, 400, error=validation_error_body(error.detail)["error"])
                )
                continue
            results.append(answers.item(index, _status(result), result=result))
        return Response({"results": results})


# The lean paths of the two busiest endpoints --------------------------------------------
#
# DRF checks an event field by field through a dozen field objects and writes an answer
# through three nested serializers: for a bulk of 1,000 events that was a third of the
# request's CPU. ``check_event`` takes the plain, well-formed event with a few direct checks
# and hands anything else (a wrong type, a bad value, a doubtful case) to ``EventIn``, so
# the errors stay exactly the serializer's; ``Answers`` writes what ``EventOut`` and
# ``BulkItemOut`` would (the schema's documentation), which tests check field by field.

_CENT = Decimal("0.01")
_AMOUNT = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,2})?")
# NUL and surrogates, as DRF's CharField refuses, and other C0 controls, as ``Text`` does
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
# Text fields: (max length, blank allowed)
_TEXT = {
    "id": (200, False),
    "customer_external_id": (120, True),
    "name": (200, True),
    "code": (64, True),
    "cookie": (200, True),
    "refund_of": (200, True),
}
_KINDS = frozenset(Conversion.Kind.values)
_CURRENCY_CODES = frozenset(code for code, _ in CURRENCIES)
_OCCURRED_AT = UtcDateTime()


def check_event(item: dict, checker: "EventIn") -> dict:
    """The event as ``EventIn`` validates it (raises its ValidationError)."""
    quick = _quick(item, checker)
    if quick is not None:
        return quick
    return dict(checker.run_validation(item))


def _quick(item: dict, checker: "EventIn") -> dict | None:
    """``EventIn``'s validated data for a plain, valid event; None when in any doubt."""
    data: dict = {}
    for name, value in item.items():
        if name in _TEXT:
            if not isinstance(value, str):
                return None
            limit, blank = _TEXT[name]
            value = value.strip()
            if not value and not blank:
                return None
            if len(value) > limit or _UNSAFE.search(value):
                return None
        elif name == "email":
            if not isinstance(value, str):
                return None
            value = value.strip()
            if value:
                if len(value) > 254 or _UNSAFE.search(value):
                    return None
                try:
                    validate_email(value)
                except DjangoValidationError:
                    return None
        elif name == "type":
            if not isinstance(value, str) or value not in _KINDS:
                return None
        elif name == "currency":
            if not isinstance(value, str) or value not in _CURRENCY_CODES:
                return None
        elif name == "amount":
            if isinstance(value, JsonNumber):  # 12.5 as a JSON number: as "12.5" is
                value = value.text
            plain = (isinstance(value, str) and _AMOUNT.fullmatch(value)) or (
                type(value) is int and 0 <= value <= MAX_AMOUNT
            )
            if not plain:
                return None
            value = Decimal(value).quantize(_CENT)
            if value > MAX_AMOUNT:
                return None
        elif name == "occurred_at":
            try:
                value = checker.validate_occurred_at(_OCCURRED_AT.run_validation(value))
            except ValidationError:
                return None
        else:
            continue  # not a field: ignored, as the serializer ignores it
        data[name] = value
    if "id" not in data or "type" not in data:
        return None
    data.setdefault("amount", EventIn._declared_fields["amount"].default)
    try:
        return checker.validate(data)
    except ValidationError:
        return None


class Answers:
    """``EventOut`` and ``BulkItemOut`` as plain dicts (one request's worth)."""

    def __init__(self):
        self._money = Money()
        self._time = serializers.DateTimeField()
        self._reward = RewardOut()

    def event(self, result: events.EventResult) -> dict:
        conversion = result.conversion
        return {
            "id": str(result.id),
            "type": str(result.type),
            "stored": bool(result.stored),
            "duplicate": bool(result.duplicate),
            "customer": _int(result.customer),
            "referral": _int(result.referral),
            "source": _int(result.source),
            "program": _int(result.program),
            "conversion": None
            if conversion is None
            else {
                "id": int(conversion.pk),
                "kind": str(conversion.kind),
                "amount": self._money.to_representation(conversion.amount),
                "currency": str(conversion.currency),
                "occurred_at": self._time.to_representation(conversion.occurred_at),
                "is_first_purchase": bool(conversion.is_first_purchase),
            },
            "rewards": [self._reward.to_representation(reward) for reward in result.rewards],
            "rewards_pending": bool(result.rewards_pending),
            "warnings": [
                {"param": str(w.param), "code": str(w.code), "message": str(w.message)}
                for w in result.warnings
            ],
        }

    def item(self, index: int, status: int, *, result=None, error=None) -> dict:
        return {
            "index": index,
            "status": status,
            "result": None if result is None else self.event(result),
            "error": None if error is None else _error(error),
        }


def _int(value) -> int | None:
    return None if value is None else int(value)


def _error(error: dict) -> dict:
    out = {
        "type": str(error["type"]),
        "code": str(error["code"]),
        "message": str(error["message"]),
        "param": None if error["param"] is None else str(error["param"]),
    }
    if "errors" in error:
        out["errors"] = [{str(k): v for k, v in entry.items()} for entry in error["errors"]]
    return out
