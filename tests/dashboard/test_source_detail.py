"""A source's history: links, referrals, conversions credited to it, totals, contributions."""

import datetime
from decimal import Decimal

import pytest

from referrals.services import (
    conversion_record,
    link_get_or_create,
    referral_create,
    referral_reject,
)
from tests.factories import CustomerFactory, InsiderContributionFactory, ReferralSourceFactory


@pytest.fixture
def won(program, source, link):
    """A friend Sam referred who bought twice and returned part of it."""
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )
    conversion_record(referral=referral, kind="purchase", external_id="o-1", amount=Decimal("100"))
    conversion_record(referral=referral, kind="purchase", external_id="o-2", amount=Decimal("50"))
    conversion_record(
        referral=referral,
        kind="refund",
        external_id="r-1",
        amount=Decimal("30"),
        refund_of_external_id="o-2",
    )
    return referral


@pytest.fixture
def advocacy(program, source, acme):
    """An existing customer who bought more because of Sam."""
    CustomerFactory(organization=acme, email="old@example.com", name="Olga Old")
    referral = referral_create(
        program=program, source=source, channel="in_person", friend_email="old@example.com"
    )
    conversion_record(referral=referral, kind="advocacy", external_id="a-1", amount=Decimal("40"))
    return referral


def test_it_shows_links_referrals_and_conversions(login, charlie, source, won, advocacy):
    response = login(charlie).get(f"/app/sources/{source.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f"/r/{won.link.code}" in html
    assert "f@example.com" in html and "Converted" in html
    conversions = {c.external_id for c in response.context["conversions"]}
    assert conversions == {"o-1", "o-2", "r-1", "a-1"}
    assert "Olga Old" in html and "Advocacy" in html


def test_it_totals_referrals_customers_and_revenue(login, charlie, source, won, advocacy):
    totals = login(charlie).get(f"/app/sources/{source.pk}/").context["totals"]
    assert totals.referrals == 2
    assert totals.customers_won == 1
    # Every purchase credited to Sam counts once, advocacy included: 100 + 50 - 30 + 40.
    assert totals.purchases == 3
    assert totals.revenue == Decimal("160.00")
    assert totals.advocacy_conversions == 1
    assert totals.advocacy_revenue == Decimal("40.00")  # of which advocacy


def test_it_does_not_credit_a_rejected_referral(login, charlie, program, source):
    referral = referral_create(
        program=program, source=source, channel="phone", friend_email="x@example.com"
    )
    referral.flagged = True
    referral.save()
    conversion_record(referral=referral, kind="purchase", external_id="o-9", amount=Decimal("80"))
    referral_reject(referral=referral, reason="Self-referral", actor=None)
    response = login(charlie).get(f"/app/sources/{source.pk}/")
    assert response.context["totals"].revenue == Decimal("0.00")
    assert "not credited" in response.content.decode()


def test_it_shows_only_this_sources_history(login, charlie, acme, program, source, won):
    other = ReferralSourceFactory(organization=acme, name="Other", kind="agent")
    response = login(charlie).get(f"/app/sources/{other.pk}/")
    assert response.context["totals"].referrals == 0
    assert list(response.context["conversions"]) == []
    assert "f@example.com" not in response.content.decode()


def test_it_shows_contributions(login, charlie, acme, source, alice):
    InsiderContributionFactory(
        organization=acme,
        source=source,
        occurred_on=datetime.date(2026, 3, 1),
        note="Told us about the new-build estate",
        value=Decimal("250"),
        currency="EUR",
        created_by=alice,
    )
    response = login(charlie).get(f"/app/sources/{source.pk}/")
    html = response.content.decode()
    assert "Told us about the new-build estate" in html and "€250.00" in html
    totals = response.context["totals"]
    assert (totals.contributions, totals.contribution_value) == (1, Decimal("250.00"))
    assert 'data-testid="contribution-form"' not in html  # analysts read only


def test_it_hides_another_tenants_source(login, eve, source):
    assert login(eve).get(f"/app/sources/{source.pk}/").status_code == 404


def test_it_runs_a_bounded_number_of_queries(
    login, alice, acme, program, source, link, django_assert_max_num_queries
):
    second = _second_program(acme)
    link_get_or_create(program=second, source=source)
    for n in range(40):
        customer = CustomerFactory(organization=acme, email=f"f{n}@example.com")
        referral = referral_create(
            program=program, source=source, link=link, channel="link", friend_email=customer.email
        )
        conversion_record(
            referral=referral, kind="purchase", external_id=f"o{n}", amount=Decimal("10")
        )
        InsiderContributionFactory(
            organization=acme,
            source=source,
            occurred_on=datetime.date(2026, 1, 1),
            note=f"Tip {n}",
            currency="EUR",
            created_by=alice,
        )
    client = login(alice)
    with django_assert_max_num_queries(16):
        response = client.get(f"/app/sources/{source.pk}/")
    assert response.status_code == 200
    assert response.context["totals"].referrals == 40


def _second_program(acme):
    from referrals.services import program_create

    return program_create(organization=acme, name="Partners")


def test_it_says_which_links_take_no_visitors_while_their_program_is_paused(
    login, charlie, program, source, link
):
    page = login(charlie).get(f"/app/sources/{source.pk}/").content.decode()
    assert 'data-testid="link-not-live"' not in page
    program.status = program.Status.PAUSED
    program.save(update_fields=["status"])
    page = login(charlie).get(f"/app/sources/{source.pk}/").content.decode()
    assert f"/r/{link.code}" in page
    assert "takes no visitors while the program is paused" in page
