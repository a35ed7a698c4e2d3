"""The friend's landing and thank-you pages: the program's brand, the share preview, the
consent line, the friend's code and the email that carries it (once per lead)."""

import re

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from core.models import OutboxMessage
from referrals import linkcache
from referrals.models import Referral
from referrals.services import program_update
from referrals.tasks import send_friend_welcome_email


@pytest.fixture(autouse=True)
def _fresh_links():
    linkcache.forget_local()
    yield
    linkcache.forget_local()


def landing(client, link):
    return client.get(f"/r/{link.code}")


def submit(client, link, **data):
    return client.post(
        f"/r/{link.code}", {"name": "Fay Friend", "email": "fay@example.com", **data}
    )


def test_the_landing_page_carries_the_programs_logo_colour_and_share_preview(
    client, settings, program, link
):
    settings.SITE_URL = "https://refer.example"
    program_update(
        program=program, logo_url="https://cdn.acme.example/logo.png", brand_color="#ff6600"
    )
    response = landing(client, link)
    html = response.content.decode()
    assert 'src="https://cdn.acme.example/logo.png"' in html
    assert f'href="/r-theme/{program.pk}.css?v=ff6600"' in html
    assert f'<link rel="canonical" href="https://refer.example/r/{link.code}">' in html
    assert '<meta property="og:title" content="Bank with us">' in html
    assert '<meta property="og:description" content="€50 welcome bonus">' in html
    assert '<meta property="og:image" content="https://cdn.acme.example/logo.png">' in html
    assert '<meta name="twitter:card" content="summary">' in html
    # The logo's origin is allowed for this page's images, and nothing else is loosened.
    csp = response["Content-Security-Policy"]
    assert re.search(r"img-src 'self' https://cdn\.acme\.example", csp)
    assert "style-src 'self'" in csp and "unsafe-inline" not in csp


def test_without_a_logo_the_preview_shows_the_default_image_and_csp_stays_self(
    client, settings, program, link
):
    settings.SITE_URL = "https://refer.example"
    response = landing(client, link)
    html = response.content.decode()
    assert (
        '<meta property="og:image" content="https://refer.example/static/img/share-default.png">'
        in html
    )
    assert "r-theme" not in html
    assert "img-src 'self';" in response["Content-Security-Policy"] + ";"


def test_in_development_links_use_the_requests_host(client, settings, program, link):
    settings.DEBUG = True
    html = client.get(f"/r/{link.code}", HTTP_HOST="localhost:8105").content.decode()
    assert f'href="http://localhost:8105/r/{link.code}"' in html


def test_the_theme_is_the_programs_colour_with_readable_text(client, program):
    program_update(program=program, brand_color="#ffee00")
    css = client.get(f"/r-theme/{program.pk}.css")
    assert css["Content-Type"].startswith("text/css")
    assert css.content.decode() == ".landing { --accent: #ffee00; --accent-ink: #0f172a; }\n"
    program_update(program=program, brand_color="#1e3a8a")
    assert "--accent-ink: #ffffff" in client.get(f"/r-theme/{program.pk}.css").content.decode()
    assert client.get("/r-theme/999999.css").status_code == 404


def test_a_changed_colour_is_on_the_cached_landing_page_at_once(client, program, link):
    landing(client, link)  # rendered and cached in this process
    program_update(program=program, brand_color="#123456")
    assert "?v=123456" in landing(client, link).content.decode()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("brand_color", "red"),
        ("brand_color", "#12345"),
        ("brand_color", "#12345g"),
        ("logo_url", "http://acme.example/logo.png"),
        ("logo_url", "javascript:alert(1)"),
        ("privacy_url", "not a url"),
    ],
)
def test_a_bad_brand_value_is_a_field_error_and_changes_nothing(program, field, value):
    with pytest.raises(ValidationError) as caught:
        program_update(program=program, **{field: value})
    assert field in caught.value.message_dict
    program.refresh_from_db()
    assert getattr(program, field) == ""


def test_consent_needs_a_privacy_notice(program):
    with pytest.raises(ValidationError) as caught:
        program_update(program=program, consent_required=True)
    assert "privacy_url" in caught.value.message_dict


def test_the_consent_line_links_the_privacy_notice(client, program, link):
    program_update(program=program, privacy_url="https://acme.example/privacy")
    html = landing(client, link).content.decode()
    assert 'href="https://acme.example/privacy"' in html
    assert 'name="consent"' not in html


def test_a_required_consent_must_be_ticked(client, program, link):
    program_update(
        program=program, privacy_url="https://acme.example/privacy", consent_required=True
    )
    assert 'name="consent"' in landing(client, link).content.decode()
    refused = submit(client, link)
    assert refused.status_code == 400
    assert "Tick the box to agree" in refused.content.decode()
    assert not Referral.objects.exists()
    assert submit(client, link, consent="on").status_code == 200
    assert Referral.objects.count() == 1


def test_the_thank_you_page_shows_the_offer_the_code_and_what_happens_next(client, program, link):
    html = submit(client, link).content.decode()
    assert "Thank you, Fay Friend" in html
    assert f'data-testid="friend-code">{link.public_code}<' in html
    assert "€50 welcome bonus" in html
    assert "We emailed your offer and code to <strong>fay@example.com</strong>" in html


def test_the_friend_is_emailed_once_per_lead(
    client, program, link, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://refer.example"
    with django_capture_on_commit_callbacks(execute=False):
        submit(client, link)
        submit(client, link)  # the back button and the form again: the same lead
    referral = Referral.objects.get()
    queued = OutboxMessage.objects.filter(task="referrals.send_friend_welcome_email")
    assert [m.args for m in queued] == [[referral.pk, "https://refer.example"]]
    for _ in range(2):  # delivered twice by the broker: sent once
        send_friend_welcome_email.apply(args=queued[0].args, task_id="outbox-9")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["fay@example.com"]
    assert message.subject == "Your offer from Acme Bank"
    assert message.body.startswith("Hello Fay Friend,")
    assert f"Your code: {link.public_code}" in message.body
    assert f"https://refer.example/r/{link.public_code}" in message.body


def test_the_programs_own_subject_and_intro_are_used(client, program, link):
    program_update(
        program=program,
        friend_email_subject="Welcome aboard",
        friend_email_intro="Sam says you will love our savings account.",
    )
    submit(client, link)
    referral = Referral.objects.get()
    send_friend_welcome_email.apply(args=[referral.pk, "https://x.example"], task_id="o-1")
    assert mail.outbox[0].subject == "Welcome aboard"
    assert "Sam says you will love our savings account." in mail.outbox[0].body


def test_the_link_not_found_page_fits_a_phone(client, db):
    response = client.get("/r/nosuchcode")
    assert response.status_code == 404
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in (
        response.content.decode()
    )


def test_the_landing_page_and_the_form_are_a_bounded_number_of_queries(
    client, program, link, django_assert_max_num_queries, monkeypatch
):
    # The link cache reads the links' version once a second (LINK_VERSION_CHECK_SECONDS):
    # one query more whenever the first visit took a second, as on a loaded machine. Its
    # clock stands still here, so the count is the page's own.
    now = linkcache._clock()
    monkeypatch.setattr(linkcache, "_clock", lambda: now)
    with django_assert_max_num_queries(15):  # first visit: the link read and the page rendered
        landing(client, link)
    with django_assert_max_num_queries(7):  # cached page; 7 measured (not yet looked into)
        landing(client, link)
    with django_assert_max_num_queries(25):
        submit(client, link)


def test_an_email_longer_than_a_referral_keeps_is_a_form_error(client, program, link):
    # 308 characters: a valid address to the form's EmailField (up to 320), but a referral
    # keeps 254 (what an address can be in SMTP).
    email = "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com"
    response = submit(client, link, email=email)
    assert response.status_code == 400
    assert "at most 254 characters" in response.content.decode()
    assert not Referral.objects.exists()


def test_the_thank_you_page_never_shows_the_name_an_earlier_visitor_gave_for_an_email(
    client, program, link
):
    """The same email on the same link within a day is the same lead: the page answered with
    the name stored for it, so anyone with a (public) link could type an address and read
    the name of whoever left it there, and learn that they had."""
    submit(client, link, name="Victoria Secret-Name")
    html = client.post(f"/r/{link.code}", {"name": "Probe", "email": "fay@example.com"})
    page = html.content.decode()
    assert "Victoria Secret-Name" not in page
    assert "Thank you, Probe" in page
