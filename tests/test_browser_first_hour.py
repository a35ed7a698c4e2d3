"""
A new owner's first hour, in Debian's chromium: sign up, name the business, set the offer
and the referrer's reward (watching the live preview), add a first source, get its link,
then run the whole flow as a test (open the test link, leave a friend's details, record a
test purchase) and see the reward, with a real Celery worker.

Each main page is saved at 1366 px and 390 px wide under
``var/screenshots/test_a_new_owner_reaches_a_test_reward_from_the_dashboard/``.
"""

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from accounts.models import Organization
from referrals.models import Referral
from rewards.models import Reward
from tests.conftest import PASSWORD
from tests.helpers import wait_for

WIDTHS = {"desktop": 1366, "phone": 390}


class Screens:
    """Saves each main page at every width, numbered in the order they were seen."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0

    def shoot(self, page, name: str, *, fits: bool = True) -> None:
        """Save the page at each width; ``fits``: and check it never scrolls sideways."""
        self.count += 1
        for label, width in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": 900})
            path = self.folder / f"{self.count:02d}-{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            # No page of the wizard or the test run scrolls sideways, on a phone or a desktop.
            assert not fits or page.evaluate(
                "document.documentElement.scrollWidth <= window.innerWidth"
            ), (
                name,
                label,
            )
        page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})


@pytest.mark.e2e
@pytest.mark.worker
def test_a_new_owner_reaches_a_test_reward_from_the_dashboard(
    browser, live_server, celery_worker, request
):
    screens = Screens(Path(settings.BASE_DIR) / "var" / "screenshots" / request.node.name)
    owner = browser.new_context(base_url=live_server.url)
    page = owner.new_page()
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})

    # 1. Sign up: a new owner lands on the wizard's first step.
    page.goto("/accounts/signup/")
    page.fill("input[name=email]", "olivia@bakery.example")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("wizard-steps")).to_be_visible()
    screens.shoot(page, "business")
    page.fill("#id_name", "Olivia's Bakery")
    page.select_option("#id_timezone", "Europe/Paris")
    page.click("text=Continue")

    # 2. The offer and the referrer's reward, with the landing page previewed as it is typed.
    expect(page.locator("h1")).to_have_text("Your offer and what referrers earn")
    page.wait_for_load_state("load")  # htmx listens for typing once the page has loaded
    expect(page.get_by_test_id("preview-words")).to_have_text(
        "The referrer gets €20.00 in credit when a friend first buys, after a 30-day hold; "
        "credit expires after 365 days."
    )
    page.fill("#id_friend_offer", "A free loaf on your first order")
    expect(page.get_by_test_id("preview-offer")).to_have_text("A free loaf on your first order")
    page.fill("#id_rule-amount", "15")
    expect(page.get_by_test_id("preview-words")).to_contain_text("gets €15.00 in credit")
    page.check("input[name=rule-formula][value=percent]")
    expect(page.locator("#id_rule-amount")).to_be_hidden()
    expect(page.locator("#id_rule-percent")).to_be_visible()
    page.check("input[name=rule-formula][value=fixed]")
    screens.shoot(page, "offer")
    page.click("text=Continue")

    # 3. A first source, typed in a row: it gets its link and its portal invitation.
    expect(page.locator("h1")).to_have_text("Who will refer?")
    page.fill("input[name=sources-0-name]", "Anna Baker")
    page.fill("input[name=sources-0-email]", "anna@example.com")
    screens.shoot(page, "sources")
    page.click("text=Add them and make their links")

    # 4. The links, ready to share.
    expect(page.locator("h1")).to_have_text("Your links are ready")
    link_url = page.get_by_test_id("link-url").first.inner_text().strip()
    assert "/r/" in link_url
    screens.shoot(page, "links")

    # The overview's checklist knows what is done.
    page.goto("/app/")
    expect(page.get_by_test_id("checklist")).to_be_visible()
    screens.shoot(page, "overview-checklist", fits=False)  # the overview's own tables
    page.goto("/app/test/")
    page.click("[data-testid=start-test]")

    # Test mode: the owner's own test link, in the test twin.
    expect(page.get_by_test_id("test-banner")).to_be_visible()
    test_link = page.get_by_test_id("test-link").first.get_attribute("href")
    screens.shoot(page, "test-run")

    friend = owner.new_page()  # the same browser, as an owner trying their own link
    friend.goto(test_link)
    expect(friend.get_by_test_id("offer")).to_have_text("A free loaf on your first order")
    screens.shoot(friend, "landing")
    friend.fill("input[name=name]", "Ana Costa")
    friend.fill("input[name=email]", "olivia@bakery.example")  # the owner's own email
    friend.locator("form button[type=submit]").click()
    expect(friend.locator("h1")).to_contain_text("Thank you")
    screens.shoot(friend, "thanks")
    friend.close()

    page.reload()
    expect(page.get_by_test_id("test-referrals")).to_contain_text("Ana Costa")
    # The fraud rules say what they would have done, and hold nothing.
    expect(page.get_by_test_id("test-referrals")).to_contain_text("would have held it")
    page.click("[data-testid=test-purchase]")
    twin = Organization.objects.get(test_of__name="Olivia's Bakery")
    wait_for(lambda: Reward.objects.filter(organization=twin, status="fulfilled").exists())
    expect(page.get_by_test_id("test-reward-amount").first).to_have_text("€15.00", timeout=10_000)
    screens.shoot(page, "test-reward")

    real = Organization.objects.get(name="Olivia's Bakery")
    assert not Referral.objects.filter(organization=real).exists()
    assert not Reward.objects.filter(organization=real).exists()
    assert not Referral.objects.get(organization=twin).flagged

    page.click("text=Leave test mode")
    expect(page.get_by_test_id("current-org")).to_contain_text("Olivia's Bakery")
    expect(page.locator('[data-stat="referrals"]')).to_have_text("0")
    owner.close()
