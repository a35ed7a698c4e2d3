"""
Control characters in a request are refused with a 400 before any view sees them.

PostgreSQL cannot store a NUL in text, so a NUL that reached a query or an INSERT used to be
a 500. ``core.middleware.ControlCharacterMiddleware`` answers 400 for a NUL (or another C0
control character) in the path, the query string, a form value or a cookie, and strips them
from the User-Agent and Referer headers, which the click path stores. Every place where a NUL
once gave a 500 is tried here, and each leaves the database as it was.
"""

import json
from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest
from django.apps import apps
from django.http import JsonResponse
from django.test import RequestFactory
from django.utils import timezone

from accounts.models import Invitation
from core.middleware import ControlCharacterMiddleware
from referrals.models import Click
from referrals.services import referral_create
from rewards.services import credit_account_for, credit_grant
from tests.conftest import PASSWORD, make_user


def row_counts() -> dict[str, int]:
    """How many rows every table of the project holds: a 400 must leave them all alone."""
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


@pytest.fixture
def world(acme, alice, program, source, link):
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )
    account = credit_account_for(organization_id=acme.pk, source=source)
    # Owed money, so a payout request that got through would create a payout.
    credit_grant(
        account=account,
        amount=Decimal("40.00"),
        expires_at=timezone.now() + timedelta(days=30),
        idempotency_key="nul-test-grant",
    )
    invitee = make_user("ivy@example.com")
    invitation = Invitation.objects.create(organization=acme, email=invitee.email)
    return {
        "code": link.public_code,
        "token": source.portal_token,
        "link": link.pk,
        "program": program.pk,
        "source": source.pk,
        "referral": referral.pk,
        "account": account.pk,
        "invitation": invitation.token,
        "invitee": invitee,
        "alice": alice,
    }


NUL = "\x00"

# (who, method, path, form data): every place a NUL reached the database or a cache key.
# "who" is the user signed in: nobody, alice (an owner of Acme) or the invitee.
PLACES = {
    # /r/<code>: the code, the friend's lead form
    "link code": ("anon", "get", "/r/{code}%00", None),
    "link code on lead": ("anon", "post", "/r/{code}%00", {"name": "A", "email": "a@x.io"}),
    "lead name": ("anon", "post", "/r/{code}", {"name": "A" + NUL, "email": "a@x.io"}),
    # /me/<token>/: the portal token on every portal URL, its forms and the payout key
    "portal token": ("anon", "get", "/me/{token}%00/", None),
    "portal token, qr": ("anon", "get", "/me/{token}%00/qr/{link}.svg", None),
    "portal token, introduce": (
        "anon",
        "post",
        "/me/{token}%00/introduce/",
        {"name": "F", "email": "f2@x.io", "program": "{program}"},
    ),
    "portal introduce name": (
        "anon",
        "post",
        "/me/{token}/introduce/",
        {"name": "F" + NUL, "email": "f2@x.io", "program": "{program}"},
    ),
    "portal token, payout": ("anon", "post", "/me/{token}%00/payout/", {"key": "k1"}),
    "portal payout key": ("anon", "post", "/me/{token}/payout/", {"key": "k" + NUL}),
    # /invite/<token>/
    "invitation token": ("anon", "get", "/invite/{invitation}%00/", None),
    "invitation token, accept": ("invitee", "post", "/invite/{invitation}%00/", {}),
    # sign in and sign up
    "login form": ("anon", "post", "/accounts/login/", {"login": NUL, "password": "x"}),
    "signup form": (
        "anon",
        "post",
        "/accounts/signup/",
        {"email": "n" + NUL + "@x.io", "password1": PASSWORD, "password2": PASSWORD},
    ),
    # dashboard list filters and searches
    "sources ?q=": ("alice", "get", "/app/sources/?q=%00", None),
    "sources ?kind=": ("alice", "get", "/app/sources/?kind=%00", None),
    "sources export ?q=": ("alice", "get", "/app/sources/export.csv?q=%00", None),
    "customers ?q=": ("alice", "get", "/app/customers/?q=%00", None),
    "customers export ?q=": ("alice", "get", "/app/customers/export.csv?q=%00", None),
    "program links ?q=": ("alice", "get", "/app/programs/{program}/?q=%00", None),
    "referrals ?status=": ("alice", "get", "/app/referrals/?status=%00", None),
    "rewards ?status=": ("alice", "get", "/app/rewards/?status=%00", None),
    "payouts ?status=": ("alice", "get", "/app/payouts/?status=%00", None),
    "balances ?holder=": ("alice", "get", "/app/balances/?holder=%00", None),
    "a parameter name": ("alice", "get", "/app/?%00=1", None),
    "a path nothing matches": ("alice", "get", "/app/sources/%00/", None),
    # dashboard forms and the idempotency keys they carry
    "vanity code": ("alice", "post", "/app/links/{link}/vanity/", {"vanity_code": "v" + NUL}),
    "source form": ("alice", "post", "/app/sources/new/", {"kind": "agent", "name": "N" + NUL}),
    "reject reason": ("alice", "post", "/app/referrals/{referral}/reject/", {"reason": NUL}),
    "staff payout key": (
        "alice",
        "post",
        "/app/balances/{account}/payout/",
        {"method": "bank_transfer", "idempotency_key": "k" + NUL},
    ),
    "credit adjust key": (
        "alice",
        "post",
        "/app/balances/{account}/adjust/",
        {"amount": "5", "note": "n", "adjust_key": "k" + NUL},
    ),
    "member invitation": (
        "alice",
        "post",
        "/app/settings/members/",
        {"email": "z" + NUL + "@x.io", "role": "manager"},
    ),
}


def _fill(value, world):
    if isinstance(value, str):
        return value.format(**world)
    return {key: _fill(item, world) for key, item in value.items()}


@pytest.mark.parametrize("place", PLACES)
def test_a_nul_anywhere_is_a_400_that_changes_nothing(client, world, place):
    who, method, path, data = PLACES[place]
    if who in ("alice", "invitee"):
        client.force_login(world[who])
    client.raise_request_exception = False
    before = row_counts()
    path = _fill(path, world)
    send = client.get if method == "get" else partial(client.post, data=_fill(data or {}, world))
    response = send(path)
    assert response.status_code == 400, (place, response.status_code)
    assert row_counts() == before


def test_the_400_says_what_was_wrong(client, world):
    response = client.get(f"/me/{world['token']}%00/")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert "path contains a control character" in response.content.decode()


@pytest.mark.parametrize("character", ["\x01", "\x1b", "\x1f", "\t", "\n"])
def test_other_control_characters_in_a_query_are_refused_too(login, alice, character):
    response = login(alice).get("/app/sources/", {"q": f"a{character}b"})
    assert response.status_code == 400


def test_a_nul_in_a_cookie_is_a_400(client, world):
    client.cookies["sessionid"] = "abcdefgh\x00ijkl"
    before = row_counts()
    response = client.get("/")
    assert response.status_code == 400
    assert "Cookie header" in response.content.decode()
    assert row_counts() == before


@pytest.mark.parametrize("mode", ["landing", "redirect"])
def test_control_characters_in_a_clicks_headers_are_stripped(client, program, link, mode):
    program.landing_mode = mode
    program.destination_url = "https://shop.example/welcome"
    program.save()
    response = client.get(
        f"/r/{link.public_code}",
        HTTP_USER_AGENT="Mozilla/5.0\x00 (X11)\x1b",
        HTTP_REFERER="https://news.example/\x00story",
    )
    assert response.status_code == (200 if mode == "landing" else 302)
    click = Click.objects.get(link=link)
    assert click.user_agent == "Mozilla/5.0 (X11)"
    assert click.referer == "https://news.example/story"


def test_a_lead_with_a_nul_in_its_user_agent_is_stored_clean(client, link):
    response = client.post(
        f"/r/{link.public_code}",
        {"name": "Ann", "email": "ann@example.com"},
        HTTP_USER_AGENT="Bot\x00/1",
    )
    assert response.status_code == 200
    assert link.referrals.get().user_agent == "Bot/1"


def test_tabs_and_new_lines_in_form_text_are_kept(login, alice, program):
    response = login(alice).post(
        f"/app/programs/{program.pk}/edit/",
        {
            "name": program.name,
            "status": program.status,
            "landing_mode": "landing",
            "landing_text": "First line\r\nSecond\tline",
            "attribution_window_days": 30,
            "attribution_model": program.attribution_model,
            "allowed_source_kinds": ["customer"],
            "velocity_limit_per_hour": program.velocity_limit_per_hour,
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    program.refresh_from_db()
    assert program.landing_text == "First line\r\nSecond\tline"


def test_a_control_character_in_an_uploaded_file_name_is_a_400(login, alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("sources\x00.csv", b"kind,name\nagent,Ann\n", "text/csv")
    response = login(alice).post("/app/sources/import/", {"file": upload})
    assert response.status_code == 400


def _middleware_passes(request):
    """Run the middleware in front of a view that echoes the JSON body it was given."""

    def view(request):
        return JsonResponse({"echo": json.loads(request.body)})

    return ControlCharacterMiddleware(view)(request)


@pytest.mark.parametrize("text", ["plain", "with \\u0000 escaped", "tab\\tand\\nnew line"])
def test_json_bodies_reach_the_view_untouched(text):
    body = f'{{"note": "{text}"}}'
    request = RequestFactory().post("/api/v1/anything", body, content_type="application/json")
    response = _middleware_passes(request)
    assert response.status_code == 200
    assert json.loads(response.content)["echo"] == json.loads(body)


def test_a_form_body_is_still_readable_after_the_check():
    request = RequestFactory().post("/x", {"a": "1", "b": "two\nlines"})
    response = ControlCharacterMiddleware(lambda r: JsonResponse(dict(r.POST.items())))(request)
    assert json.loads(response.content) == {"a": "1", "b": "two\nlines"}


def test_the_api_answers_a_control_character_in_its_json_error_shape(client, db):
    response = client.get("/api/v1/customers", {"email": "a\x00b"})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "code": "control_character",
        "message": "Bad request: the query string contains a control character (such as NUL), "
        "which is never valid here.",
        "param": "query string",
    }
