"""/api/v1/rewards (approve, void), the credit of a customer or source (balance, lots,
redemption once per order id, never below zero), and /api/v1/payouts."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Customer
from rewards.models import LedgerEntry, Payout, Reward
from rewards.services import credit_account_for, credit_grant, reward_grant_manual
from tests.api.conftest import error_of


@pytest.fixture
def held_reward(program, source, link):
    from referrals.services import conversion_record, referral_create
    from rewards.services import issue_rewards_for_conversion, rule_create

    rule_create(program=program, trigger="first_purchase", amount=Decimal("30"), hold_days=30)
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )
    conversion, _ = conversion_record(
        referral=referral, kind="purchase", external_id="o-1", amount=Decimal("100")
    )
    [reward] = issue_rewards_for_conversion(conversion_id=conversion.pk)
    return reward


def test_it_lists_and_reads_rewards(api, held_reward):
    results = api.get("/api/v1/rewards", {"status": "pending"}).json()["results"]
    assert [(r["id"], r["amount"], r["currency"]) for r in results] == [
        (held_reward.pk, "30.00", "EUR")
    ]
    assert api.get("/api/v1/rewards", {"status": "void"}).json()["results"] == []
    body = api.get(f"/api/v1/rewards/{held_reward.pk}").json()
    assert body["hold_until"].endswith("Z") and body["status"] == "pending"


def test_it_approves_a_reward_before_its_hold_ends(api, held_reward):
    response = api.post(f"/api/v1/rewards/{held_reward.pk}/approve")
    assert response.status_code == 200 and response.json()["status"] == "fulfilled"
    assert held_reward.events.get(to_status="approved").actor_label == "api"


def test_it_voids_a_reward_with_a_reason(api, held_reward):
    response = api.post(f"/api/v1/rewards/{held_reward.pk}/void", {"reason": ""})
    assert response.status_code == 400 and error_of(response)["param"] == "reason"
    response = api.post(f"/api/v1/rewards/{held_reward.pk}/void", {"reason": "Fraud"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["void_reason"]) == ("void", "Fraud")


def test_the_reward_list_costs_a_bounded_number_of_queries(
    api, acme, source, django_assert_max_num_queries
):
    for n in range(20):
        reward_grant_manual(
            organization=acme, source=source, amount=Decimal("1"), note=f"n{n}", actor=None
        )
    with django_assert_max_num_queries(4):
        assert len(api.get("/api/v1/rewards", {"limit": 100}).json()["results"]) == 20


@pytest.fixture
def customer_with_credit(acme):
    customer = Customer.objects.create(organization=acme, external_id="c-1")
    account = credit_account_for(organization_id=acme.pk, customer=customer)
    now = timezone.now()
    credit_grant(
        account=account,
        amount=Decimal("10"),
        expires_at=now + timedelta(days=5),
        idempotency_key="a",
    )
    credit_grant(
        account=account,
        amount=Decimal("15"),
        expires_at=now + timedelta(days=50),
        idempotency_key="b",
    )
    return customer


def test_it_shows_the_balance_with_its_lots_and_expiry_dates(api, customer_with_credit):
    body = api.get(f"/api/v1/customers/{customer_with_credit.pk}/credit").json()
    assert (body["currency"], body["balance"], body["available"]) == ("EUR", "25.00", "25.00")
    assert [lot["remaining"] for lot in body["lots"]] == ["10.00", "15.00"]
    assert all(lot["expires_at"].endswith("Z") for lot in body["lots"])


def test_a_holder_without_an_account_has_nothing_and_gets_none(api, source):
    body = api.get(f"/api/v1/sources/{source.pk}/credit").json()
    assert body == {"currency": "EUR", "balance": "0.00", "available": "0.00", "lots": []}
    from rewards.models import CreditAccount

    assert not CreditAccount.objects.exists()


def test_a_refused_redemption_opens_no_account(api, acme, source):
    """docs/api.md: a request refused with a 4xx changed nothing. Redeeming for a holder
    without credit (a checkout that tries every order) was a 400 that still opened a credit
    account for the holder, listed empty on the dashboard's credit accounts page."""
    from accounts.models import Customer
    from rewards.models import CreditAccount

    customer = Customer.objects.create(organization=acme, external_id="c-9")
    for path in [
        f"/api/v1/sources/{source.pk}/credit/redeem",
        f"/api/v1/customers/{customer.pk}/credit/redeem",
    ]:
        response = api.post(path, {"amount": "5.00", "order_id": "o-1"})
        assert response.status_code == 400 and error_of(response)["param"] == "amount"
    assert not CreditAccount.objects.exists()


def test_it_redeems_once_per_order_first_to_expire_first(api, customer_with_credit):
    path = f"/api/v1/customers/{customer_with_credit.pk}/credit/redeem"
    response = api.post(path, {"amount": "12.00", "order_id": "order-9"})
    assert response.status_code == 200
    assert response.json() == {
        "order_id": "order-9",
        "redeemed": "12.00",
        "currency": "EUR",
        "balance": "13.00",
    }
    again = api.post(path, {"amount": "12.00", "order_id": "order-9"})
    assert again.json()["balance"] == "13.00"
    assert (
        LedgerEntry.objects.filter(kind="redeem").count() == 2
    )  # 10 from one lot, 2 from the other
    body = api.get(f"/api/v1/customers/{customer_with_credit.pk}/credit").json()
    assert [lot["remaining"] for lot in body["lots"]] == ["13.00"]


def test_it_never_redeems_below_zero(api, customer_with_credit):
    path = f"/api/v1/customers/{customer_with_credit.pk}/credit/redeem"
    for body in [
        {"amount": "25.01", "order_id": "o-1"},
        {"amount": "-1", "order_id": "o-2"},
        {"amount": "0", "order_id": "o-3"},
        {"amount": "5", "order_id": ""},
    ]:
        response = api.post(path, body)
        assert response.status_code == 400, body
        error_of(response)
    assert not LedgerEntry.objects.filter(kind="redeem").exists()


def test_it_requests_a_payout_of_the_balance(api, acme, source):
    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("40"),
        note="x",
        actor=None,
        reward_kind="cash",
    )
    headers = {"Idempotency-Key": "payout-2026-11"}
    response = api.post(
        "/api/v1/payouts", {"source": source.pk, "method": "bank_transfer"}, headers=headers
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["amount"], body["method"], body["status"]) == (
        "40.00",
        "bank_transfer",
        "requested",
    )
    again = api.post(
        "/api/v1/payouts", {"source": source.pk, "method": "bank_transfer"}, headers=headers
    )
    assert again.content == response.content
    payout = Payout.objects.get()
    assert payout.idempotency_key == "payout-2026-11"
    assert [
        p["id"] for p in api.get("/api/v1/payouts", {"source": source.pk}).json()["results"]
    ] == [payout.pk]
    assert api.get(f"/api/v1/payouts/{payout.pk}").json()["amount"] == "40.00"


def test_a_payout_of_part_of_the_balance(api, acme, source):
    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("40"),
        note="x",
        actor=None,
        reward_kind="cash",
    )
    too_much = api.post("/api/v1/payouts", {"source": source.pk, "amount": "40.01"})
    assert too_much.status_code == 400 and error_of(too_much)["param"] == "amount"
    assert not Payout.objects.exists()
    response = api.post("/api/v1/payouts", {"source": source.pk, "amount": "15.50"})
    assert response.status_code == 201 and response.json()["amount"] == "15.50"


def test_an_amount_when_nothing_is_payable_is_a_400_on_amount(api, source):
    """docs/api.md: an amount more than the balance is a 400 on ``amount``. With a balance
    of zero it was a 400 with no param at all, so a partner's form could not point at it."""
    for amount in ["10.00", "-5"]:
        response = api.post("/api/v1/payouts", {"source": source.pk, "amount": amount})
        assert response.status_code == 400 and error_of(response)["param"] == "amount"
    assert not Payout.objects.exists()


def test_nothing_to_pay_is_a_400(api, source):
    response = api.post("/api/v1/payouts", {"source": source.pk})
    assert response.status_code == 400 and "Nothing to pay" in error_of(response)["message"]
    response = api.post("/api/v1/payouts", {"source": source.pk, "method": "cheque"})
    assert response.status_code == 400 and error_of(response)["param"] == "method"
    assert not Payout.objects.exists()


def test_the_payout_list_costs_a_bounded_number_of_queries(
    api, acme, django_assert_max_num_queries
):
    from accounts.models import ReferralSource
    from rewards.services import payout_request

    for n in range(15):
        s = ReferralSource.objects.create(organization=acme, name=f"S{n}", kind="agent")
        reward_grant_manual(
            organization=acme,
            source=s,
            amount=Decimal("5"),
            note="x",
            actor=None,
            reward_kind="cash",
        )
        payout_request(source=s, method="bank_transfer")
    with django_assert_max_num_queries(4):
        assert len(api.get("/api/v1/payouts", {"limit": 100}).json()["results"]) == 15
    assert Reward.objects.count() == 15


def test_a_payout_key_used_again_after_a_day_never_answers_another_sources_payout(
    api, acme, source
):
    """The Idempotency-Key is the payout's own key for ever, while the API forgets the key's
    answer after a day (docs/api.md: "after that a key may be used again"). The same key
    for another source then answered 201 with the first source's payout: the partner took
    the second source as paid, and nothing was paid to it."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import ReferralSource
    from api.models import IdempotencyRecord
    from api.tasks import purge_idempotency_records

    other = ReferralSource.objects.create(organization=acme, name="Other", kind="agent")
    for holder in (source, other):
        reward_grant_manual(
            organization=acme,
            source=holder,
            amount=Decimal("40"),
            note="x",
            actor=None,
            reward_kind="cash",
        )
    headers = {"Idempotency-Key": "weekly-payout"}
    first = api.post("/api/v1/payouts", {"source": source.pk, "amount": "10"}, headers=headers)
    assert first.status_code == 201

    def a_day_later():
        IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
        assert purge_idempotency_records() == 1

    a_day_later()
    response = api.post("/api/v1/payouts", {"source": other.pk}, headers=headers)
    assert response.status_code == 400, response.content
    assert error_of(response)["param"] == "idempotency_key"
    a_day_later()
    response = api.post("/api/v1/payouts", {"source": source.pk, "amount": "25"}, headers=headers)
    assert response.status_code == 400 and error_of(response)["param"] == "idempotency_key"
    assert list(Payout.objects.values_list("source_id", "amount")) == [(source.pk, Decimal("10"))]
    # The same payout asked again with its key is still the first payout, as before.
    a_day_later()
    again = api.post("/api/v1/payouts", {"source": source.pk, "amount": "10"}, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]


def test_two_long_payout_keys_sharing_their_first_200_characters_are_two_payouts(api, acme, source):
    """The API takes keys of up to 255 characters; the payout kept only the first 200, so a
    second payout whose key differed after them answered as the first (nothing paid)."""
    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("40"),
        note="x",
        actor=None,
        reward_kind="cash",
    )
    first_key, second_key = "k" * 200 + "-first" + "x" * 49, "k" * 200 + "-second" + "x" * 48
    assert len(first_key) == len(second_key) == 255
    first = api.post(
        "/api/v1/payouts",
        {"source": source.pk, "amount": "10"},
        headers={"Idempotency-Key": first_key},
    )
    second = api.post(
        "/api/v1/payouts",
        {"source": source.pk, "amount": "15"},
        headers={"Idempotency-Key": second_key},
    )
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert sorted(Payout.objects.values_list("idempotency_key", "amount")) == [
        (first_key, Decimal("10")),
        (second_key, Decimal("15")),
    ]


def test_a_payout_key_longer_than_the_api_takes_is_refused_on_the_key(acme, source):
    from django.core.exceptions import ValidationError

    from rewards.services import payout_request

    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("40"),
        note="x",
        actor=None,
        reward_kind="cash",
    )
    with pytest.raises(ValidationError) as error:
        payout_request(source=source, idempotency_key="k" * 256)
    assert "idempotency_key" in error.value.message_dict
    assert not Payout.objects.exists()
