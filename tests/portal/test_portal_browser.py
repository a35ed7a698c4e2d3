"""
The source's portal in Debian's chromium, on phones (390 px and 360 px) and a desktop: it
never scrolls sideways, the link is shown whole, and a source asks for a chosen amount to
be paid to the bank account it keeps there. Screenshots of each page go to
``var/screenshots/<test name>/``.
"""

from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from referrals.services import referral_create
from rewards.models import Payout
from rewards.services import reward_grant_manual, rule_create
from tests.factories import OrganizationFactory, ProgramFactory, ReferralSourceFactory

pytestmark = pytest.mark.e2e

IBAN = "NL91ABNA0417164300"


def screenshot_dir(request) -> Path:
    folder = Path(settings.BASE_DIR) / "var" / "screenshots" / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def busy_source(transactional_db):
    """A source with a long-named organization, a long name, a dozen referrals and
    €120.00 of cash owed."""
    org = OrganizationFactory(
        name="Noordelijke Coöperatieve Spaar- en Hypotheekbank Groningen-Drenthe",
        slug="noordbank",
        currency="EUR",
    )
    program = ProgramFactory(
        organization=org, name="Klant werft klant", friend_offer="Your first year free"
    )
    rule_create(
        program=program,
        beneficiary="referrer",
        trigger="first_purchase",
        formula="fixed",
        amount=Decimal("40.00"),
        reward_kind="cash",
        hold_days=30,
    )
    source = ReferralSourceFactory(
        organization=org,
        kind="customer",
        name="Annemarie Wilhelmina van der Berg-Oosterhuis",
        email="annemarie@example.com",
    )
    for i in range(12):
        referral_create(
            program=program,
            source=source,
            channel="email",
            friend_email=f"friend{i}@example.com",
            friend_name=f"Friend number {i} with a rather long name",
        )
    for note in ("Branch opening", "Two mortgages", "Board introduction"):
        reward_grant_manual(
            organization=org,
            source=source,
            amount=Decimal("40.00"),
            note=note,
            actor=None,
            reward_kind="cash",
        )
    return source


@pytest.mark.parametrize("width", [390, 360])
def test_the_portal_fits_a_phone_and_shows_the_whole_link(
    browser, live_server, busy_source, width, request
):
    folder = screenshot_dir(request)
    viewport = {"width": width, "height": 800}
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    page = context.new_page()
    page.goto(f"/me/{busy_source.portal_token}/")
    expect(page.get_by_test_id("portal-rules").first).to_contain_text("You earn €40.00 in cash")
    expect(page.get_by_test_id("portal-payout-balance")).to_have_text("€120.00")
    assert fits(page), page.evaluate("document.documentElement.scrollWidth")
    link = page.get_by_test_id("portal-link-url").first
    box = link.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert link.evaluate("e => e.scrollWidth <= e.clientWidth")  # not cut off inside either
    page.screenshot(path=str(folder / "portal.png"), full_page=True)
    page.get_by_test_id("referrals-next").click()
    expect(page.get_by_test_id("portal-referrals")).to_contain_text("Friend number 1 ")
    assert fits(page)
    page.screenshot(path=str(folder / "portal-referrals-page-2.png"), full_page=True)
    context.close()


def test_a_source_saves_its_bank_account_and_is_paid_a_chosen_amount(
    browser, live_server, busy_source, request
):
    folder = screenshot_dir(request)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.goto(f"/me/{busy_source.portal_token}/")

    details = page.get_by_test_id("payout-details")
    details.get_by_label("Bank transfer").check()
    details.get_by_label("Account holder").fill("A. W. van der Berg")
    details.get_by_label("IBAN").fill("NL91 ABNA 0417 1643 01")  # one digit wrong
    details.get_by_role("button").click()
    expect(page.get_by_test_id("payout-details")).to_contain_text("check digits do not match")
    assert fits(page)
    page.screenshot(path=str(folder / "bad-iban.png"), full_page=True)

    details = page.get_by_test_id("payout-details")
    details.get_by_label("IBAN").fill("NL91 ABNA 0417 1643 00")
    details.get_by_role("button").click()
    expect(page.get_by_test_id("payout-details-saved")).to_contain_text("NL•• •••• 4300")

    form = page.get_by_test_id("payout-request")
    form.get_by_label("Amount (EUR)").fill("50.00")
    form.get_by_role("button").click()
    expect(page.locator(".msg.success")).to_have_text("Your payout is on its way.")
    expect(page.get_by_test_id("portal-payouts")).to_contain_text("€50.00")
    expect(page.get_by_test_id("portal-payout-balance")).to_have_text("€70.00")
    assert fits(page)
    page.screenshot(path=str(folder / "payout-requested.png"), full_page=True)

    payout = Payout.objects.get(source=busy_source)
    assert (payout.amount, payout.method, payout.iban, payout.account_holder) == (
        Decimal("50.00"),
        "bank_transfer",
        IBAN,
        "A. W. van der Berg",
    )

    form = page.get_by_test_id("payout-request")
    form.get_by_label("Amount (EUR)").fill("70.01")
    form.get_by_role("button").click()
    expect(page.locator(".msg.error")).to_contain_text("At most €70.00")
    assert Payout.objects.filter(source=busy_source).count() == 1
    context.close()


def test_the_portal_on_a_desktop_keeps_its_tables_inside_the_page(
    browser, live_server, busy_source, request
):
    folder = screenshot_dir(request)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(f"/me/{busy_source.portal_token}/")
    assert fits(page)
    header = page.get_by_test_id("portal-org").bounding_box()
    assert header is not None and header["height"] < 40  # one line beside the page name
    page.screenshot(path=str(folder / "portal-desktop.png"), full_page=True)
    context.close()
