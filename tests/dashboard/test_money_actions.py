"""Money actions show what they will do before they do it: a payout batch is previewed
(who, how much, by which method) and pays only what was previewed; voiding asks for a
reason in a confirmation; lists show the totals of the filter in view."""

from decimal import Decimal

import pytest

from core.models import OutboxMessage
from rewards.models import Reward
from rewards.services import reward_grant_manual
from tests.factories import ReferralSourceFactory


@pytest.fixture
def owed(acme, alice, source):
    olga = ReferralSourceFactory(organization=acme, name="Olga", kind="agent", email="o@x.io")
    for holder, amount in ((source, "20.00"), (olga, "35.50")):
        reward_grant_manual(
            organization=acme,
            source=holder,
            amount=Decimal(amount),
            note="x",
            actor=alice,
            reward_kind="cash",
        )
    return {"sam": source, "olga": olga}


def test_the_preview_lists_who_is_paid_how_much_and_how(login, bob, owed):
    response = login(bob).get("/app/payouts/batch/", {"method": "bank_transfer"})
    assert response.status_code == 200
    rows = [(r.source.name, r.amount, r.method) for r in response.context["preview"].rows]
    assert rows == [
        ("Olga", Decimal("35.50"), "bank_transfer"),
        ("Sam Source", Decimal("20.00"), "bank_transfer"),
    ]
    html = response.content.decode()
    assert "€55.50" in html and "Pay 2 sources €55.50" in html
    assert not OutboxMessage.objects.filter(task="rewards.start_payout_batch").exists()


def test_confirming_pays_exactly_the_sources_previewed(login, bob, owed):
    client = login(bob)
    fingerprint = client.get("/app/payouts/batch/").context["preview"].fingerprint
    response = client.post("/app/payouts/batch/", {"method": "", "fingerprint": fingerprint})
    assert response.status_code == 302
    message = OutboxMessage.objects.get(task="rewards.start_payout_batch")
    assert sorted(message.kwargs["source_ids"]) == sorted(s.pk for s in owed.values())


def test_a_balance_that_changed_since_the_preview_is_shown_again_not_paid(
    login, bob, alice, acme, owed
):
    client = login(bob)
    fingerprint = client.get("/app/payouts/batch/").context["preview"].fingerprint
    reward_grant_manual(
        organization=acme,
        source=owed["sam"],
        amount=Decimal("5"),
        note="late",
        actor=alice,
        reward_kind="cash",
    )
    response = client.post("/app/payouts/batch/", {"method": "", "fingerprint": fingerprint})
    assert response.status_code == 409
    assert "Balances changed since the preview" in response.content.decode()
    assert "€60.50" in response.content.decode()
    assert not OutboxMessage.objects.filter(task="rewards.start_payout_batch").exists()


def test_a_batch_paying_only_the_previewed_sources_skips_a_newcomer(acme, alice, owed):
    from rewards.services import payout_batch

    late = ReferralSourceFactory(organization=acme, name="Late")
    reward_grant_manual(
        organization=acme,
        source=late,
        amount=Decimal("9"),
        note="x",
        actor=alice,
        reward_kind="cash",
    )
    paid = payout_batch(organization=acme, batch_key="b1", source_ids=[s.pk for s in owed.values()])
    assert sorted(p.source.name for p in paid) == ["Olga", "Sam Source"]


def test_with_nobody_owed_the_preview_says_so(login, bob, acme):
    response = login(bob).get("/app/payouts/batch/")
    assert "Nobody is owed money right now" in response.content.decode()


def test_an_unknown_method_is_refused(login, bob, owed):
    response = login(bob).get("/app/payouts/batch/", {"method": "bitcoin"})
    assert response.status_code == 302
    assert not OutboxMessage.objects.filter(task="rewards.start_payout_batch").exists()


def test_void_is_a_confirmed_form_on_the_reward_not_a_button_on_every_row(login, bob, owed):
    client = login(bob)
    reward = Reward.objects.filter(source=owed["olga"]).get()
    listing = client.get("/app/rewards/").content.decode()
    assert f'action="/app/rewards/{reward.pk}/void/"' not in listing
    assert f"/app/rewards/{reward.pk}/#void" in listing
    detail = client.get(f"/app/rewards/{reward.pk}/").content.decode()
    assert 'data-confirm="Void this €35.50 reward to Olga?' in detail
    assert client.post(f"/app/rewards/{reward.pk}/void/", {"reason": " "}).status_code == 400
    reward.refresh_from_db()
    assert reward.status != "void"


def test_lists_show_the_totals_of_the_filter_in_view(login, bob, owed, alice, acme):
    """The "in all" total is what the listed rewards are worth: the reward cost of the analytics
    (Reward.objects.cost()): voided rewards count for nothing, taken-back amounts are off."""
    from rewards.services import reward_void

    reward_void(reward=Reward.objects.get(source=owed["sam"]), reason="duplicate", actor=alice)
    Reward.objects.filter(source=owed["olga"]).update(taken_back=Decimal("5.50"))
    client = login(bob)
    everything = client.get("/app/rewards/")
    totals = everything.context["totals"]
    assert (totals.count, totals.amount, totals.issued) == (
        2,
        Decimal("30.00"),
        Decimal("55.50"),
    )
    assert totals.amount == Reward.objects.for_organization(acme).cost()
    html = everything.content.decode()
    assert "2 rewards, €30.00 in all" in html and "€55.50 issued" in html
    void = client.get("/app/rewards/", {"status": "void"})
    assert (void.context["totals"].count, void.context["totals"].amount) == (1, Decimal("0.00"))
    assert "1 reward void, €20.00 issued, none of it given." in void.content.decode()
    approved = client.get("/app/rewards/", {"status": "approved"}).content.decode()
    assert "1 reward approved, €30.00 in all" in approved
