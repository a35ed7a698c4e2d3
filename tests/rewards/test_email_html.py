"""
Every email goes out as plain text with an HTML alternative; every email to a source
links its portal; the friend is greeted by the name they typed; a program's own subject
and opening replace the standard ones; links are on the request's host in development and
on SITE_URL in production.
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.test import RequestFactory
from django.utils import timezone

from accounts.services import invitation_create
from accounts.tasks import send_portal_link
from core.site import base_url
from referrals.services import program_update, referral_create
from referrals.tasks import send_introduction_email
from rewards.models import Payout
from rewards.notifications import send_credit_expiring, send_payout_sent, send_reward_earned
from rewards.services import (
    credit_account_for,
    credit_grant,
    payout_mark_paid,
    payout_process,
    payout_request,
    reward_grant_manual,
)
from tests.rewards.conftest import convert

TEMPLATES = Path(settings.BASE_DIR) / "templates" / "emails"


def html_of(message) -> str:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert html.lstrip().startswith("<!DOCTYPE html>")
    return html


def portal(source) -> str:
    return f"{settings.SITE_URL}/me/{source.portal_token}/"


def test_every_email_has_an_html_template_beside_its_text():
    names = [p.name.removesuffix("_subject.txt") for p in TEMPLATES.glob("*_subject.txt")]
    assert len(names) >= 8
    for name in names:
        assert (TEMPLATES / f"{name}.txt").exists(), name
        html = (TEMPLATES / f"{name}.html").read_text()
        assert '{% extends "emails/base.html" %}' in html, name


# Emails to a source: each links its portal, in the text and in the HTML ----------------


def test_the_reward_email_to_a_source_links_its_portal(acme, alice, source):
    reward = reward_grant_manual(
        organization=acme, source=source, amount=Decimal("25"), note="Thanks", actor=alice
    )
    assert send_reward_earned(reward_id=reward.pk)
    [message] = mail.outbox
    assert portal(source) in message.body
    html = html_of(message)
    assert f'href="{portal(source)}"' in html and "€25.00" in html


def test_the_payout_and_gift_card_emails_link_the_portal(acme, alice, bob, source):
    for kind in ("cash", "gift_card"):
        reward_grant_manual(
            organization=acme,
            source=source,
            amount=Decimal("40"),
            note="x",
            actor=alice,
            reward_kind=kind,
        )
        payout = payout_request(source=source, method="gift_card" if kind == "gift_card" else "")
        payout_process(payout_id=payout.pk)
        if payout.method == Payout.Method.BANK_TRANSFER:
            payout_mark_paid(payout=payout, actor=bob)
            send_payout_sent(payout_id=payout.pk)  # the gift card's own email is its notice
    subjects = sorted(m.subject for m in mail.outbox)
    assert subjects == ["Acme Bank paid you €40.00", "Your €40.00 gift card from Acme Bank"]
    for message in mail.outbox:
        assert portal(source) in message.body
        assert f'href="{portal(source)}"' in html_of(message)


def test_the_credit_expiring_email_to_a_source_links_its_portal(source):
    account = credit_account_for(organization_id=source.organization_id, source=source)
    lot = credit_grant(
        account=account,
        amount=Decimal("12"),
        expires_at=timezone.now() + timedelta(days=7),
        idempotency_key="g",
    )
    send_credit_expiring(account=account, lots=[lot])
    [message] = mail.outbox
    assert message.body.startswith("Hello Sam Source,")
    assert f'href="{portal(source)}"' in html_of(message)


def test_the_portal_link_email_has_a_button_to_the_portal(source):
    send_portal_link.apply(args=[source.pk, source.portal_token], task_id="t-1")
    [message] = mail.outbox
    assert f'href="{portal(source)}"' in html_of(message)
    assert "Open my referral page" in html_of(message)


def test_the_programs_own_subject_and_opening_go_to_sources(make_rule, referral, program):
    program_update(
        program=program,
        source_email_subject="A thank-you from Acme",
        source_email_intro="Fran opened an account thanks to you.",
    )
    make_rule(amount=Decimal("25"))
    [reward] = convert(referral, "order-1")
    send_reward_earned(reward_id=reward.pk)
    [message] = [m for m in mail.outbox if m.to == ["sam@example.com"]]
    assert message.subject == "A thank-you from Acme"
    assert "Fran opened an account thanks to you." in message.body
    assert "Fran opened an account thanks to you." in html_of(message)


# Emails to a friend -------------------------------------------------------------------


def test_the_friend_is_greeted_by_the_name_they_typed(program, source):
    program_update(
        program=program,
        friend_email_subject="Sam thinks you will like Acme",
        friend_email_intro="A word from us & Sam.",
    )
    referral = referral_create(
        program=program,
        source=source,
        channel="email",
        friend_email="gus@example.com",
        friend_name="Gus O'Hara",
    )
    send_introduction_email.apply(args=[referral.pk], task_id="i-1")
    [message] = mail.outbox
    assert message.subject == "Sam thinks you will like Acme"
    assert message.body.startswith("Hello Gus O'Hara,")
    assert "A word from us & Sam." in message.body  # plain text: nothing escaped
    html = html_of(message)
    assert "Hello Gus O&#x27;Hara," in html and "A word from us &amp; Sam." in html


def test_a_friends_reward_email_greets_them_by_name(make_rule, referral):
    make_rule(beneficiary="friend", reward_kind="coupon", amount=Decimal("15"))
    [reward] = convert(referral, "order-1")
    send_reward_earned(reward_id=reward.pk)
    [message] = [m for m in mail.outbox if m.to == ["fran@example.com"]]
    assert message.body.startswith("Hello Fran Friend,")
    assert "/me/" not in message.body  # a friend has no portal
    assert "Hello Fran Friend," in html_of(message)


def test_the_invitation_has_an_html_part(acme, alice):
    invitation_create(organization=acme, email="new@example.com", role="manager", invited_by=alice)
    [message] = mail.outbox
    assert "Accept the invitation" in html_of(message)


# Where links point ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "debug, expected", [(True, "http://127.0.0.1:8123"), (False, "https://refer.example")]
)
def test_links_use_the_requests_host_only_in_development(settings, debug, expected):
    settings.DEBUG = debug
    settings.SITE_URL = "https://refer.example"
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    request = RequestFactory().get("/", HTTP_HOST="127.0.0.1:8123")
    assert base_url(request) == expected


def test_a_portal_link_sent_in_development_points_at_the_dev_server(settings, source):
    settings.SITE_URL = "http://localhost:8000"
    send_portal_link.apply(
        args=[source.pk, source.portal_token, "http://127.0.0.1:8123"], task_id="t-2"
    )
    [message] = mail.outbox
    assert f"http://127.0.0.1:8123/me/{source.portal_token}/" in message.body
    assert "localhost:8000" not in html_of(message)
