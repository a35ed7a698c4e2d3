"""
The first-program wizard: a new owner goes from sign-up to shareable links in four steps
(business, offer and rewards, first sources, links), each calling the same services as the
rest of the dashboard; and the overview's checklist, ticked from real data until the first
referred purchase.
"""

from decimal import Decimal

import pytest

from accounts.models import Membership, Organization, ReferralSource
from core.models import OutboxMessage
from referrals.models import Program, ReferralLink
from referrals.services import conversion_record, referral_create
from rewards.models import RewardRule
from tests.conftest import PASSWORD

OFFER = {
    "name": "Bread friends",
    "friend_offer": "A free loaf on your first order",
    "landing_headline": "Real bread, baked nearby",
    "landing_text": "",
    "rule-name": "",
    "rule-beneficiary": "referrer",
    "rule-trigger": "first_purchase",
    "rule-formula": "fixed",
    "rule-amount": "20.00",
    "rule-percent": "",
    "rule-cap": "",
    "rule-lifetime_cap": "",
    "rule-tier_basis": "count",
    "rule-reward_kind": "credit",
    "rule-hold_days": "30",
    "rule-credit_lifetime_days": "365",
    "tiers-TOTAL_FORMS": "3",
    "tiers-INITIAL_FORMS": "0",
}


def source_rows(*rows) -> dict:
    data = {"sources-TOTAL_FORMS": str(len(rows)), "sources-INITIAL_FORMS": "0"}
    for index, (name, email, kind) in enumerate(rows):
        data |= {
            f"sources-{index}-name": name,
            f"sources-{index}-email": email,
            f"sources-{index}-kind": kind,
        }
    return data


def test_a_new_owner_lands_in_the_wizard_after_naming_the_business(client, db):
    response = client.post(
        "/accounts/signup/",
        {"email": "olivia@bakery.example", "password1": PASSWORD, "password2": PASSWORD},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/app/onboarding/"
    assert 'data-testid="wizard-steps"' in response.content.decode()
    response = client.post(
        "/app/onboarding/",
        {"name": "Olivia's Bakery", "currency": "EUR", "timezone": "Europe/Paris"},
    )
    assert response["Location"] == "/app/start/"
    org = Organization.objects.get(name="Olivia's Bakery")
    assert Membership.objects.get(organization=org).role == "owner"
    page = client.get("/app/start/").content.decode()
    assert 'name="rule-hold_days" value="30"' in page
    assert 'name="rule-credit_lifetime_days" value="365"' in page
    assert 'name="tiers-0-threshold"' in page and 'name="rule-currency"' not in page


def test_the_offer_step_makes_the_program_and_its_rule(login, alice, acme):
    response = login(alice).post("/app/start/", OFFER)
    program = Program.objects.get(organization=acme)
    assert response["Location"] == f"/app/start/{program.pk}/sources/"
    assert (program.name, program.friend_offer, program.status) == (
        "Bread friends",
        "A free loaf on your first order",
        "active",
    )
    rule = RewardRule.objects.get(program=program)
    assert (rule.amount, rule.currency, rule.hold_days, rule.credit_lifetime_days) == (
        Decimal("20.00"),
        "EUR",
        30,
        365,
    )


def test_the_offer_preview_shows_the_landing_page_and_the_rule_in_words(login, alice, acme):
    response = login(alice).post("/app/start/", OFFER, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Real bread, baked nearby" in page and "A free loaf on your first order" in page
    assert (
        "The referrer gets €20.00 in credit when a friend first buys, after a 30-day hold; "
        "credit expires after 365 days." in page
    )
    assert not Program.objects.exists()


def test_a_bad_offer_is_a_form_error_and_saves_nothing(login, alice, acme):
    response = login(alice).post("/app/start/", {**OFFER, "friend_offer": "", "rule-amount": "-1"})
    assert response.status_code == 400
    assert not Program.objects.exists() and not RewardRule.objects.exists()


def test_the_sources_step_makes_sources_links_and_portal_invitations(login, alice, program):
    response = login(alice).post(
        f"/app/start/{program.pk}/sources/",
        source_rows(
            ("Anna Baker", "anna@example.com", "customer"),
            ("Rui Agent", "", "agent"),
            ("", "", "customer"),
        ),
    )
    assert response["Location"] == f"/app/start/{program.pk}/links/"
    anna, rui = ReferralSource.objects.order_by("name")
    assert {link.source for link in ReferralLink.objects.filter(program=program)} == {anna, rui}
    invitations = OutboxMessage.objects.filter(task="accounts.send_portal_link")
    assert [m.args for m in invitations] == [[anna.pk, anna.portal_token]]


def test_the_sources_step_needs_at_least_one_source(login, alice, program):
    response = login(alice).post(
        f"/app/start/{program.pk}/sources/", source_rows(("", "", "agent"))
    )
    assert response.status_code == 400
    assert "Add at least one source" in response.content.decode()
    assert not ReferralSource.objects.exists()


def test_an_email_longer_than_an_address_can_be_is_a_form_error(login, alice, program):
    long_email = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".example"
    assert len(long_email) > 254
    response = login(alice).post(
        f"/app/start/{program.pk}/sources/", source_rows(("Anna Baker", long_email, "customer"))
    )
    assert response.status_code == 400
    assert "at most 254 characters" in response.content.decode()
    assert not ReferralSource.objects.exists()


def test_the_last_step_shows_the_links_and_makes_missing_ones(login, alice, program, source):
    client = login(alice)
    page = client.get(f"/app/start/{program.pk}/links/").content.decode()
    assert "1 source has no link in this program yet" in page
    client.post(f"/app/start/{program.pk}/links/create/")
    link = ReferralLink.objects.get(program=program, source=source)
    # An imported source with an email is invited to its portal, as a typed one is.
    invitations = OutboxMessage.objects.filter(task="accounts.send_portal_link")
    assert [m.args[:2] for m in invitations] == [[source.pk, source.portal_token]]
    client.post(f"/app/start/{program.pk}/links/create/")  # again: nobody is left to link
    assert invitations.count() == 1
    page = client.get(f"/app/start/{program.pk}/links/").content.decode()
    assert f"/r/{link.code}" in page and 'data-testid="start-test"' in page


@pytest.mark.parametrize(
    "path", ["/app/start/", "/app/start/{pk}/sources/", "/app/start/{pk}/links/"]
)
def test_wizard_pages_run_a_bounded_number_of_queries(
    login, alice, program, django_assert_max_num_queries, path
):
    from tests.factories import ReferralLinkFactory, ReferralSourceFactory

    for _n in range(30):
        ReferralLinkFactory(
            program=program, source=ReferralSourceFactory(organization=program.organization)
        )
    client = login(alice)
    with django_assert_max_num_queries(12):
        assert client.get(path.format(pk=program.pk)).status_code == 200


def _steps(page: str) -> list[str]:
    import re

    return re.findall(r'data-testid="checklist-step" data-done="(yes|no)"', page)


def test_the_checklist_ticks_each_step_from_the_data(login, alice, acme, program, source):
    client = login(alice)
    # Program yes; no rule, no link, no test run, no click, no lead, no purchase.
    assert _steps(client.get("/app/").content.decode()) == [
        "yes", "no", "yes", "no", "no", "no", "no", "no"
    ]  # fmt: skip
    from tests.factories import ReferralLinkFactory, RewardRuleFactory

    RewardRuleFactory(program=program)
    link = ReferralLinkFactory(program=program, source=source)
    referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )
    assert _steps(client.get("/app/").content.decode()) == [
        "yes", "yes", "yes", "yes", "no", "no", "yes", "no"
    ]  # fmt: skip


def test_the_checklist_goes_once_a_referred_purchase_is_recorded(
    login, alice, program, source, link
):
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )
    conversion_record(referral=referral, kind="purchase", external_id="o-1", amount=Decimal("9"))
    assert 'data-testid="checklist"' not in login(alice).get("/app/").content.decode()


def test_a_new_organization_sees_the_checklist_pointing_to_the_wizard(login, alice):
    page = login(alice).get("/app/").content.decode()
    assert 'data-testid="checklist"' in page and 'href="/app/start/"' in page


def test_making_links_covers_every_source_in_batches_with_bounded_queries(
    login, alice, program, django_assert_max_num_queries
):
    """More sources than a batch: every active source of a kind the program accepts gets
    its link (and, with an email, its portal invitation) in one click, in a number of
    queries that grows with the batches, not the sources; others get nothing."""
    from datetime import timedelta

    from django.utils import timezone

    organization = program.organization
    assert "customer" in program.allowed_source_kinds
    ReferralSource.objects.bulk_create(
        [
            ReferralSource(
                organization=organization,
                kind="customer",
                name=f"Source {n}",
                email=f"s{n}@example.com" if n % 2 else "",
            )
            for n in range(2_345)
        ]
    )
    inactive = ReferralSource.objects.create(
        organization=organization, kind="customer", name="Stopped", active=False
    )
    expired = ReferralSource.objects.create(
        organization=organization,
        kind="customer",
        name="Expired portal",
        email="old@example.com",
        portal_token_expires_at=timezone.now() - timedelta(days=1),
    )
    client = login(alice)
    # About 7 queries a batch of 1,000 (3 here) and the request's own: not one per source.
    with django_assert_max_num_queries(35):
        client.post(f"/app/start/{program.pk}/links/create/")
    response = client.get(f"/app/start/{program.pk}/links/")
    assert "2346 link(s) created; 1172 portal invitation(s)" in response.content.decode()
    wanted = ReferralSource.objects.filter(organization=organization, active=True)
    assert wanted.count() == 2_346
    assert not wanted.exclude(links__program=program).exists()
    assert not ReferralLink.objects.filter(source=inactive).exists()
    codes = ReferralLink.objects.filter(program=program).values_list("code", flat=True)
    assert len(set(codes)) == 2_346 and all(codes)
    invitations = OutboxMessage.objects.filter(task="accounts.send_portal_link")
    invited = {m.args[0] for m in invitations}
    assert len(invited) == invitations.count() == 1_172
    assert expired.pk not in invited
    assert invited == set(
        wanted.exclude(email="").exclude(pk=expired.pk).values_list("pk", flat=True)
    )
    tokens = dict(wanted.values_list("pk", "portal_token"))
    assert all(m.args[1] == tokens[m.args[0]] for m in invitations)
