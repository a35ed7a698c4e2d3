"""Public endpoints answer an honest 429 past their rate, per client address, and change
nothing when they do; a dead Redis opens the limits instead of failing the page."""

import socket

import pytest

from referrals.models import Referral


@pytest.fixture
def tight(settings):
    # Hourly windows: a test never straddles the start of a new window.
    settings.RATELIMITS = {
        **settings.RATELIMITS,
        "portal": "3/h",
        "portal_write": "2/h",
        "widget": "2/h",
    }
    return settings


def test_the_portal_answers_429_past_its_rate(client, tight, source):
    answers = [client.get(f"/me/{source.portal_token}/").status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    response = client.get(f"/me/{source.portal_token}/")
    assert response["Retry-After"] == "3600"
    assert "Too many requests" in response.content.decode()


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_is_answered_with_a_page_and_a_script_with_text(client, tight, source):
    for _ in range(3):
        client.get(f"/me/{source.portal_token}/")
    page = client.get(f"/me/{source.portal_token}/", HTTP_ACCEPT=BROWSER)
    assert page.status_code == 429
    assert page["Content-Type"].startswith("text/html")
    assert page["Retry-After"] == "3600"
    assert "<h1>Too many requests</h1>" in page.content.decode()
    assert "Wait an hour" in page.content.decode()
    text = client.get(f"/me/{source.portal_token}/", HTTP_ACCEPT="application/json")
    assert (text.status_code, text["Content-Type"]) == (429, "text/plain; charset=utf-8")


def test_a_refused_introduction_stores_no_referral(client, tight, source, program, link):
    for n in range(4):
        response = client.post(
            f"/me/{source.portal_token}/introduce/",
            {"name": f"Friend {n}", "email": f"f{n}@example.com", "program": program.pk},
            HTTP_ACCEPT=BROWSER,
        )
    assert response.status_code == 429
    assert "Nothing was sent or saved" in response.content.decode()
    assert Referral.objects.count() == 2


def test_each_address_has_its_own_count(client, tight, source):
    for _ in range(3):
        client.get(f"/me/{source.portal_token}/", REMOTE_ADDR="10.0.0.1")
    assert client.get(f"/me/{source.portal_token}/", REMOTE_ADDR="10.0.0.1").status_code == 429
    assert client.get(f"/me/{source.portal_token}/", REMOTE_ADDR="10.0.0.2").status_code == 200


def test_behind_a_proxy_the_configured_header_names_the_client(client, tight, source):
    tight.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    tight.CLIENT_IP_PROXY_COUNT = 2  # a proxy at 10.0.0.1, then the balancer
    for _ in range(3):
        client.get(f"/me/{source.portal_token}/", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.1")
    refused = client.get(f"/me/{source.portal_token}/", HTTP_X_FORWARDED_FOR="203.0.113.9")
    other = client.get(f"/me/{source.portal_token}/", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert (refused.status_code, other.status_code) == (429, 200)


def test_an_address_the_client_puts_in_x_forwarded_for_is_not_believed(client, tight, source):
    """A proxy appends the address it saw to X-Forwarded-For; what comes before is whatever
    the client sent. Reading the first entry let anyone pass every limit (and the fraud
    guard's address) by sending a new made-up address with each request."""
    tight.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    answers = [
        client.get(
            f"/me/{source.portal_token}/", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.9"
        ).status_code
        for n in range(4)
    ]
    assert answers == [200, 200, 200, 429]


def test_the_widget_data_is_limited_too(client, tight, acme):
    from accounts.widget import make_token

    token = make_token(organization=acme, customer_external_id="C-1")
    answers = [client.get("/widget/data", {"token": token}).status_code for _ in range(3)]
    assert answers == [200, 200, 429]


def test_after_five_failed_sign_ins_even_the_right_password_waits(client, alice):
    from tests.factories import PASSWORD

    for _ in range(5):
        client.post("/accounts/login/", {"login": "alice@example.com", "password": "wrong"})
    response = client.post("/accounts/login/", {"login": "alice@example.com", "password": PASSWORD})
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_attempts_from_one_address_answer_429_past_their_rate(client, settings, db):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "3/h/ip"}
    answers = [
        client.post("/accounts/login/", {"login": f"u{n}@example.com", "password": "x"}).status_code
        for n in range(5)
    ]
    assert answers == [200, 200, 200, 429, 429]


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_with_redis_down_the_limits_open_and_pages_answer(client, tight, source):
    tight.CACHES = {
        "default": {
            "BACKEND": "core.cache.FailSafeRedisCache",
            "LOCATION": f"redis://127.0.0.1:{_dead_port()}/0",
        }
    }
    answers = {client.get(f"/me/{source.portal_token}/").status_code for _ in range(6)}
    assert answers == {200}


@pytest.fixture
def link_limits(settings):
    from portal import links

    settings.RATELIMITS = {
        **settings.RATELIMITS,
        "link": "3/h",
        "landing_write": "2/h",
        "link_not_found": "2/h",
    }
    links._CLICKS.counts.clear()
    yield settings
    links._CLICKS.counts.clear()


def test_clicks_past_the_rate_are_refused_and_not_stored(client, link_limits, link):
    from referrals.models import Click

    answers = [client.get(f"/r/{link.code}").status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    assert Click.objects.count() == 3
    assert client.get(f"/r/{link.code}", REMOTE_ADDR="10.9.9.9").status_code == 200


def test_a_flood_of_unknown_codes_is_refused(client, link_limits, db):
    answers = [client.get(f"/r/nocode{n}xx").status_code for n in range(4)]
    assert answers == [404, 404, 429, 429]


def test_the_friends_form_past_its_rate_stores_no_more_leads(client, link_limits, link):
    answers = [
        client.post(f"/r/{link.code}", {"name": f"F{n}", "email": f"f{n}@x.io"}).status_code
        for n in range(4)
    ]
    assert answers == [200, 200, 429, 429]
    assert Referral.objects.count() == 2


def test_the_click_limit_keeps_no_more_than_one_window_of_addresses(settings):
    from django.test import RequestFactory

    from core.ratelimit import LocalLimiter

    settings.RATELIMITS = {**settings.RATELIMITS, "link": "1/m"}
    limiter = LocalLimiter("link")
    factory = RequestFactory()
    for n in range(100):
        limiter.refused(factory.get("/", REMOTE_ADDR=f"10.0.0.{n}"), now=0.0)
    assert len(limiter.counts) == 100
    limiter.refused(factory.get("/", REMOTE_ADDR="10.0.0.1"), now=61.0)
    assert limiter.counts == {"10.0.0.1": 1}


def test_retry_after_counts_the_whole_period_of_a_rate():
    from core.ratelimit import parse_rate, too_many_requests

    assert parse_rate("120/m") == (120, 60) and parse_rate("5/5m") == (5, 300)
    assert too_many_requests("5/5m")["Retry-After"] == "300"
