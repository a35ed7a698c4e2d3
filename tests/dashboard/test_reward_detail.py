"""A reward's page: what it is, for what, and its whole history."""

from decimal import Decimal

from rewards.services import reward_grant_manual, reward_void
from tests.rewards.conftest import convert


def test_it_shows_the_reward_and_its_history(login, charlie, make_rule, referral, bob):
    make_rule(hold_days=14)
    [reward] = convert(referral, "order-1", amount="80.00")
    reward_void(reward=reward, reason="Customer closed the account", actor=bob)
    response = login(charlie).get(f"/app/rewards/{reward.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "€25.00 to Sam Source" in html
    assert "purchase order-1 (€80.00)" in html
    assert "Customer closed the account" in html
    assert html.count("<tr><td>") >= 2  # created, voided
    assert "bob@example.com" in html


def test_it_shows_a_manual_reward_and_who_granted_it(login, charlie, acme, alice, source):
    reward = reward_grant_manual(
        organization=acme, source=source, amount=Decimal("30"), note="Insider tip", actor=alice
    )
    html = login(charlie).get(f"/app/rewards/{reward.pk}/").content.decode()
    assert "granted by hand by alice@example.com" in html
    assert "Insider tip" in html and "Credit lot: €30.00 left of €30.00" in html


def test_an_analyst_sees_no_actions(login, charlie, make_rule, referral):
    make_rule(hold_days=14)
    [reward] = convert(referral, "order-1")
    html = login(charlie).get(f"/app/rewards/{reward.pk}/").content.decode()
    assert 'data-testid="approve"' not in html and "Void this reward" not in html


def test_it_hides_another_organizations_reward(login, eve, make_rule, referral):
    make_rule()
    [reward] = convert(referral, "order-1")
    assert login(eve).get(f"/app/rewards/{reward.pk}/").status_code == 404


def test_it_requires_sign_in(client, make_rule, referral):
    make_rule()
    [reward] = convert(referral, "order-1")
    assert client.get(f"/app/rewards/{reward.pk}/").status_code == 302
