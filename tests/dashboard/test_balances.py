"""
Balances: every account (a source's or a customer's) with its credit, next expiry and
payout balance; an account's page shows its lots with their expiry dates and its ledgers,
and lets staff request a payout for a source.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from rewards.models import CreditLot, Payout
from rewards.services import credit_account_for, credit_grant, reward_grant_manual
from tests.factories import ReferralSourceFactory


def fund(source, amount="30.00", days=30, key="k"):
    account = credit_account_for(organization_id=source.organization_id, source=source)
    credit_grant(
        account=account,
        amount=Decimal(amount),
        expires_at=timezone.now() + timedelta(days=days),
        idempotency_key=key,
    )
    return account


def test_it_lists_balances(login, charlie, source):
    fund(source, "30.00")
    html = login(charlie).get("/app/balances/").content.decode()
    assert "Sam Source" in html and "€30.00" in html


def test_it_shows_a_debt_as_owed(login, charlie, source, acme):
    from rewards.models import PayoutBalanceEntry

    account = fund(source)
    PayoutBalanceEntry.objects.create(
        organization=acme, account=account, kind="debt", amount=Decimal("-12"), idempotency_key="d"
    )
    html = login(charlie).get("/app/balances/").content.decode()
    assert "-€12.00 owed" in html


def test_entries_that_cancel_out_are_a_balance_of_nothing_not_a_debt(login, charlie, source, acme):
    """Rewards earned and the payout that paid them sum to 0.00: listed and shown "€0.00",
    never "-€0.00 owed" (what SQLite's float sums gave under bin/dev)."""
    from rewards.models import PayoutBalanceEntry

    account = fund(source)
    for n, amount in enumerate(["0.72", "3.19", "3.70", "10.02", "13.63", "1.63", "-32.89"]):
        PayoutBalanceEntry.objects.create(
            organization=acme, account=account, amount=Decimal(amount),
            kind="payout" if amount.startswith("-") else "earned", idempotency_key=f"e-{n}",
        )  # fmt: skip
    client = login(charlie)
    listed = client.get("/app/balances/").content.decode()
    assert "owed" not in listed and "-€0.00" not in listed
    page = client.get(f"/app/balances/{account.pk}/").content.decode()
    assert 'data-stat="owed">€0.00' in page and "a debt" not in page


def test_it_never_lists_another_organizations_accounts(login, alice, globex):
    spy = ReferralSourceFactory(organization=globex, name="Globex Spy", kind="partner")
    fund(spy)
    assert "Globex Spy" not in login(alice).get("/app/balances/").content.decode()


@pytest.mark.parametrize("count", [2, 40])
def test_the_list_costs_the_same_few_queries_for_any_number_of_accounts(
    login, bob, acme, count, django_assert_max_num_queries
):
    for i in range(count):
        source = ReferralSourceFactory(organization=acme, name=f"S{i}", kind="customer")
        fund(source, key=f"k{i}")
    client = login(bob)
    with django_assert_max_num_queries(12):
        assert client.get("/app/balances/").status_code == 200


def test_an_account_shows_its_lots_with_expiry_dates_in_the_orgs_zone(login, charlie, source):
    account = fund(source, "30.00")
    CreditLot.objects.filter(account=account).update(
        expires_at=datetime(2031, 1, 31, 23, 30, tzinfo=ZoneInfo("UTC"))
    )
    response = login(charlie).get(f"/app/balances/{account.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 Feb 2031 00:30" in html  # Amsterdam is an hour ahead in winter
    assert 'data-stat="credit">€30.00' in html


def test_it_hides_another_organizations_account(login, eve, source):
    account = fund(source)
    assert login(eve).get(f"/app/balances/{account.pk}/").status_code == 404
    assert login(eve).post(f"/app/balances/{account.pk}/payout/", {}).status_code == 404


def test_staff_request_a_payout_for_a_source(login, bob, acme, alice, source):
    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("40"),
        note="x",
        actor=alice,
        reward_kind="cash",
    )
    account = source.credit_account
    client = login(bob)
    page = client.get(f"/app/balances/{account.pk}/").content.decode()
    assert 'data-stat="owed">€40.00' in page
    data = {"method": "bank_transfer", "idempotency_key": "dashboard:abc"}
    assert client.post(f"/app/balances/{account.pk}/payout/", data).status_code == 302
    assert client.post(f"/app/balances/{account.pk}/payout/", data).status_code == 302  # twice
    payout = Payout.objects.get()
    assert (payout.amount, payout.requested_by, payout.method) == (40, bob, "bank_transfer")


def test_a_payout_of_nothing_is_a_400(login, bob, source):
    account = fund(source)
    response = login(bob).post(f"/app/balances/{account.pk}/payout/", {"method": ""})
    assert response.status_code == 400
    assert "Nothing to pay" in response.content.decode()
    assert not Payout.objects.exists()


def test_an_analyst_cannot_request_a_payout(login, charlie, source):
    account = fund(source)
    assert login(charlie).post(f"/app/balances/{account.pk}/payout/", {}).status_code == 403
