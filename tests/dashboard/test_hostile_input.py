"""Hostile text through the forms people type into: script tags, template syntax, formula
cells, right-to-left overrides and 10 KB strings. Never a 500; escaped where shown;
defused in every CSV; too long is a form error, not a crash."""

import csv
import io

import pytest

from accounts.models import ReferralSource
from referrals.models import Referral

HOSTILE = [
    "<script>alert('x')</script>",
    "{{ request.user.password }}{% debug %}",
    '=HYPERLINK("http://evil.example","click")',
    "\u202egnp.exe",
    "Ωmega \U0001f600 ' \" & ; --",
]
LONG = "x" * 10_000


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("text", HOSTILE)
def test_a_source_named_with_hostile_text_is_stored_escaped_and_defused(login, bob, text):
    client = login(bob)
    response = client.post(
        "/app/sources/new/",
        {"kind": "agent", "name": text, "company": text, "active": "on"},
    )
    assert response.status_code == 302
    source = ReferralSource.objects.get(name=text)
    for page in ("/app/sources/", f"/app/sources/{source.pk}/"):
        html = client.get(page).content.decode()
        assert "<script>alert('x')</script>" not in html
        assert "sql_queries" not in html  # template syntax is shown as text, never run
    exported = csv_rows(client.get("/app/sources/export.csv"))
    cells = [cell for row in exported[1:] for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


@pytest.mark.parametrize("field", ["name", "company"])
def test_ten_kilobytes_in_a_field_is_a_form_error(login, bob, field):
    data = {"kind": "agent", "name": "Ok", "company": "", "active": "on", field: LONG}
    response = login(bob).post("/app/sources/new/", data)
    assert response.status_code == 400
    assert "Ensure this value has at most" in response.content.decode()
    assert not ReferralSource.objects.exists()


@pytest.mark.parametrize("text", HOSTILE + [LONG])
def test_a_friend_on_the_landing_page_cannot_break_it(client, link, text):
    response = client.post(f"/r/{link.code}", {"name": text, "email": "f@example.com"})
    assert response.status_code in (200, 400)
    html = response.content.decode()
    assert "<script>alert('x')</script>" not in html
    if response.status_code == 200:
        assert Referral.objects.get().friend_name == text


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_an_event_form_is_never_a_500(login, bob, text):
    response = login(bob).post(
        "/app/events/new/",
        {
            "kind": "purchase",
            "external_id": text,
            "amount": "10",
            "occurred_at": "2026-01-01 10:00",
            "email": "f@example.com",
            "name": text,
            "code": text,
        },
    )
    assert response.status_code in (302, 400)
    assert "<script>alert('x')</script>" not in response.content.decode()


@pytest.mark.parametrize("text", HOSTILE + [LONG])
def test_hostile_text_in_a_csv_import_is_a_preview_never_a_500(login, bob, text):
    from django.core.files.uploadedfile import SimpleUploadedFile

    content = f'name,email,kind\n"{text.replace(chr(34), chr(34) * 2)}",a@example.com,agent\n'
    upload = SimpleUploadedFile("s.csv", content.encode(), content_type="text/csv")
    client = login(bob)
    response = client.post("/app/sources/import/", {"file": upload}, follow=True)
    assert response.status_code in (200, 400)
    assert "<script>alert('x')</script>" not in response.content.decode()


def _forms(w):
    """Every form a person types into, with the text fields filled by ``text``."""
    return [
        (
            "/app/programs/new/",
            lambda t: {
                "name": t[:200],
                "landing_headline": t,
                "landing_text": t,
                "friend_offer": t,
                "status": "active",
                "attribution_window_days": 30,
            },
        ),
        (f"/app/programs/{w['program'].pk}/edit/", lambda t: {"name": t[:200], "landing_text": t}),
        (f"/app/programs/{w['program'].pk}/rules/new/", lambda t: {"name": t, "amount": "5"}),
        (
            "/app/referrals/new/",
            lambda t: {
                "program": w["program"].pk,
                "source": w["source"].pk,
                "channel": "phone",
                "friend_name": t,
                "friend_phone": t[:40],
            },
        ),
        (
            f"/app/sources/{w['source'].pk}/contributions/",
            lambda t: {"occurred_on": "2026-01-02", "note": t, "value": ""},
        ),
        (
            f"/app/sources/{w['source'].pk}/edit/",
            lambda t: {"kind": "agent", "name": t[:200], "company": t, "active": "on"},
        ),
        (
            "/app/rewards/grant/",
            lambda t: {
                "source": w["source"].pk,
                "amount": "5",
                "reward_kind": "cash",
                "note": t,
                "credit_lifetime_days": 30,
            },
        ),
        (f"/app/referrals/{w['referral'].pk}/reject/", lambda t: {"reason": t}),
        ("/app/settings/members/", lambda t: {"email": t, "role": "manager"}),
        (
            f"/me/{w['source'].portal_token}/introduce/",
            lambda t: {"name": t, "email": "friend@example.com", "program": w["program"].pk},
        ),
    ]


@pytest.mark.parametrize("text", HOSTILE + [LONG])
def test_hostile_text_through_every_form_is_never_a_500_and_never_raw(
    login, alice, program, source, link, text
):
    from referrals.services import referral_create

    world = {
        "program": program,
        "source": source,
        "referral": referral_create(
            program=program, source=source, link=link, channel="link", friend_email="z@x.io"
        ),
    }
    client = login(alice)
    for url, data in _forms(world):
        response = client.post(url, data(text), follow=True)
        assert response.status_code in (200, 400, 403, 429), (url, response.status_code)
        assert "<script>alert('x')</script>" not in response.content.decode(), url
    for page in (
        "/app/programs/",
        f"/app/programs/{program.pk}/",
        "/app/referrals/",
        f"/app/sources/{source.pk}/",
        "/app/rewards/",
        "/app/referrals/review/",
    ):
        html = client.get(page).content.decode()
        assert "<script>alert('x')</script>" not in html, page
