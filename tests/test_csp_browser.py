"""
The Content-Security-Policy in a real browser: chromium loads the landing page, the portal
and dashboard pages, and nothing on them is refused by the policy (no inline script or
style, nothing injected by htmx or Chart.js), while their scripts still run.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from referrals.services import referral_create
from rewards.services import credit_account_for, credit_grant

# Collects every violation the page reports; an init script runs before the page's own and is
# not itself subject to the page's policy. window.print is stubbed to see the button work.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
window.print = () => { window.__printed = true; };
"""


@pytest.fixture
def site(transactional_db, acme, alice, program, source, link):
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )
    account = credit_account_for(organization_id=acme.pk, source=source)
    credit_grant(
        account=account,
        amount=Decimal("25.00"),
        expires_at=timezone.now() + timedelta(days=30),
        idempotency_key="csp-browser",
    )
    return {"referral": referral, "account": account, "program": program, "link": link}


def _watched_context(browser, base_url):
    context = browser.new_context(base_url=base_url)
    context.add_init_script(WATCH)
    return context


def _visit(page, path, problems):
    """Load ``path`` and add to ``problems`` what the policy refused on it."""
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    response = page.goto(path)
    assert response.status < 400, (path, response.status)
    assert "script-src 'self'" in response.headers["content-security-policy"], path
    page.wait_for_load_state("networkidle")
    for violation in page.evaluate("window.__violations"):
        problems.append(f"{path}: {violation}")
    for error in errors:
        problems.append(f"{path}: console: {error}")


@pytest.mark.e2e
def test_pages_run_under_the_policy_without_a_violation(
    browser,
    live_server,
    site,
    alice,
    source,
):
    problems: list[str] = []

    visitor = _watched_context(browser, live_server.url)
    for path in [
        "/",
        "/accounts/login/",
        "/accounts/signup/",
        f"/r/{site['link'].public_code}",
        f"/me/{source.portal_token}/",
    ]:
        page = visitor.new_page()
        _visit(page, path, problems)
        page.close()
    visitor.close()

    staff = _watched_context(browser, live_server.url)
    client = Client()
    client.force_login(alice)
    staff.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    for path in [
        "/app/",
        f"/app/programs/{site['program'].pk}/",
        f"/app/links/{site['link'].pk}/card/",
        "/app/sources/",
        f"/app/referrals/{site['referral'].pk}/",
        "/app/rewards/",
        f"/app/balances/{site['account'].pk}/",
        "/app/settings/members/",
        "/accounts/email/",  # allauth's page, with its own scripts
    ]:
        page = staff.new_page()
        _visit(page, path, problems)
        if path == "/app/":
            # The overview's chart is drawn by Chart.js and static/js/overview.js.
            assert page.evaluate("typeof Chart.getChart('monthly')") == "object"
            assert page.evaluate("htmx.config.includeIndicatorStyles") is False
        if path.endswith("/card/"):
            page.click("[data-print]")
            assert page.evaluate("window.__printed") is True
        page.close()

    assert problems == []

    # The watch sees a violation when there is one: an inline style is refused and reported.
    page = staff.new_page()
    page.goto("/app/")
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_function("window.__violations.length > 0")
    assert "style-src" in page.evaluate("window.__violations[0]")
    staff.close()
