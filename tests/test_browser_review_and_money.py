"""
Three flows of issue #14 in Debian's chromium, as people meet them:

- a friend leaves their details on the landing page, goes back and sends them again: one
  lead, and the thank-you page gives them their code and what happens next;
- staff find a referral held for review, read why in words, and approve it from its page;
- staff preview a payout batch (who, how much, by which method) and confirm it.

Each main page is saved under ``var/screenshots/<test name>/`` at 1366 px.
"""

from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from referrals.models import Referral
from referrals.services import conversion_record, referral_create
from rewards.models import Payout, Reward
from rewards.services import reward_grant_manual
from tests.conftest import PASSWORD
from tests.factories import ReferralSourceFactory
from tests.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def screens(request) -> Path:
    folder = Path(settings.BASE_DIR) / "var" / "screenshots" / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def signed_in(browser, live_server, user):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("current-org")).to_be_visible()
    return page


def test_a_friend_who_sends_the_landing_form_twice_is_one_lead_and_gets_their_code(
    browser, live_server, link, request
):
    folder = screens(request)
    friend = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    friend.goto(f"{live_server.url}/r/{link.code}")
    expect(friend.locator("h1")).to_have_text("Bank with us")
    friend.screenshot(path=str(folder / "01-landing.png"), full_page=True)
    friend.fill("input[name=name]", "Fay Friend")
    friend.fill("input[name=email]", "fay@example.com")
    friend.click("text=Claim the offer")
    expect(friend.locator("h1")).to_have_text("Thank you, Fay Friend")

    # Back to the filled-in form, and sent again.
    friend.go_back()
    friend.fill("input[name=name]", "Fay Friend")
    friend.fill("input[name=email]", "fay@example.com")
    friend.click("text=Claim the offer")
    expect(friend.locator("h1")).to_have_text("Thank you, Fay Friend")
    expect(friend.get_by_test_id("offer")).to_have_text("€50 welcome bonus")
    expect(friend.get_by_test_id("friend-code")).to_have_text(link.public_code)
    expect(friend.locator(".next-steps")).to_contain_text("fay@example.com")
    friend.screenshot(path=str(folder / "02-thank-you.png"), full_page=True)

    referrals = Referral.objects.filter(friend_email="fay@example.com")
    assert referrals.count() == 1
    assert not referrals.get().flagged  # the second submission is not a "duplicate friend"
    assert friend.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.worker
def test_staff_approve_a_held_referral_from_its_page_and_its_purchase_counts_once(
    browser, live_server, celery_worker, bob, program, source, link, fixed_rule, request
):
    folder = screens(request)
    held = referral_create(
        program=program, source=source, link=link, channel="link", friend_email=source.email
    )
    conversion_record(referral=held, kind="purchase", external_id="o-1", amount=Decimal("80"))
    assert held.flagged

    page = signed_in(browser, live_server, bob)
    page.goto(f"/app/referrals/{held.pk}/")
    notice = page.get_by_test_id("held")
    expect(notice).to_contain_text("Held for review")
    expect(notice).to_contain_text("the friend's email is the source's own")
    expect(notice).not_to_contain_text("self_referral_email")
    page.screenshot(path=str(folder / "01-held-referral.png"), full_page=True)

    page.get_by_test_id("approve").click()
    expect(page.get_by_test_id("held")).to_have_count(0)
    expect(page.get_by_test_id("referral-status")).to_have_text("Converted")
    page.screenshot(path=str(folder / "02-approved.png"), full_page=True)

    held.refresh_from_db()
    assert not held.flagged and held.status == Referral.Status.CONVERTED
    # What the held purchase earned is issued by the worker, once.
    wait_for(lambda: Reward.objects.filter(conversion__referral=held).exists())
    page.reload()
    expect(page.get_by_test_id("referral-status")).to_have_text("Converted")
    assert Reward.objects.filter(conversion__referral=held).count() == 1
    assert Reward.objects.get(conversion__referral=held).amount == Decimal("25.00")


@pytest.mark.worker
def test_staff_preview_a_payout_batch_and_confirm_what_it_shows(
    browser, live_server, celery_worker, acme, alice, bob, source, request
):
    folder = screens(request)
    olga = ReferralSourceFactory(organization=acme, name="Olga Agent", kind="agent", email="o@x.io")
    for holder, amount in ((source, "20.00"), (olga, "35.50")):
        reward_grant_manual(
            organization=acme,
            source=holder,
            amount=Decimal(amount),
            note="Thank you",
            actor=alice,
            reward_kind="cash",
        )

    page = signed_in(browser, live_server, bob)
    page.goto("/app/payouts/")
    page.get_by_test_id("payout-batch").locator("button").click()
    preview = page.get_by_test_id("batch-preview")
    expect(preview).to_contain_text("Olga Agent")
    expect(preview).to_contain_text("€35.50")
    expect(preview).to_contain_text("Sam Source")
    expect(preview).to_contain_text("€20.00")
    expect(page.get_by_test_id("batch-total")).to_have_text("€55.50")
    page.screenshot(path=str(folder / "01-batch-preview.png"), full_page=True)
    assert not Payout.objects.exists()  # a preview pays nobody

    # Cancelling the browser's confirmation pays nothing; accepting it starts the batch.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_test_id("batch-confirm").click()
    expect(page.get_by_test_id("batch-preview")).to_be_visible()
    assert not Payout.objects.exists()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("batch-confirm").click()
    expect(page.locator("h1")).to_have_text("Payouts")
    page.screenshot(path=str(folder / "02-batch-started.png"), full_page=True)
    # The worker asks each previewed source's payout: exactly what the preview showed.
    wait_for(lambda: Payout.objects.count() == 2)
    paid = sorted((p.source.name, p.amount, p.method) for p in Payout.objects.all())
    assert paid == [
        ("Olga Agent", Decimal("35.50"), "bank_transfer"),
        ("Sam Source", Decimal("20.00"), "bank_transfer"),
    ]
