"""
The dashboard on a 390 px phone (Debian's chromium): no page scrolls sideways. Wide tables
scroll inside their own box and the navigation folds into one scrolling row. Screenshots
of each page go to ``var/screenshots/<test name>/``.
"""

from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from referrals.services import conversion_record, referral_create
from rewards.services import payout_request, reward_grant_manual
from tests.conftest import PASSWORD
from tests.factories import ReferralLinkFactory, ReferralSourceFactory

pytestmark = pytest.mark.e2e

PAGES = [
    "/app/",
    "/app/programs/",
    "/app/programs/{program}/",
    "/app/programs/{program}/edit/",
    "/app/sources/",
    "/app/sources/{source}/",
    "/app/customers/",
    "/app/referrals/",
    "/app/referrals/{referral}/",
    "/app/referrals/review/",
    "/app/rewards/",
    "/app/balances/",
    "/app/payouts/",
    "/app/settings/members/",
]

# What a page overflows with, named so a failure says where to look.
WIDEST = """() => {
  const width = window.innerWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 0.5)
    .filter(e => !e.closest('.table, .table-scroll, .mainnav, pre'));
  return wide.slice(0, 5).map(
    e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`);
}"""


@pytest.fixture
def busy_acme(transactional_db, acme, alice, program, source, fixed_rule):
    acme.name = "Acme Bank of Northern Amsterdam and Surroundings"
    acme.save()
    link = ReferralLinkFactory(program=program, source=source)
    referral = referral_create(
        program=program,
        source=source,
        link=link,
        channel="link",
        friend_email="francesca.longname@example.com",
        friend_name="Francesca Longname-Verylong",
    )
    conversion_record(
        referral=referral, kind="purchase", external_id="order-1", amount=Decimal("480.00")
    )
    partner = ReferralSourceFactory(
        organization=acme,
        kind="partner",
        name="Intermediary Partners International B.V.",
        email="partners-with-a-long-address@intermediary.example",
        company="Intermediary Partners International",
    )
    reward_grant_manual(
        organization=acme,
        source=partner,
        amount=Decimal("75"),
        note="Introduced the board",
        actor=alice,
        reward_kind="cash",
    )
    payout_request(source=partner, method="bank_transfer")
    return {"program": program.pk, "source": partner.pk, "referral": referral.pk}


def test_dashboard_pages_fit_a_390_px_phone(browser, live_server, alice, busy_acme, request):
    folder = Path(settings.BASE_DIR) / "var" / "screenshots" / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    viewport = {"width": 390, "height": 844}
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=login]", alice.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/**")
    too_wide = {}
    for template in PAGES:
        path = template.format(**busy_acme)
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        name = path.strip("/").replace("/", "-") or "app"
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            too_wide[path] = (width, page.evaluate(WIDEST))
    context.close()
    assert too_wide == {}
