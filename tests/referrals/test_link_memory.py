"""
/r/<code> answers from the process's memory: the link, its landing page, its cookie.

What is kept must follow every change: at once in the process that made it, within a
version check (a second) in the others, within the TTL for changes that bypass save().
"""

import re

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from referrals import linkcache, services
from referrals.models import Click, LinkCacheVersion, Program, Referral
from referrals.services import link_set_vanity_code, program_update


@pytest.fixture
def clock(monkeypatch):
    """linkcache's clock, moved by hand: ``clock.now += 10``."""

    class Clock:
        now = 1_000.0

        def __call__(self):
            return self.now

    fake = Clock()
    monkeypatch.setattr(linkcache, "_clock", fake)
    monkeypatch.setattr(linkcache, "_next_check", 0.0)
    return fake


def queries_on_links(client, url):
    """The response, and the queries that read a link with its program (a cache miss)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    sql = [q["sql"] for q in captured]
    return response, [q for q in sql if "referrals_referrallink" in q and "referrals_program" in q]


def test_a_known_link_is_answered_from_memory(client, link, clock):
    first, reads = queries_on_links(client, f"/r/{link.code}")
    assert first.status_code == 200 and reads
    again, reads = queries_on_links(client, f"/r/{link.code}")
    assert again.status_code == 200 and not reads
    assert Click.objects.filter(link=link).count() == 2  # each visit still has its click


def test_an_unknown_code_is_remembered_too(client, db, clock):
    assert queries_on_links(client, "/r/nope2345")[0].status_code == 404
    response, reads = queries_on_links(client, "/r/nope2345")
    assert response.status_code == 404 and not reads


def test_pausing_the_program_closes_the_link_at_once(client, link, program, clock):
    assert client.get(f"/r/{link.code}").status_code == 200
    program_update(program=program, status="paused")
    assert client.get(f"/r/{link.code}").status_code == 404


def test_a_deactivated_source_closes_the_link_at_once(client, link, source, clock):
    assert client.get(f"/r/{link.code}").status_code == 200
    source.active = False
    source.save()
    assert client.get(f"/r/{link.code}").status_code == 404


def test_a_new_vanity_code_works_and_the_old_one_stops(client, link, clock):
    link_set_vanity_code(link=link, vanity_code="sam-first")
    assert client.get("/r/sam-first").status_code == 200
    link_set_vanity_code(link=link, vanity_code="sam-second")
    assert client.get("/r/sam-first").status_code == 404
    assert client.get("/r/sam-second").status_code == 200


def test_an_edited_landing_page_shows_at_once(client, link, program, clock):
    assert "Bank with us" in client.get(f"/r/{link.code}").content.decode()
    program_update(program=program, landing_headline="Switch in five minutes")
    page = client.get(f"/r/{link.code}").content.decode()
    assert "Switch in five minutes" in page and "Bank with us" not in page


def test_a_switch_to_redirect_mode_shows_at_once(client, link, program, clock):
    assert client.get(f"/r/{link.code}").status_code == 200
    program_update(
        program=program, landing_mode="redirect", destination_url="https://bank.example/a"
    )
    response = client.get(f"/r/{link.code}")
    assert response["Location"] == f"https://bank.example/a?ref={link.code}"


def test_another_process_change_is_seen_at_the_next_version_check(
    client, link, program, clock, settings
):
    settings.LINK_VERSION_CHECK_SECONDS = 1
    settings.LINK_LOCAL_TTL = 60
    assert client.get(f"/r/{link.code}").status_code == 200
    # Another process pauses the program: this one gets no signal, only the version row.
    Program.objects.filter(pk=program.pk).update(status="paused")
    before = LinkCacheVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    _bump_elsewhere()
    assert LinkCacheVersion.objects.get(pk=1).version == (before or 0) + 1
    clock.now += 0.5
    assert client.get(f"/r/{link.code}").status_code == 200  # not checked yet
    clock.now += 1
    assert client.get(f"/r/{link.code}").status_code == 404


def _bump_elsewhere():
    """What ``bump()`` does in another process: move the row, leave this memory alone."""
    from django.db.models import F

    if not LinkCacheVersion.objects.filter(pk=1).update(version=F("version") + 1):
        LinkCacheVersion.objects.create(pk=1, version=1)


def test_a_change_that_bypasses_save_is_seen_after_the_ttl(client, link, program, clock, settings):
    settings.LINK_LOCAL_TTL = 5
    assert client.get(f"/r/{link.code}").status_code == 200
    Program.objects.filter(pk=program.pk).update(status="paused")  # no signal, no bump
    clock.now += 4
    assert client.get(f"/r/{link.code}").status_code == 200
    clock.now += 2
    assert client.get(f"/r/{link.code}").status_code == 404


def test_a_saved_change_bumps_the_version_after_commit(
    link, program, django_capture_on_commit_callbacks
):
    before = LinkCacheVersion.objects.filter(pk=1).values_list("version", flat=True).first() or 0
    with django_capture_on_commit_callbacks(execute=True):
        program_update(program=program, name="Renamed")
    assert LinkCacheVersion.objects.get(pk=1).version == before + 1


def test_a_new_link_does_not_drop_what_is_kept(client, link, program, acme, clock):
    from tests.factories import ReferralLinkFactory, ReferralSourceFactory

    client.get(f"/r/{link.code}")
    ReferralLinkFactory(program=program, source=ReferralSourceFactory(organization=acme))
    assert not queries_on_links(client, f"/r/{link.code}")[1]


def test_the_link_is_served_from_memory_while_the_database_is_down(
    client, link, clock, monkeypatch, settings
):
    settings.LINK_LOCAL_TTL = 5
    assert client.get(f"/r/{link.code}").status_code == 200

    def down(code):
        raise OperationalError("connection refused")

    monkeypatch.setattr(services, "link_resolve", down)
    monkeypatch.setattr(linkcache, "_check_version", lambda now: None)
    clock.now += 60
    assert client.get(f"/r/{link.code}").status_code == 200
    assert Click.objects.filter(link=link).count() == 2


def test_the_link_works_with_redis_down(client, link, program, settings):
    program_update(
        program=program, landing_mode="redirect", destination_url="https://bank.example/"
    )
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    assert client.get(f"/r/{link.code}").status_code == 302
    assert client.get(f"/r/{link.code}").status_code == 302
    assert Click.objects.filter(link=link).count() == 2


# The landing page, rendered once and served with each visitor's own CSRF token --------------


def token_in(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_each_visitor_gets_a_token_of_their_own_in_the_kept_page(link, clock):
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    page_one = first.get(f"/r/{link.code}")
    page_two = second.get(f"/r/{link.code}")
    one, two = token_in(page_one.content.decode()), token_in(page_two.content.decode())
    assert one != two and "placeholder" not in one + two
    assert page_one.cookies["csrftoken"].value != page_two.cookies["csrftoken"].value
    assert "Cookie" in page_one["Vary"]


def test_the_lead_form_still_needs_its_csrf_token(link, clock):
    friend = Client(enforce_csrf_checks=True)
    page = friend.get(f"/r/{link.code}").content.decode()
    lead = {"name": "Fay Friend", "email": "fay@example.com"}
    assert friend.post(f"/r/{link.code}", lead).status_code == 403
    stranger = Client(enforce_csrf_checks=True)  # a token without its cookie: refused too
    assert (
        stranger.post(f"/r/{link.code}", {**lead, "csrfmiddlewaretoken": token_in(page)})
    ).status_code == 403
    assert not Referral.objects.exists()
    response = friend.post(f"/r/{link.code}", {**lead, "csrfmiddlewaretoken": token_in(page)})
    assert response.status_code == 200
    assert Referral.objects.get().friend_email == "fay@example.com"


def test_the_kept_page_is_the_template_rendered_for_the_link(client, link, program, clock):
    page = client.get(f"/r/{link.code}").content.decode()
    again = client.get(f"/r/{link.code}").content.decode()
    assert page.replace(token_in(page), "") == again.replace(token_in(again), "")
    for text in ("Acme Bank", "Bank with us", "Sam Source", "€50 welcome bonus", "Claim the offer"):
        assert text in page


def test_the_attribution_cookie_is_secure_on_https_only(client, link, program, clock):
    from referrals.services import cookie_name

    name = cookie_name(program.pk)
    assert client.get(f"/r/{link.code}", secure=True).cookies[name]["secure"] is True
    plain = client.get(f"/r/{link.code}").cookies[name]
    assert not plain["secure"]
    secure = client.get(f"/r/{link.code}", secure=True).cookies[name]
    assert secure["secure"] is True
    # What the WSGI handler sends: the header Django would have rendered for this cookie.
    for morsel, flags in ((plain, ""), (secure, "; Secure")):
        header = morsel.output(header="").strip()
        assert header.startswith(f"{name}={morsel.value}; expires=")
        assert header.endswith(
            f"; HttpOnly; Max-Age={program.attribution_window_days * 86400}; Path=/; "
            f"SameSite=Lax{flags}"
        )
