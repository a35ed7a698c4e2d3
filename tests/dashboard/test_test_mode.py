"""
Test mode: the owner runs the whole flow (link, lead, purchase, reward, email) in the
organization's test twin. Test records never count in the real organization's numbers or
exports, are never paid out, the fraud rules only say what they would have done, and
every page of the twin says "Test".
"""

from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from accounts.models import Organization, ReferralSource
from referrals.models import Program, Referral
from referrals.services import conversion_record, referral_create
from rewards.models import Reward, RewardRule
from rewards.notifications import send_reward_earned
from rewards.services import issue_rewards_for_conversion, payout_request, sources_to_pay
from rewards.services.testmode import start_test_mode
from tests.api.conftest import Api, key_for
from tests.factories import RewardRuleFactory


def _test_run(acme, alice, *, email="friend@example.com", amount="100.00"):
    """Start test mode and run a friend and a purchase through the test link."""
    twin, links = start_test_mode(organization=acme, user=alice)
    link = links[0]
    referral = referral_create(
        program=link.program, source=link.source, link=link, channel="link", friend_email=email
    )
    conversion, _ = conversion_record(
        referral=referral, kind="purchase", external_id="test-1", amount=Decimal(amount)
    )
    issue_rewards_for_conversion(conversion_id=conversion.pk)
    return twin, link, referral


@pytest.fixture
def real_figures(program, source, link, fixed_rule):
    """A real referral with an €80 purchase credited to Sam, and its €25 reward."""
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="real@example.com"
    )
    conversion, _ = conversion_record(
        referral=referral, kind="purchase", external_id="o-1", amount=Decimal("80.00")
    )
    issue_rewards_for_conversion(conversion_id=conversion.pk)
    return referral


def test_starting_a_test_copies_programs_and_rules_without_a_hold(acme, alice, program):
    RewardRuleFactory(program=program, amount=Decimal("20.00"), hold_days=30)
    program.status = Program.Status.DRAFT
    program.save()
    twin, links = start_test_mode(organization=acme, user=alice)
    assert twin.test_of == acme and twin.is_test and twin.name == "Acme Bank (test)"
    copy = Program.objects.get(organization=twin)
    assert (copy.name, copy.status, copy.friend_offer) == (
        program.name,
        "active",
        program.friend_offer,
    )
    rule = RewardRule.objects.get(program=copy)
    assert (rule.amount, rule.hold_days, rule.organization_id) == (Decimal("20.00"), 0, twin.pk)
    [link] = links
    assert (link.program, link.source.email) == (copy, "alice@example.com")
    assert program.status == "draft"  # the real program is never touched


def test_starting_again_reuses_the_twin_and_follows_changed_rules(acme, alice, program):
    rule = RewardRuleFactory(program=program, amount=Decimal("20.00"))
    twin, _ = start_test_mode(organization=acme, user=alice)
    rule.amount = Decimal("30.00")
    rule.save()
    again, _ = start_test_mode(organization=acme, user=alice)
    assert again == twin and Organization.objects.filter(test_of=acme).count() == 1
    active = RewardRule.objects.filter(organization=twin, active=True)
    assert [r.amount for r in active] == [Decimal("30.00")]
    assert ReferralSource.objects.filter(organization=twin).count() == 1


def test_the_owner_starts_a_test_and_lands_in_the_twin(login, alice, acme, program):
    client = login(alice)
    response = client.post("/app/test/start/")
    assert response.status_code == 302 and response["Location"] == "/app/test/"
    page = client.get("/app/test/").content.decode()
    assert 'data-testid="test-banner"' in page and "Test mode" in page
    assert 'data-testid="test-link"' in page
    assert "Acme Bank (test)" in client.get("/app/").content.decode()


def test_a_manager_cannot_start_a_test(login, bob, program):
    assert login(bob).post("/app/test/start/").status_code == 403
    assert not Organization.objects.filter(test_of__isnull=False).exists()


def test_a_test_run_earns_the_reward_and_emails_the_owner(acme, alice, program, fixed_rule):
    twin, link, referral = _test_run(acme, alice)
    reward = Reward.objects.get(organization=twin)
    assert (reward.amount, reward.status) == (Decimal("25.00"), "fulfilled")  # no hold in tests
    assert reward.source == link.source
    assert Referral.objects.get(pk=referral.pk).status == "converted"
    assert not Reward.objects.filter(organization=acme).exists()
    assert send_reward_earned(reward_id=reward.pk)  # what the queued email task runs
    [email] = mail.outbox
    assert email.to == ["alice@example.com"] and "Acme Bank (test)" in email.subject


def test_test_records_never_count_in_the_real_numbers_exports_or_api(
    login, alice, acme, source, real_figures
):
    _test_run(acme, alice, amount="100.00")
    client = login(alice)
    overview = client.get("/app/").content.decode()
    assert 'data-stat="revenue">€80.00<' in overview
    assert 'data-stat="referrals">1<' in overview
    assert 'data-stat="reward_cost">€25.00<' in overview
    csv = b"".join(client.get("/app/analytics/sources.csv").streaming_content).decode()
    assert "(test)" not in csv and csv.count("\n") == 2  # the header and Sam only
    assert "80.00" in csv
    page = client.get(f"/app/sources/{source.pk}/").content.decode()
    assert "€80.00" in page and "€180.00" not in page
    summary = Api(key_for(acme)).get("/api/v1/analytics/summary").json()
    assert (summary["referrals"], summary["revenue"]) == (1, "80.00")
    sources = Api(key_for(acme)).get("/api/v1/analytics/sources").json()
    assert [row["name"] for row in sources["results"]] == ["Sam Source"]


def test_the_fraud_rules_report_on_a_test_referral_and_never_hold_it(login, acme, alice, program):
    twin, links = start_test_mode(organization=acme, user=alice)
    link = links[0]
    own = referral_create(
        program=link.program,
        source=link.source,
        link=link,
        channel="link",
        friend_email="alice@example.com",  # the owner's own email: a self-referral
    )
    assert (own.flagged, own.flag_reasons) == (False, ["self_referral_email"])
    assert "would have held" in own.events.get().note
    client = login(alice)
    client.post("/app/test/start/")
    page = client.get(f"/app/referrals/{own.pk}/").content.decode()
    assert 'data-testid="would-hold"' in page and 'data-testid="held"' not in page
    assert client.get("/app/referrals/review/").content.decode().count("alice@example.com") <= 1


def test_the_same_referral_in_the_real_organization_is_held(acme, program, source, link):
    real = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="sam@example.com"
    )
    assert real.flagged


def test_test_rewards_are_never_paid_out(acme, alice, program):
    RewardRuleFactory(program=program, amount=Decimal("40.00"), reward_kind="cash")
    twin, link, _ = _test_run(acme, alice)
    assert Reward.objects.get(organization=twin).reward_kind == "cash"
    assert sources_to_pay(organization=twin) == []
    with pytest.raises(ValidationError, match="never paid out"):
        payout_request(source=link.source, method="bank_transfer")


def test_a_test_purchase_is_recorded_only_in_test_mode(login, alice, acme, program, fixed_rule):
    twin, links = start_test_mode(organization=acme, user=alice)
    link = links[0]
    referral = referral_create(
        program=link.program, source=link.source, link=link, channel="link", friend_email="f@x.io"
    )
    client = login(alice)
    # From the real organization the test referral is another tenant's: a 404.
    assert (
        client.post(f"/app/test/referrals/{referral.pk}/purchase/", {"amount": "10"}).status_code
        == 404
    )
    client.post("/app/test/start/")
    response = client.post(f"/app/test/referrals/{referral.pk}/purchase/", {"amount": "120.00"})
    assert response.status_code == 302
    assert referral.conversions.get().purchase.amount == Decimal("120.00")


def test_the_test_run_page_runs_a_bounded_number_of_queries(
    login, alice, acme, program, fixed_rule, django_assert_max_num_queries
):
    twin, links = start_test_mode(organization=acme, user=alice)
    link = links[0]
    for n in range(15):
        referral = referral_create(
            program=link.program,
            source=link.source,
            link=link,
            channel="link",
            friend_email=f"f{n}@example.com",
        )
        conversion, _ = conversion_record(
            referral=referral, kind="purchase", external_id=f"t{n}", amount=Decimal("10")
        )
        issue_rewards_for_conversion(conversion_id=conversion.pk)
    client = login(alice)
    client.post("/app/test/start/")
    with django_assert_max_num_queries(15):
        assert client.get("/app/test/").status_code == 200
    with django_assert_max_num_queries(15):
        assert client.get("/app/test/", headers={"HX-Request": "true"}).status_code == 200


def test_a_redirecting_program_is_tested_through_its_landing_page(acme, alice, program):
    program.landing_mode = Program.LandingMode.REDIRECT
    program.destination_url = "https://shop.example.com/"
    program.save()
    twin, [link] = start_test_mode(organization=acme, user=alice)
    assert link.program.landing_mode == Program.LandingMode.LANDING_PAGE
    assert Program.objects.get(pk=program.pk).landing_mode == Program.LandingMode.REDIRECT


def test_a_renamed_program_leaves_its_old_copy_paused(acme, alice, program):
    twin, [old] = start_test_mode(organization=acme, user=alice)
    program.name = "Bring a friend"
    program.save()
    twin, [new] = start_test_mode(organization=acme, user=alice)
    assert new.program.name == "Bring a friend"
    assert Program.objects.get(pk=old.program_id).status == Program.Status.PAUSED


def test_a_test_organization_has_no_test_twin_of_its_own(acme, alice, program):
    twin, _ = start_test_mode(organization=acme, user=alice)
    with pytest.raises(ValidationError, match="already a test organization"):
        start_test_mode(organization=twin, user=alice)
