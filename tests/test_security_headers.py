"""
Every answer carries the security headers, and no template needs the policy loosened.

The Content-Security-Policy allows scripts, styles and images from this site only and no
inline script or style (django-csp). A Permissions-Policy turns off the browser features no
page uses. tests/test_csp_browser.py loads pages in chromium and watches for violations.
"""

import re
from decimal import Decimal
from pathlib import Path

import pytest

from accounts.models import Invitation
from referrals.services import referral_create
from rewards.services import credit_account_for, reward_grant_manual

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


@pytest.fixture
def pages(acme, alice, program, source, link):
    """Public pages (nobody signed in) and dashboard pages (alice, an owner), with what each
    answers."""
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )
    account = credit_account_for(organization_id=acme.pk, source=source)
    reward = reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("10.00"),
        note="Thanks",
        actor=alice,
    )
    invitation = Invitation.objects.create(organization=acme, email="ivy@example.com")
    public = {
        "/": 200,
        "/accounts/login/": 200,
        "/accounts/signup/": 200,
        "/accounts/password/reset/": 200,
        f"/r/{link.public_code}": 200,
        "/r/nope1234": 404,
        f"/me/{source.portal_token}/": 200,
        f"/me/{source.portal_token}/qr/{link.pk}.svg": 200,
        f"/invite/{invitation.token}/": 200,
        "/no-such-page/": 404,
        "/app/sources/%00/": 400,
        "/static/css/app.css": 200,
        "/healthz": 200,
    }
    dashboard = {
        "/app/": 200,
        "/app/programs/": 200,
        "/app/programs/new/": 200,
        f"/app/programs/{program.pk}/": 200,
        f"/app/programs/{program.pk}/edit/": 200,
        f"/app/programs/{program.pk}/rules/new/": 200,
        f"/app/links/{link.pk}/card/": 200,
        f"/app/links/{link.pk}/qr.svg": 200,
        f"/app/links/{link.pk}/qr.png": 200,
        "/app/sources/": 200,
        "/app/sources/new/": 200,
        "/app/sources/import/": 200,
        f"/app/sources/{source.pk}/": 200,
        f"/app/sources/{source.pk}/edit/": 200,
        "/app/customers/": 200,
        "/app/customers/import/": 200,
        "/app/referrals/": 200,
        "/app/referrals/new/": 200,
        "/app/referrals/review/": 200,
        f"/app/referrals/{referral.pk}/": 200,
        "/app/events/new/": 200,
        "/app/rewards/": 200,
        "/app/rewards/grant/": 200,
        f"/app/rewards/{reward.pk}/": 200,
        "/app/balances/": 200,
        f"/app/balances/{account.pk}/": 200,
        "/app/payouts/": 200,
        "/app/settings/members/": 200,
        "/accounts/email/": 200,
        "/app/programs/999999/": 404,
    }
    return public, dashboard


def _assert_security_headers(response, path):
    assert directives(response.get("Content-Security-Policy", "")) == directives(EXPECTED_CSP), path
    assert "camera=()" in response["Permissions-Policy"], path
    assert "geolocation=()" in response["Permissions-Policy"], path
    assert response["X-Frame-Options"] == "DENY", path
    assert response["X-Content-Type-Options"] == "nosniff", path
    assert response["Referrer-Policy"] == "same-origin", path


def test_every_page_carries_the_security_headers(client, pages, alice):
    public, dashboard = pages
    for path, status in public.items():
        response = client.get(path)
        assert response.status_code == status, path
        _assert_security_headers(response, path)
    client.force_login(alice)
    for path, status in dashboard.items():
        response = client.get(path)
        assert response.status_code == status, path
        _assert_security_headers(response, path)


def test_a_redirecting_link_carries_them_too(client, program, link):
    program.landing_mode = "redirect"
    program.destination_url = "https://shop.example/"
    program.save()
    response = client.get(f"/r/{link.public_code}")
    assert response.status_code == 302
    _assert_security_headers(response, "redirect")


def test_the_policy_allows_no_inline_script_or_style(client, db):
    policy = directives(client.get("/")["Content-Security-Policy"])
    for directive in ("default-src", "script-src", "style-src"):
        assert "unsafe" not in policy[directive]
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"


# What a strict policy blocks, written in a template: an inline <script> (one with a src, or
# a JSON data block from json_script, is fine), a <style> element, a style="" attribute, an
# on...="" event handler, htmx's hx-on (inline script too) and javascript: URLs.
INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I),
    "style element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "event handler": re.compile(r"\son[a-z]+\s*=", re.I),
    "hx-on": re.compile(r"\shx-on", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


# Emails are not pages: mail clients drop stylesheets, so their HTML styles inline, and no
# Content-Security-Policy applies. Script is refused there too.
EMAIL_ALLOWS = {"style element", "style attribute"}


def test_no_template_has_inline_script_or_style():
    found = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text()
        is_email = template.relative_to(TEMPLATES).parts[0] == "emails"
        for what, pattern in INLINE.items():
            if is_email and what in EMAIL_ALLOWS:
                continue
            if pattern.search(text):
                found.append(f"{template.relative_to(TEMPLATES)}: {what}")
    assert found == []


def test_the_template_scan_finds_what_it_looks_for():
    samples = {
        "inline script": "<script>alert(1)</script>",
        "style element": "<style>p{}</style>",
        "style attribute": '<p style="color:red">',
        "event handler": '<button onclick="x()">',
        "hx-on": '<div hx-on:click="x()">',
        "javascript: URL": '<a href="javascript:x()">',
    }
    for what, sample in samples.items():
        assert INLINE[what].search(sample), what
    assert not INLINE["inline script"].search('<script src="/static/js/x.js" defer></script>')
    assert not INLINE["inline script"].search('<script id="d" type="application/json">{}</script>')
