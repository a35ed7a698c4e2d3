"""/r/<code>: the public referral link."""

import pytest
from django.http import HttpRequest

from referrals.models import Click, Referral
from referrals.services import cookie_name, link_set_vanity_code, program_update
from tests.factories import ReferralSourceFactory


def test_it_records_the_click_and_shows_the_offer(client, link):
    response = client.get(
        f"/r/{link.code}",
        HTTP_USER_AGENT="UA/1",
        HTTP_REFERER="https://mail.example/",
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 200
    assert "€50 welcome bonus" in response.content.decode()
    click = Click.objects.get(link=link)
    assert click.organization_id == link.organization_id
    assert click.user_agent == "UA/1" and click.referer == "https://mail.example/"
    assert click.ip_hash and "10.1.2.3" not in click.ip_hash  # hashed, never stored raw


def test_it_sets_the_attribution_cookie_for_the_window(client, link, program):
    response = client.get(f"/r/{link.code}")
    cookie = response.cookies[cookie_name(program.pk)]
    assert cookie["max-age"] == program.attribution_window_days * 86400
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    request = HttpRequest()
    request.COOKIES[cookie.key] = cookie.value
    assert request.get_signed_cookie(cookie.key) == link.code


def test_it_redirects_to_the_destination_with_the_code(client, link, program):
    program_update(
        program=program, landing_mode="redirect", destination_url="https://bank.example/open?x=1"
    )
    response = client.get(f"/r/{link.code}")
    assert response.status_code == 302
    assert response["Location"] == f"https://bank.example/open?x=1&ref={link.code}"
    assert Click.objects.filter(link=link).count() == 1


# A NUL in the code is refused before the view: see tests/test_control_characters.py.
@pytest.mark.parametrize("code", ["nope1234", "x" * 41, "ABC"])
def test_unknown_codes_get_a_friendly_404(client, db, code):
    response = client.get(f"/r/{code}")
    assert response.status_code == 404
    assert "This link is not active" in response.content.decode()


def test_a_paused_program_or_inactive_source_is_a_404(client, link, program, source):
    program_update(program=program, status="paused")
    assert client.get(f"/r/{link.code}").status_code == 404
    program_update(program=program, status="active")
    source.active = False
    source.save()
    assert client.get(f"/r/{link.code}").status_code == 404
    assert not Click.objects.exists()


def test_the_friend_leaves_a_lead(client, link):
    response = client.post(f"/r/{link.code}", {"name": "Fay Friend", "email": "FAY@example.com"})
    assert response.status_code == 200
    referral = Referral.objects.get()
    assert (referral.status, referral.channel, referral.friend_email) == (
        "lead",
        "link",
        "fay@example.com",
    )
    assert referral.link == link and referral.events.get().to_status == "lead"


def test_a_bad_lead_is_a_form_error_and_changes_nothing(client, link):
    response = client.post(f"/r/{link.code}", {"name": "", "email": "not-an-email"})
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert not Referral.objects.exists()


def test_a_vanity_code_opens_the_link(client, link):
    link_set_vanity_code(link=link, vanity_code="Sam-Smit")
    assert link.vanity_code == "sam-smit"
    assert client.get("/r/sam-smit").status_code == 200
    assert client.get(f"/r/{link.code}").status_code == 200


@pytest.mark.parametrize("bad", ["a", "has space", "émile", "-lead", "x" * 41])
def test_vanity_codes_are_validated(link, bad):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        link_set_vanity_code(link=link, vanity_code=bad)
    assert "vanity_code" in error.value.message_dict


def test_vanity_codes_are_unique_across_all_codes(link, program, acme):
    from django.core.exceptions import ValidationError

    from referrals.services import link_get_or_create

    other = link_get_or_create(
        program=program,
        source=ReferralSourceFactory(organization=acme, name="Olga", kind="customer"),
    )
    link_set_vanity_code(link=link, vanity_code="best-bank")
    with pytest.raises(ValidationError, match="already taken"):
        link_set_vanity_code(link=other, vanity_code="best-bank")
    with pytest.raises(ValidationError, match="already taken"):
        link_set_vanity_code(link=other, vanity_code=link.code)


def test_staff_set_a_vanity_code_from_the_program_page(login, bob, link):
    client = login(bob)
    client.post(f"/app/links/{link.pk}/vanity/", {"vanity_code": "bad code"})
    link.refresh_from_db()
    assert link.vanity_code is None
    client.post(f"/app/links/{link.pk}/vanity/", {"vanity_code": "sam"})
    link.refresh_from_db()
    assert link.vanity_code == "sam"


@pytest.mark.parametrize(
    "user_agent",
    [
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Mozilla/5.0 (compatible; Twitterbot/1.0)",
        "WhatsApp/2.23.20.0 A",
        "TelegramBot (like TwitterBot)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    ],
)
def test_a_link_preview_or_crawler_sees_the_page_but_is_no_click(client, link, user_agent):
    """Sharing a link in a chat makes the app fetch it for its preview (the page's Open
    Graph card): one 'click' per share and per chat, before any friend clicked, inflating
    the clicks and deflating every conversion rate the source and staff are shown."""
    response = client.get(f"/r/{link.code}", HTTP_USER_AGENT=user_agent)
    assert response.status_code == 200
    assert not Click.objects.filter(link=link).exists()


def test_a_head_request_is_no_click(client, link):
    assert client.head(f"/r/{link.code}", HTTP_USER_AGENT="UA/1").status_code == 200
    assert not Click.objects.filter(link=link).exists()


def test_a_phone_whose_name_ends_in_bot_still_clicks(client, link):
    ua = "Mozilla/5.0 (Linux; Android 10; CUBOT X30 Build/QP1A) Chrome/120.0 Mobile Safari/537.36"
    client.get(f"/r/{link.code}", HTTP_USER_AGENT=ua)
    assert Click.objects.filter(link=link).count() == 1


@pytest.mark.parametrize("method", ["options", "put", "delete", "patch"])
def test_other_methods_are_no_click_and_not_allowed(client, link, method):
    """A CORS preflight, a scanner's PUT or DELETE counted as a click like a person's GET:
    clicks inflated, conversion rates deflated. Only GET is a click; the link answers GET,
    HEAD and the landing page's form (POST), anything else is a 405 naming those."""
    response = getattr(client, method)(f"/r/{link.code}", HTTP_USER_AGENT="UA/1")
    assert response.status_code == 405
    assert {m.strip() for m in response["Allow"].split(",")} == {"GET", "HEAD", "POST"}
    assert not Click.objects.filter(link=link).exists()


def test_only_a_get_is_a_click():
    from referrals.clicks import is_click

    assert is_click("GET", "UA/1")
    for method in ("HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "POST", "TRACE"):
        assert not is_click(method, "UA/1")
