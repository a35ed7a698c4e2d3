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
