"""
The emails people get: rendered from templates/emails/, with amounts in the organization's
currency and dates in its time zone, each sent once however often its task runs.
"""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core import mail

from accounts.models import ReferralSource
from rewards.models import Payout, Reward
from rewards.notifications import render_email, send_payout_sent, send_reward_earned
from rewards.services import (
    payout_mark_paid,
    payout_process,
    payout_request,
    reward_approve,
    reward_grant_manual,
)
from tests.factories import ReferralSourceFactory
from tests.rewards.conftest import convert, refund


def test_the_reward_earned_email_shows_the_amount_and_the_expiry_in_the_orgs_zone(
    make_rule, referral
):
    make_rule(amount=Decimal("25"), credit_lifetime_days=30)
    [reward] = convert(referral, "order-1")
    lot = reward.lot
    lot.expires_at = datetime(2031, 6, 1, 22, 15, tzinfo=ZoneInfo("UTC"))
    lot.save()
    assert send_reward_earned(reward_id=reward.pk)
    [email] = [m for m in mail.outbox if m.to == ["sam@example.com"]]
    assert email.subject == "You have €25.00 of credit at Acme Bank"
    assert "We added €25.00 of credit to your account." in email.body
    assert "Use it before 2 June 2031, 00:15 (Europe/Amsterdam)." in email.body


def test_the_reward_earned_email_gives_what_is_left_after_a_refund_in_the_hold(make_rule, referral):
    make_rule(amount=Decimal("25"), hold_days=14)
    [reward] = convert(referral, "order-1", amount="100.00")
    refund(referral, "refund-1", of="order-1", amount="40.00")  # takes back 40%: 10.00
    reward = reward_approve(reward=reward, actor=None)
    assert reward.lot.amount == Decimal("15.00")
    assert send_reward_earned(reward_id=reward.pk)
    [email] = [m for m in mail.outbox if m.to == ["sam@example.com"]]
    assert email.subject == "You have €15.00 of credit at Acme Bank"
    assert "We added €15.00 of credit to your account." in email.body
    html = email.alternatives[0][0]
    assert "€15.00" in html and "€25.00" not in html


def test_it_is_sent_once(make_rule, referral):
    make_rule()
    [reward] = convert(referral, "order-1")
    assert send_reward_earned(reward_id=reward.pk)
    assert not send_reward_earned(reward_id=reward.pk)
    assert len([m for m in mail.outbox if m.to == ["sam@example.com"]]) == 1


def test_nothing_is_sent_for_a_pending_or_void_reward(make_rule, referral):
    make_rule(hold_days=10)
    [reward] = convert(referral, "order-1")
    assert not send_reward_earned(reward_id=reward.pk)
    Reward.objects.filter(pk=reward.pk).update(status="void")
    assert not send_reward_earned(reward_id=reward.pk)


def test_a_coupon_email_gives_the_code(make_rule, referral):
    make_rule(beneficiary="friend", reward_kind="coupon", amount=Decimal("15"))
    [reward] = convert(referral, "order-1")
    send_reward_earned(reward_id=reward.pk)
    [email] = [m for m in mail.outbox if "coupon" in m.subject]
    assert email.to == ["fran@example.com"]
    assert f"Your code: {reward.coupon_code}" in email.body


def test_a_usd_organization_is_shown_in_dollars(globex, eve):
    source = ReferralSourceFactory(
        organization=globex, name="Gus", kind="partner", email="gus@example.com"
    )
    reward = reward_grant_manual(
        organization=globex,
        source=source,
        amount=Decimal("25"),
        note="Conference intro",
        actor=eve,
        reward_kind="cash",
    )
    send_reward_earned(reward_id=reward.pk)
    [email] = mail.outbox
    assert email.subject == "You earned $25.00 from Globex"
    assert "Thank you from Globex: Conference intro" in email.body


def test_the_payout_sent_email_is_sent_once_when_paid(acme, alice, bob, source):
    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("80"),
        note="x",
        actor=alice,
        reward_kind="cash",
    )
    payout = payout_request(source=source, method="bank_transfer")
    assert not send_payout_sent(payout_id=payout.pk)  # not paid yet
    payout_process(payout_id=payout.pk)
    payout_mark_paid(payout=payout, actor=bob)
    assert send_payout_sent(payout_id=payout.pk)
    assert not send_payout_sent(payout_id=payout.pk)
    [email] = [m for m in mail.outbox if "paid you" in m.subject]
    assert email.subject == "Acme Bank paid you €80.00"
    assert "by bank transfer on" in email.body
    assert Payout.objects.get(pk=payout.pk).notified_at is not None


def test_emails_are_plain_text_without_html_escaping(acme):
    acme.name = "Smith & Sons"
    subject, body = render_email(
        "payout_sent",
        organization=acme,
        payout=Payout(
            amount=Decimal("5"),
            currency="EUR",
            method="credit",
            source=ReferralSource(name="O'Neil"),
        ),
    )
    assert subject == "Smith & Sons paid you €5.00"
    assert "Hello O'Neil," in body
