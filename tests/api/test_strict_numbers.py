"""Ids are whole numbers and amounts plain decimals. An id sent as 1.0, "1.5" or true was
rounded or taken for 1, and an amount sent as "1e3" became a thousand: each is now a 400 on
its field, and changes nothing."""

from decimal import Decimal

import pytest

from accounts.models import ReferralSource
from referrals.models import Purchase, Referral, ReferralLink
from rewards.models import Payout
from rewards.services import reward_grant_manual
from tests.api.conftest import error_of

BAD_IDS = [1.0, "1.0", "1.5", 1.5, True, False, "1e0", " ", "١"]
BAD_AMOUNTS = ["1e3", "1E3", "NaN", "Infinity", "-Infinity", "inf", 1e-07, 1e16, True, "+1",
               "1_000", "١٢", ".", "-", "1.2.3"]  # fmt: skip


@pytest.fixture
def owed(acme, source):
    reward_grant_manual(
        organization=acme, source=source, amount=Decimal("40"), note="x", actor=None,
        reward_kind="cash",
    )  # fmt: skip
    return source


@pytest.mark.parametrize("value", BAD_IDS)
def test_an_id_that_is_not_a_whole_number_is_a_400_on_its_field(api, program, owed, value):
    cases = [
        ("/api/v1/payouts", {"source": value}, "source"),
        ("/api/v1/links", {"source": owed.pk, "program": value}, "program"),
        ("/api/v1/referrals", {"source": value, "program": program.pk, "friend_email": "f@x.test"},
         "source"),
        ("/api/v1/sources", {"name": "Sam", "customer": value}, "customer"),
    ]  # fmt: skip
    for path, body, param in cases:
        response = api.post(path, body)
        assert response.status_code == 400, (path, value, response.content)
        assert error_of(response)["param"] == param
    assert not Payout.objects.exists() and not Referral.objects.exists()
    assert not ReferralSource.objects.filter(name="Sam").exists()
    assert ReferralLink.objects.count() == 0
    response = api.get("/api/v1/referrals", {"source": value})
    assert response.status_code == 400 and error_of(response)["param"] == "source"


def test_a_whole_number_id_is_taken_as_a_number_or_as_digits(api, program, owed):
    assert api.post("/api/v1/links", {"source": owed.pk, "program": program.pk}).status_code in (
        200,
        201,
    )
    response = api.post("/api/v1/links", {"source": str(owed.pk), "program": str(program.pk)})
    assert response.status_code in (200, 201)
    assert api.get("/api/v1/referrals", {"source": str(owed.pk)}).status_code == 200


@pytest.mark.parametrize("value", BAD_AMOUNTS)
def test_an_amount_that_is_not_a_plain_decimal_is_a_400_on_amount(api, acme, owed, value):
    event = {"id": "o-1", "type": "purchase", "email": "a@x.test", "amount": value}
    for path, body in [
        ("/api/v1/events", event),
        ("/api/v1/payouts", {"source": owed.pk, "amount": value}),
        (f"/api/v1/sources/{owed.pk}/credit/redeem", {"amount": value, "order_id": "o-9"}),
    ]:
        response = api.post(path, body)
        assert response.status_code == 400, (path, value, response.content)
        assert error_of(response)["param"] == "amount"
    [item] = api.post("/api/v1/events/bulk", {"events": [event]}).json()["results"]
    assert item["status"] == 400 and item["error"]["param"] == "amount"
    assert not Purchase.objects.exists() and not Payout.objects.exists()


@pytest.mark.parametrize("value", ["12", "12.5", "12.50", " 12.50 ", 12, 12.5, ".5", "5."])
def test_a_plain_decimal_amount_is_taken(api, value):
    event = {"id": "o-1", "type": "purchase", "email": "a@x.test", "amount": value}
    response = api.post("/api/v1/events", event)
    assert response.status_code == 201, response.content
    assert Purchase.objects.get().amount == Decimal(str(value).strip())


# An amount written as a JSON number is read as written (an exact decimal, never a float):
# 1e3 was parsed to the float 1000.0 before any check and taken as a thousand, and 12.50000
# as 12.5, while the strings "1e3" and "12.50000" were refused.
EXPONENT_NUMBERS = ["1e3", "1E3", "1e+3", "1.5e2", "10e-1", "0e0", "-1e2"]


def _amount_bodies(owed) -> list[tuple[str, str]]:
    """(path, raw body with AMOUNT where the amount goes) for each endpoint taking one."""
    return [
        ("/api/v1/events", '{"id": "o1", "type": "purchase", "email": "a@x.io", "amount": AMOUNT}'),
        ("/api/v1/payouts", '{"source": ' + str(owed.pk) + ', "amount": AMOUNT}'),
        (f"/api/v1/sources/{owed.pk}/credit/redeem", '{"amount": AMOUNT, "order_id": "o-9"}'),
    ]  # fmt: skip


@pytest.mark.parametrize("number", EXPONENT_NUMBERS)
def test_an_amount_in_exponent_form_as_a_json_number_is_a_400_on_amount(api, owed, number):
    for path, body in _amount_bodies(owed):
        response = api.post(path, raw=body.replace("AMOUNT", number))
        assert response.status_code == 400, (path, number, response.content)
        assert error_of(response)["param"] == "amount"
    bulk = '{"events": [{"id": "o-1", "type": "purchase", "email": "a@x.test", "amount": AMOUNT}]}'
    [item] = api.post("/api/v1/events/bulk", raw=bulk.replace("AMOUNT", number)).json()["results"]
    assert item["status"] == 400 and item["error"]["param"] == "amount"
    assert not Purchase.objects.exists() and not Payout.objects.exists()


@pytest.mark.parametrize("number", ["12", "12.5", "12.50", "0.5", "12.50000", "12.345"])
def test_a_json_number_amount_is_answered_as_the_same_decimal_string(api, number):
    """The number 12.50000 and the string "12.50000" are one amount, answered alike."""
    answers = []
    for amount in (number, f'"{number}"'):
        event = f'"id": "o-{len(answers)}", "type": "purchase", "email": "a@x.test"'
        raw = f'{{{event}, "amount": {amount}}}'
        response = api.post("/api/v1/events", raw=raw)
        body = response.json()
        answers.append(
            (response.status_code, body.get("error", {}).get("param"), body.get("amount"))
        )
    assert answers[0][:2] == answers[1][:2], answers
    if answers[0][0] == 201:
        assert {p.amount for p in Purchase.objects.all()} == {Decimal(number)}


def test_a_bulk_of_json_number_amounts_is_taken_exactly(api):
    raw = (
        '{"events": [{"id": "o-1", "type": "purchase", "email": "a@x.test", "amount": 12.5},'
        ' {"id": "o-2", "type": "purchase", "email": "b@x.test", "amount": 999999999.99},'
        ' {"id": "o-3", "type": "purchase", "email": "c@x.test", "amount": 1e1}]}'
    )
    results = api.post("/api/v1/events/bulk", raw=raw).json()["results"]
    assert [r["status"] for r in results] == [201, 201, 400]
    assert results[2]["error"]["param"] == "amount"
    assert sorted(Purchase.objects.values_list("amount", flat=True)) == [
        Decimal("12.50"),
        Decimal("999999999.99"),
    ]
