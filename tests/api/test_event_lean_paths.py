"""
The events endpoints check plain events and write their answers without DRF's field-by-field
machinery (``api.views.events.check_event`` and ``Answers``). These tests hold them to the
serializers the schema documents: the same validated data (or the serializer's own error)
and the same answers, field for field.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from api.errors import validation_error_body
from api.events import EventResult, already_recorded
from api.views.events import Answers, BulkItemOut, EventIn, EventOut, _quick, check_event
from referrals.models import Conversion
from referrals.services import event_record, referral_create
from tests.api.conftest import run_reward_tasks

NOW = timezone.now().replace(microsecond=0)

PLAIN = [
    {"id": "o-1", "type": "purchase", "email": "ann@x.test", "amount": "10.00"},
    {"id": " o-2 ", "type": "purchase", "email": " Ann@X.test ", "amount": "10", "currency": "EUR"},
    {"id": "o-3", "type": "purchase", "customer_external_id": "c-1", "amount": 25},
    {"id": "o-4", "type": "signup", "email": "bob@x.test", "name": "Bob", "code": ""},
    {"id": "o-5", "type": "advocacy", "email": "bob@x.test", "amount": "0.5", "cookie": "abc"},
    {"id": "o-6", "type": "refund", "refund_of": "o-1", "amount": "5.00"},
    {"id": "o-7", "type": "purchase", "email": "c@x.test", "amount": "1.00", "extra": [1]},
    {"id": "o-8", "type": "purchase", "email": "c@x.test", "amount": "999999999.99"},
    {
        "id": "o-9",
        "type": "purchase",
        "email": "c@x.test",
        "amount": "3.10",
        "occurred_at": (NOW - timedelta(days=2)).isoformat(),
    },
    {
        "id": "o-10",
        "type": "purchase",
        "email": "c@x.test",
        "amount": "3.10",
        "occurred_at": "2026-01-02T03:04:05+02:00",
        "customer_external_id": "  ",
    },
]

DOUBTFUL = [
    {"id": "", "type": "purchase", "email": "a@x.test", "amount": "1"},
    {"id": "x" * 201, "type": "purchase", "email": "a@x.test", "amount": "1"},
    {"id": 7, "type": "purchase", "email": "a@x.test", "amount": "1"},
    {"id": "a\x00b", "type": "purchase", "email": "a@x.test", "amount": "1"},
    {"id": "a\ud800", "type": "purchase", "email": "a@x.test", "amount": "1"},
    {"id": "o", "type": "sale", "email": "a@x.test", "amount": "1"},
    {"id": "o", "type": "purchase", "email": "not an email", "amount": "1"},
    {"id": "o", "type": "purchase", "email": None, "amount": "1"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "-1"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "0"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "1.005"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "1e3"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "NaN"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "Infinity"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "1E3"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": 1e3},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": 1e-07},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "+1"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "1_000"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": ".5"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": 1.5},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": True},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "1000000000.01"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": " 12.00 "},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "1", "currency": "USD"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "1", "currency": "XYZ"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "1", "currency": ""},
    {"id": "o", "type": "purchase", "amount": "1"},
    {"id": "o", "type": "refund", "amount": "1"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "1", "refund_of": "o-1"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "amount": "1", "occurred_at": "soon"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "occurred_at": "1999-01-01T00:00:00Z"},
    {"id": "o", "type": "purchase", "email": "a@x.test", "code": "c" * 65, "amount": "1"},
    {"type": "purchase", "email": "a@x.test", "amount": "1"},
    {"id": "o", "email": "a@x.test", "amount": "1"},
]


def serializer_says(item, organization):
    try:
        return dict(EventIn(context={"organization": organization}).run_validation(item))
    except ValidationError as error:
        return ("error", error.detail)


def lean_says(item, organization):
    try:
        return check_event(item, EventIn(context={"organization": organization}))
    except ValidationError as error:
        return ("error", error.detail)


@pytest.mark.parametrize("item", PLAIN + DOUBTFUL)
def test_an_event_is_checked_exactly_as_the_serializer_checks_it(item, acme):
    assert lean_says(item, acme) == serializer_says(item, acme)


@pytest.mark.parametrize("item", PLAIN)
def test_a_plain_event_takes_the_lean_path(item, acme):
    checked = _quick(item, EventIn(context={"organization": acme}))
    assert checked is not None
    assert checked == serializer_says(item, acme)


@pytest.mark.parametrize("item", DOUBTFUL)
def test_a_doubtful_event_is_left_to_the_serializer(item, acme):
    assert _quick(item, EventIn(context={"organization": acme})) is None


def test_the_answers_are_what_the_documented_serializers_write(acme, program, source, fixed_rule):
    referral_create(program=program, source=source, channel="phone", friend_email="f@x.test")
    conversion, _ = event_record(
        organization=acme,
        kind="purchase",
        external_id="o-1",
        amount=Decimal("40.5"),
        email="f@x.test",
    )
    signup, _ = event_record(organization=acme, kind="signup", external_id="s-1", email="f@x.test")
    event_record(
        organization=acme, kind="purchase", external_id="w-1", amount=Decimal("3"), email="w@x"
    )
    run_reward_tasks()
    known = already_recorded(organization=acme, ids=["o-1", "s-1", "w-1"])
    assert known["o-1"].rewards  # the comparison covers a reward too
    results = [
        EventResult(
            id="o-1",
            type="purchase",
            stored=True,
            duplicate=False,
            customer=conversion.customer_id,
            conversion=Conversion.objects.select_related("referral", "purchase").get(
                pk=conversion.pk
            ),
            rewards_pending=True,
        ),
        known["o-1"],
        known["s-1"],
        known["w-1"],
        signup
        and EventResult(
            id="s-1", type="signup", stored=True, duplicate=False, customer=None, conversion=signup
        ),
    ]
    answers = Answers()
    for result in results:
        assert answers.event(result) == EventOut(result).data
        assert (
            answers.item(3, 201, result=result)
            == BulkItemOut({"index": 3, "status": 201, "result": result, "error": None}).data
        )
    for detail in [
        {"amount": ["A purchase or refund needs an amount above 0."]},
        {"non_field_errors": ["Send a JSON object."]},
    ]:
        error = validation_error_body(detail)["error"]
        assert (
            answers.item(0, 400, error=error)
            == BulkItemOut({"index": 0, "status": 400, "result": None, "error": error}).data
        )
