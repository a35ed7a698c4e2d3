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
