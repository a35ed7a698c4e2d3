"""
The dashboard in a real browser: Debian's chromium driven by Playwright, against the live
server, with a real Celery worker. A manager creates a program and a link, a friend opens
the link in a private window and leaves their email, the manager records the purchase and
the overview shows the referrer's credit.
"""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from rewards.models import Reward
from tests.conftest import PASSWORD, make_user
from tests.factories import MembershipFactory, OrganizationFactory
from tests.helpers import wait_for


@pytest.mark.e2e
@pytest.mark.worker
def test_manager_runs_a_referral_through_the_dashboard(
    browser, live_server, celery_worker, tmp_path
):
    org = OrganizationFactory(
        name="Harbour Insurance", slug="harbour", currency="EUR", timezone="Europe/Lisbon"
    )
    manager = make_user("mia@harbour.example")
    MembershipFactory(user=manager, organization=org, role=Role.OWNER)

    staff = browser.new_context(base_url=live_server.url)
    page = staff.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=login]", "mia@harbour.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("current-org")).to_contain_text("Harbour Insurance")

    page.goto("/app/programs/new/")
    page.fill("#id_name", "Client referrals")
    page.fill("#id_friend_offer", "First month of cover free")
    page.click("text=Save program")
    expect(page.locator("h1")).to_have_text("Client referrals")
    page.click("text=Add reward rule")
    page.wait_for_load_state("load")  # htmx listens for typing once the page has loaded
    page.fill("#id_amount", "20")
    # The rule is told in words while it is filled in (htmx asks the server's one sentence).
    expect(page.get_by_test_id("rule-words")).to_contain_text("The referrer gets €20.00 in credit")
    page.click("text=Add rule")
    expect(page.get_by_test_id("rule").first).to_contain_text("€20.00")

    page.goto("/app/sources/new/")
    page.select_option("#id_kind", "agent")
    page.fill("#id_name", "Rui Agent")
    page.click("text=Save")
    page.goto("/app/programs/")
    page.click("text=Client referrals")
    page.select_option("select[name=source]", label="Rui Agent")
    page.click("text=Create link")
    link_url = page.get_by_test_id("link-url").inner_text().strip()

    friend = browser.new_context()  # a private window: no cookies of the staff session
    landing = friend.new_page()
    landing.goto(link_url)
    expect(landing.get_by_test_id("offer")).to_have_text("First month of cover free")
    landing.fill("input[name=name]", "Ana Costa")
    landing.fill("input[name=email]", "ana@example.com")
    landing.click("text=Claim the offer")
    expect(landing.locator("h1")).to_have_text("Thank you, Ana Costa")

    page.goto("/app/referrals/")
    page.click("text=Ana Costa")
    expect(page.get_by_test_id("referral-status")).to_have_text("Lead")
    page.fill("#id_external_id", "policy-77")
    page.fill("#id_amount", "480.00")
    page.click("[data-testid=conversion-form] button[type=submit]")
    expect(page.get_by_test_id("referral-status")).to_have_text("Converted")

    wait_for(lambda: Reward.objects.filter(organization=org, status="fulfilled").exists())
    page.goto("/app/")
    expect(page.locator('[data-stat="clicks"]')).to_have_text("1")
    expect(page.locator('[data-stat="converted"]')).to_have_text("1")
    expect(page.locator('[data-stat="credits_issued"]')).to_have_text("€20.00")
    assert Reward.objects.get(organization=org).amount == Decimal("20.00")
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    staff.close()
    friend.close()
