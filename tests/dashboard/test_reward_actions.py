"""Staff approve a pending reward, or void one with a reason; every change is kept."""

from rewards.models import LedgerEntry, Reward
from tests.rewards.conftest import convert


def pending(make_rule, referral):
    make_rule(hold_days=14)
    [reward] = convert(referral, "order-1")
    return reward


def test_a_manager_approves_a_pending_reward(login, bob, make_rule, referral):
    reward = pending(make_rule, referral)
    response = login(bob).post(f"/app/rewards/{reward.pk}/approve/")
    assert response.status_code == 302
    reward.refresh_from_db()
    assert reward.status == "fulfilled"
    assert reward.events.get(to_status="approved").actor_label == "bob@example.com"


def test_it_returns_to_the_list_it_was_approved_from(login, bob, make_rule, referral):
    reward = pending(make_rule, referral)
    response = login(bob).post(
        f"/app/rewards/{reward.pk}/approve/", {"next": "/app/rewards/?status=pending"}
    )
    assert response["Location"] == "/app/rewards/?status=pending"


def test_it_never_redirects_off_site(login, bob, make_rule, referral):
    reward = pending(make_rule, referral)
    response = login(bob).post(
        f"/app/rewards/{reward.pk}/approve/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == f"/app/rewards/{reward.pk}/"


def test_approving_an_approved_reward_changes_nothing(login, bob, make_rule, referral):
    make_rule()
    [reward] = convert(referral, "order-1")  # no hold: already fulfilled
    login(bob).post(f"/app/rewards/{reward.pk}/approve/")
    assert LedgerEntry.objects.filter(kind="grant").count() == 1


def test_a_manager_voids_with_a_reason(login, alice, make_rule, referral):
    reward = pending(make_rule, referral)
    response = login(alice).post(f"/app/rewards/{reward.pk}/void/", {"reason": "Self-referral"})
    assert response.status_code == 302
    reward.refresh_from_db()
    assert (reward.status, reward.void_reason) == ("void", "Self-referral")
    event = reward.events.last()
    assert (event.from_status, event.to_status, event.actor_id) == ("pending", "void", alice.pk)


def test_voiding_a_fulfilled_credit_reward_claws_it_back(login, alice, make_rule, referral):
    make_rule()
    [reward] = convert(referral, "order-1")
    login(alice).post(f"/app/rewards/{reward.pk}/void/", {"reason": "Fraud"})
    assert LedgerEntry.objects.get(kind="clawback").amount == -25


def test_a_void_without_a_reason_is_a_400_and_changes_nothing(login, bob, make_rule, referral):
    reward = pending(make_rule, referral)
    response = login(bob).post(f"/app/rewards/{reward.pk}/void/", {"reason": "   "})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    reward.refresh_from_db()
    assert reward.status == "pending"


def test_an_analyst_can_neither_approve_nor_void(login, charlie, make_rule, referral):
    reward = pending(make_rule, referral)
    client = login(charlie)
    assert client.post(f"/app/rewards/{reward.pk}/approve/").status_code == 403
    assert client.post(f"/app/rewards/{reward.pk}/void/", {"reason": "x"}).status_code == 403
    assert Reward.objects.get(pk=reward.pk).status == "pending"


def test_another_organization_cannot_touch_the_reward(login, eve, make_rule, referral):
    reward = pending(make_rule, referral)
    client = login(eve)
    assert client.post(f"/app/rewards/{reward.pk}/approve/").status_code == 404
    assert client.post(f"/app/rewards/{reward.pk}/void/", {"reason": "x"}).status_code == 404
    assert Reward.objects.get(pk=reward.pk).status == "pending"


def test_actions_are_posts(login, bob, make_rule, referral):
    reward = pending(make_rule, referral)
    assert login(bob).get(f"/app/rewards/{reward.pk}/approve/").status_code == 405
