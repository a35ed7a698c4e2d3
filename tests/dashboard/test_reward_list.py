"""The rewards list: every reward of the organization, with approve and void for staff."""

from decimal import Decimal

import pytest

from rewards.models import Reward
from tests.factories import ReferralSourceFactory


def make_rewards(organization, source, count, status="pending"):
    Reward.objects.bulk_create(
        Reward(
            organization=organization,
            source=source,
            amount=Decimal("10.00") + i,
            currency=organization.currency,
            status=status,
            note=f"Reward {i}",
        )
        for i in range(count)
    )


def test_it_lists_the_organizations_rewards_in_its_currency(login, charlie, acme, source):
    make_rewards(acme, source, 2)
    html = login(charlie).get("/app/rewards/").content.decode()
    assert "€10.00" in html and "€11.00" in html


def test_it_filters_by_status(login, alice, acme, source):
    make_rewards(acme, source, 1, status="pending")
    make_rewards(acme, source, 1, status="void")
    html = login(alice).get("/app/rewards/?status=void").content.decode()
    assert html.count("data-reward=") == 1


def test_it_never_shows_another_organizations_rewards(login, alice, globex, acme, source):
    spy = ReferralSourceFactory(organization=globex, name="Globex Spy", kind="partner")
    make_rewards(globex, spy, 1)
    html = login(alice).get("/app/rewards/").content.decode()
    assert "Globex Spy" not in html and "No rewards yet." in html


def test_staff_see_approve_and_void_actions(login, bob, acme, source):
    make_rewards(acme, source, 1)
    html = login(bob).get("/app/rewards/").content.decode()
    assert "Approve</button>" in html and "Void…</a>" in html


def test_an_analyst_sees_no_actions(login, charlie, acme, source):
    make_rewards(acme, source, 1)
    html = login(charlie).get("/app/rewards/").content.decode()
    assert "Approve</button>" not in html and "Void…" not in html


def test_it_requires_sign_in(client, db):
    response = client.get("/app/rewards/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("count", [3, 50])
def test_it_costs_the_same_few_queries_for_any_number_of_rewards(
    login, bob, acme, source, count, django_assert_max_num_queries
):
    make_rewards(acme, source, count)
    client = login(bob)
    with django_assert_max_num_queries(12):
        assert client.get("/app/rewards/").status_code == 200
