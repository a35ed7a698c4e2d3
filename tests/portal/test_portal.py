"""/me/<token>: a source's own portal, reachable only with its secret token."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from referrals.models import Referral
from referrals.services import referral_create
from rewards.services import credit_account_for, credit_grant
from tests.factories import ReferralSourceFactory


def url(source, rest=""):
    return f"/me/{source.portal_token}/{rest}"


def test_it_shows_links_qr_referrals_and_credit(client, program, source, link):
    referral_create(
        program=program,
        source=source,
        link=link,
        channel="link",
        friend_email="f@x.io",
        friend_name="Fay",
    )
    account = credit_account_for(organization_id=source.organization_id, source=source)
    credit_grant(
        account=account,
        amount=Decimal("25"),
        expires_at=timezone.now() + timedelta(days=30),
        idempotency_key="g1",
    )
    html = client.get(url(source)).content.decode()
    assert f"http://testserver/r/{link.code}" in html
    assert "Fay" in html and "Lead" in html
    assert "€25.00" in html
    qr = client.get(url(source, f"qr/{link.pk}.svg"))
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml"


def test_it_creates_links_for_programs_open_to_the_source(client, program, source):
    assert not source.links.exists()
    client.get(url(source))
    assert source.links.get().program == program


def test_unknown_or_inactive_tokens_are_404(client, source):
    assert client.get("/me/not-a-token/").status_code == 404
    source.active = False
    source.save()
    assert client.get(url(source)).status_code == 404


def test_it_does_not_serve_another_sources_qr(client, source, acme, program, link):
    other = ReferralSourceFactory(organization=acme, name="Other", kind="customer")
    assert client.get(url(other, f"qr/{link.pk}.svg")).status_code == 404


@pytest.mark.worker
def test_the_source_introduces_a_friend_who_gets_an_email(
    client, program, source, celery_worker, mailoutbox
):
    from tests.helpers import wait_for

    response = client.post(
        url(source, "introduce/"), {"program": program.pk, "name": "Gus", "email": "gus@x.io"}
    )
    assert response.status_code == 302
    referral = Referral.objects.get()
    assert (referral.channel, referral.friend_email) == ("email", "gus@x.io")
    assert referral.events.get().actor_label == "source portal"
    wait_for(lambda: any(m.to == ["gus@x.io"] for m in mailoutbox))


def test_a_bad_introduction_changes_nothing(client, program, source):
    client.post(url(source, "introduce/"), {"program": program.pk, "name": "", "email": "nope"})
    assert not Referral.objects.exists()


def test_a_payout_request_without_balance_is_refused_kindly(client, source):
    response = client.post(url(source, "payout/"), {"key": "abc"}, follow=True)
    assert response.status_code == 200
    assert "Nothing to pay" in response.content.decode()
