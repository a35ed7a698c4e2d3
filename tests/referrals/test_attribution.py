"""
Attribution: which source an event of a friend is credited to.

A code given explicitly wins over the cookie; otherwise the friend is matched by email or
customer id inside the program's window, to the latest referral (last touch) or the first
(first touch). Events outside the window, of unknown or foreign codes, and of friends who
were customers already are each handled on purpose.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Customer, ReferralSource
from referrals.models import Conversion, Purchase, Referral
from referrals.services import (
    event_record,
    link_get_or_create,
    program_create,
    program_update,
    referral_create,
)
from tests.helpers import form_datetime


@pytest.fixture
def agent(acme):
    return ReferralSource.objects.create(organization=acme, name="Ada Agent", kind="agent")


def refer(program, source, email, days_ago=0):
    referral = referral_create(
        program=program,
        source=source,
        link=link_get_or_create(program=program, source=source),
        channel="link",
        friend_email=email,
    )
    Referral.objects.filter(pk=referral.pk).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )
    referral.refresh_from_db()
    return referral


def purchase(org, event_id, email="", **kwargs):
    return event_record(
        organization=org,
        kind="purchase",
        external_id=event_id,
        amount=Decimal("100"),
        email=email,
        **kwargs,
    )


def test_it_credits_the_friends_referral_by_email(acme, program, source):
    referral = refer(program, source, "fay@example.com", days_ago=3)
    conversion, created = purchase(acme, "o-1", "Fay@Example.com")
    assert created and conversion.referral == referral
    referral.refresh_from_db()
    assert referral.status == "converted" and referral.friend.email == "fay@example.com"
    assert referral.friend.is_referred


def test_two_sources_last_touch_wins(acme, program, source, agent):
    first = refer(program, source, "fay@example.com", days_ago=10)
    second = refer(program, agent, "fay@example.com", days_ago=2)
    assert "duplicate_friend" in second.flag_reasons  # the guard holds the second for review
    conversion, _ = purchase(acme, "o-1", "fay@example.com")
    assert conversion.referral == second != first


def test_two_sources_first_touch_wins(acme, program, source, agent):
    program_update(program=program, attribution_model="first_touch")
    first = refer(program, source, "fay@example.com", days_ago=10)
    refer(program, agent, "fay@example.com", days_ago=2)
    conversion, _ = purchase(acme, "o-1", "fay@example.com")
    assert conversion.referral == first


def test_the_friend_arrives_after_the_window(acme, program, source):
    refer(program, source, "late@example.com", days_ago=program.attribution_window_days + 1)
    conversion, created = purchase(acme, "o-1", "late@example.com")
    assert (conversion, created) == (None, True)  # stored, credited to no source
    assert not Conversion.objects.exists()
    assert Purchase.objects.get(external_id="o-1").customer.email == "late@example.com"


def test_the_window_is_per_program(acme, program, source):
    program_update(program=program, attribution_window_days=90)
    referral = refer(program, source, "slow@example.com", days_ago=60)
    conversion, _ = purchase(acme, "o-1", "slow@example.com")
    assert conversion.referral == referral


def test_an_explicit_code_wins_over_the_cookie_and_the_email_match(acme, program, source, agent):
    refer(program, source, "fay@example.com", days_ago=1)
    agent_link = link_get_or_create(program=program, source=agent)
    source_link = link_get_or_create(program=program, source=source)
    conversion, _ = purchase(
        acme, "o-1", "fay@example.com", code=agent_link.code, cookie_code=source_link.code
    )
    assert conversion.referral.source == agent


def test_the_cookie_code_attributes_when_no_code_is_given(acme, program, agent):
    agent_link = link_get_or_create(program=program, source=agent)
    conversion, _ = purchase(acme, "o-1", "new@example.com", cookie_code=agent_link.code)
    assert conversion.referral.source == agent and conversion.referral.channel == "link"


def purchase_warned(org, event_id, email="", **kwargs):
    warnings: list = []
    conversion, created = purchase(org, event_id, email, warnings=warnings, **kwargs)
    return conversion, created, [(w.param, w.code) for w in warnings]


def test_a_code_of_another_organization_is_unknown_and_the_purchase_kept(acme, globex, program):
    foreign_program = program_create(organization=globex, name="Globex friends")
    foreign_source = ReferralSource.objects.create(organization=globex, name="G", kind="customer")
    foreign_link = link_get_or_create(program=foreign_program, source=foreign_source)
    conversion, created, warned = purchase_warned(
        acme, "o-1", "fay@example.com", code=foreign_link.code
    )
    assert (conversion, created, warned) == (None, True, [("code", "code_not_live")])
    assert Purchase.objects.get(external_id="o-1").customer.email == "fay@example.com"
    assert not Referral.objects.exists()  # neither here nor at Globex


def _dead_codes(acme, program, source):
    """A code of each kind that no longer works, and what made it so."""
    from referrals.services import link_set_vanity_code

    paused = program_create(organization=acme, name="Paused")
    ended = program_create(organization=acme, name="Ended")
    gone = ReferralSource.objects.create(organization=acme, name="Gone", kind="customer")
    paused_link = link_get_or_create(program=paused, source=source)
    ended_link = link_get_or_create(program=ended, source=source)
    gone_link = link_get_or_create(program=program, source=gone)
    renamed = link_get_or_create(program=program, source=source)
    link_set_vanity_code(link=renamed, vanity_code="summer-sale")
    link_set_vanity_code(link=renamed, vanity_code="winter-sale")
    program_update(program=paused, status="paused")
    program_update(program=ended, status="ended")
    gone.active = False
    gone.save(update_fields=["active"])
    return [paused_link.code, ended_link.code, gone_link.code, "summer-sale", "nosuchcode"]


def test_a_code_that_no_longer_works_is_set_aside_and_the_purchase_kept(
    acme, program, source, fixed_rule
):
    """Unknown, paused or ended program, inactive source, renamed vanity code: the purchase
    is stored all the same, credited as without a code, and no referral is made from it."""
    from rewards.models import Reward

    for n, code in enumerate(_dead_codes(acme, program, source)):
        conversion, created, warned = purchase_warned(
            acme, f"o-{n}", f"f{n}@example.com", code=code
        )
        assert (conversion, created, warned) == (None, True, [("code", "code_not_live")]), code
        # The same event again: the same warning, nothing changes.
        again = purchase_warned(acme, f"o-{n}", f"f{n}@example.com", code=code)
        assert again == (None, False, [("code", "code_not_live")])
    assert Purchase.objects.filter(organization=acme).count() == 5
    assert not Referral.objects.exists() and not Conversion.objects.exists()
    assert not Reward.objects.exists()


def test_a_dead_code_still_lets_the_friend_be_matched_by_email(acme, program, source):
    referral = refer(program, source, "fay@example.com", days_ago=3)
    program_update(program=program, status="paused")
    code = link_get_or_create(program=program, source=source).code
    conversion, created, warned = purchase_warned(acme, "o-1", "fay@example.com", code=code)
    assert conversion.referral == referral and created
    assert warned == [("code", "code_not_live")]


def test_after_a_dead_code_the_cookie_is_taken(acme, program, agent):
    agent_link = link_get_or_create(program=program, source=agent)
    conversion, _, warned = purchase_warned(
        acme, "o-1", "new@example.com", code="nosuchcode", cookie_code=agent_link.code
    )
    assert conversion.referral.source == agent and warned == [("code", "code_not_live")]


def test_a_code_for_a_customer_without_an_email_is_set_aside(acme, program, source):
    link = link_get_or_create(program=program, source=source)
    warnings: list = []
    conversion, created = event_record(
        organization=acme,
        kind="purchase",
        external_id="o-1",
        amount=Decimal("10"),
        customer_external_id="C-1",
        code=link.code,
        warnings=warnings,
    )
    assert (conversion, created) == (None, True)
    assert [(w.param, w.code) for w in warnings] == [("code", "code_needs_email")]
    assert Purchase.objects.get(external_id="o-1").customer.external_id == "C-1"
    assert not Referral.objects.exists()
    warnings.clear()
    again = event_record(
        organization=acme,
        kind="purchase",
        external_id="o-1",
        amount=Decimal("10"),
        customer_external_id="C-1",
        code=link.code,
        warnings=warnings,
    )
    assert again == (None, False)
    assert [(w.param, w.code) for w in warnings] == [("code", "code_needs_email")]


def test_a_friend_who_was_already_a_customer_counts_as_advocacy(acme, program, source, fixed_rule):
    Customer.objects.create(
        organization=acme,
        email="old@example.com",
        first_seen_at=timezone.now() - timedelta(days=400),
    )
    referral = refer(program, source, "old@example.com", days_ago=1)
    conversion, _ = purchase(acme, "o-1", "old@example.com")
    assert conversion.kind == "advocacy" and conversion.referral == referral
    referral.refresh_from_db()
    assert referral.status == "lead"  # not a customer won


def test_matching_by_customer_id(acme, program, source):
    referral = refer(program, source, "fay@example.com", days_ago=1)
    purchase(acme, "signup-1", "fay@example.com", customer_external_id="C-77")
    conversion, _ = event_record(
        organization=acme,
        kind="purchase",
        external_id="o-2",
        amount=Decimal("5"),
        customer_external_id="C-77",
    )
    assert conversion.referral == referral


def test_all_purchases_of_the_friend_are_kept(acme, program, source):
    referral = refer(program, source, "fay@example.com", days_ago=1)
    for n in range(3):
        purchase(acme, f"o-{n}", "fay@example.com")
    purchases = referral.conversions.filter(kind="purchase").order_by("occurred_at", "id")
    assert [c.is_first_purchase for c in purchases] == [True, False, False]
    assert sum(c.amount for c in purchases) == Decimal("300")


def test_the_same_event_twice_is_recorded_once(acme, program, source):
    refer(program, source, "fay@example.com", days_ago=1)
    first, created = purchase(acme, "o-1", "fay@example.com")
    again, created_again = purchase(acme, "o-1", "fay@example.com")
    assert created and not created_again and first == again
    assert Conversion.objects.count() == 1


def test_staff_record_an_event_from_the_dashboard(login, bob, program, source):
    referral = refer(program, source, "fay@example.com", days_ago=1)
    link = link_get_or_create(program=program, source=source)
    client = login(bob)
    response = client.post(
        "/app/events/new/",
        {
            "kind": "purchase",
            "external_id": "o-9",
            "amount": "80",
            "occurred_at": form_datetime(days_ago=0.01, tz="Europe/Amsterdam"),
            "email": "fay@example.com",
        },
    )
    assert response.status_code == 302 and response["Location"] == f"/app/referrals/{referral.pk}/"
    response = client.post(
        "/app/events/new/",
        {
            "kind": "purchase",
            "external_id": "o-10",
            "amount": "80",
            "occurred_at": form_datetime(days_ago=0.01, tz="Europe/Amsterdam"),
            "code": "zzzzzzzz",
            "email": "x@example.com",
        },
    )
    # Staff type the code by hand: one that does not work is a form error they can correct
    # (the API records such a purchase without the code and warns), and nothing is stored.
    assert response.status_code == 400
    assert "Unknown or inactive referral code" in response.content.decode()
    assert response.context["form"].errors["code"]
    assert not Purchase.objects.filter(external_id="o-10").exists()
    response = client.post(
        "/app/events/new/",
        {
            "kind": "purchase",
            "external_id": "o-10",
            "amount": "80",
            "occurred_at": form_datetime(days_ago=0.01, tz="Europe/Amsterdam"),
            "code": link.code,
            "customer_external_id": "no-email-yet",
        },
    )
    assert response.status_code == 400
    assert "needs the customer&#x27;s email" in response.content.decode()
    assert not Purchase.objects.filter(external_id="o-10").exists()
    response = client.post(
        "/app/events/new/",
        {
            "kind": "purchase",
            "external_id": "o-11",
            "amount": "1",
            "occurred_at": form_datetime(days_ago=0.01, tz="Europe/Amsterdam"),
        },
    )
    assert response.status_code == 400 and "customer" in response.content.decode()
