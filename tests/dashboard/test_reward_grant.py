"""Staff grant a reward by hand (e.g. for an insider's contribution) from the dashboard."""

from rewards.models import Reward
from tests.factories import InsiderContributionFactory, ReferralSourceFactory

URL = "/app/rewards/grant/"


def form(source, **changes):
    return {
        "source": source.pk,
        "amount": "50.00",
        "reward_kind": "credit",
        "credit_lifetime_days": 90,
        "note": "Introduced the notary's office",
        **changes,
    }


def test_a_manager_grants_a_reward(login, bob, source):
    response = login(bob).post(URL, form(source))
    reward = Reward.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/app/rewards/{reward.pk}/"
    assert (reward.amount, reward.status, reward.created_by) == (50, "fulfilled", bob)
    assert reward.note == "Introduced the notary's office"


def test_a_cash_reward_waits_for_a_payout(login, bob, source):
    login(bob).post(URL, form(source, reward_kind="cash"))
    assert Reward.objects.get().status == "approved"


def test_an_invalid_grant_is_a_400_and_nothing_is_saved(login, bob, source):
    client = login(bob)
    for changes in ({"amount": "0"}, {"note": ""}, {"reward_kind": "coupon"}):
        response = client.post(URL, form(source, **changes))
        assert response.status_code == 400, changes
    assert not Reward.objects.exists()


def test_another_organizations_source_cannot_be_chosen(login, bob, globex):
    spy = ReferralSourceFactory(organization=globex, name="Spy", kind="partner")
    response = login(bob).post(URL, form(spy))
    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()
    assert "Spy" not in login(bob).get(URL).content.decode()


def test_an_analyst_cannot_grant(login, charlie, source):
    assert login(charlie).get(URL).status_code == 403
    assert login(charlie).post(URL, form(source)).status_code == 403
    assert not Reward.objects.exists()


def _contribution(source, note="Tipped us off about a new housing project"):
    import datetime

    return InsiderContributionFactory(
        organization=source.organization,
        source=source,
        occurred_on=datetime.date(2026, 11, 1),
        note=note,
        currency="EUR",
    )


def test_a_contribution_is_rewarded_once(login, bob, source):
    contribution = _contribution(source)
    client = login(bob)
    page = client.get(f"/app/sources/{source.pk}/").content.decode()
    assert f"contribution={contribution.pk}" in page  # the "Reward" link on the source page
    assert client.post(URL, form(source, contribution=contribution.pk)).status_code == 302
    assert Reward.objects.get().contribution == contribution
    assert "rewarded" in client.get(f"/app/sources/{source.pk}/").content.decode()
    response = client.post(URL, form(source, contribution=contribution.pk))
    assert response.status_code == 400
    assert Reward.objects.count() == 1


def test_a_contribution_must_be_the_chosen_sources(login, bob, source, acme):
    other = ReferralSourceFactory(organization=acme, name="Olga", kind="intermediary")
    contribution = _contribution(other)
    response = login(bob).post(URL, form(source, contribution=contribution.pk))
    assert response.status_code == 400
    assert "not the chosen source" in response.content.decode()
    assert not Reward.objects.exists()


def test_a_huge_credit_lifetime_is_a_form_error_not_a_500(login, bob, source):
    response = login(bob).post(
        "/app/rewards/grant/",
        {
            "source": source.pk,
            "amount": "10",
            "reward_kind": "credit",
            "credit_lifetime_days": "999999999",
            "note": "Thanks",
        },
    )
    assert response.status_code == 400
    assert "Ensure this value is less than or equal to 36500." in response.content.decode()
    assert not source.rewards.exists()
