"""/me/<token>: a source's own portal, reachable only with its secret token."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from referrals.models import Referral
from referrals.services import referral_create
from rewards.models import CreditLot
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
    assert f"http://localhost:8000/r/{link.code}" in html  # on SITE_URL
    assert "Fay" in html and "Lead" in html
    assert "€25.00" in html
    qr = client.get(url(source, f"qr/{link.pk}.svg"))
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml"


def test_the_share_links_and_qr_codes_are_on_site_url_not_the_requests_host(
    client, settings, source, link
):
    """Behind a proxy the Host is the proxy's upstream name (or whatever a client sent):
    the portal handed sources share links and QR codes nobody else could open."""
    import segno

    settings.SITE_URL = "https://refer.acme.example"
    html = client.get(url(source), HTTP_HOST="app-internal:8000").content.decode()
    assert f"https://refer.acme.example/r/{link.code}" in html
    assert f"app-internal:8000/r/{link.code}" not in html
    qr = client.get(url(source, f"qr/{link.pk}.svg"), HTTP_HOST="app-internal:8000")
    expected = io.BytesIO()
    segno.make(f"https://refer.acme.example/r/{link.code}", error="m").save(
        expected, kind="svg", scale=8, border=2, xmldecl=False
    )
    assert qr.content == expected.getvalue()


def test_credit_past_its_date_is_not_in_the_balance_before_the_expiry_task_runs(client, source):
    """The expiry task runs hourly: in between, a lot past its date can no longer be spent
    (credit_redeem takes open lots only) and is not listed, so the balance leaves it out too."""
    account = credit_account_for(organization_id=source.organization_id, source=source)
    for key, days in (("kept", 30), ("past", 1)):
        credit_grant(
            account=account,
            amount=Decimal("25") if key == "kept" else Decimal("10"),
            expires_at=timezone.now() + timedelta(days=days),
            idempotency_key=key,
        )
    CreditLot.objects.filter(amount=Decimal("10")).update(
        expires_at=timezone.now() - timedelta(minutes=5)
    )
    html = client.get(url(source)).content.decode()
    assert '<strong data-testid="portal-balance">€25.00</strong>' in html


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


def test_an_introduction_with_an_overlong_email_is_refused_kindly(client, program, source):
    email = "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com"  # 308 characters
    response = client.post(
        url(source, "introduce/"),
        {"program": program.pk, "name": "Gus", "email": email},
        follow=True,
    )
    assert response.status_code == 200
    assert "at most 254 characters" in response.content.decode()
    assert not Referral.objects.exists()


def test_a_payout_request_without_balance_is_refused_kindly(client, source):
    response = client.post(url(source, "payout/"), {"key": "abc"}, follow=True)
    assert response.status_code == 200
    assert "Nothing to pay" in response.content.decode()


# What the source earns, its payout details and payouts -------------------------------------


def owe(source, amount: str):
    from rewards.services import reward_grant_manual

    return reward_grant_manual(
        organization=source.organization,
        source=source,
        amount=Decimal(amount),
        note="Test",
        actor=None,
        reward_kind="cash",
    )


def save_bank(client, source, **fields):
    data = {"method": "bank_transfer", "account_holder": "Sam Source", "iban": "NL91ABNA0417164300"}
    return client.post(url(source, "payout-details/"), {**data, **fields})


def test_it_says_what_the_source_earns_in_words(client, program, source, fixed_rule):
    html = client.get(url(source)).content.decode()
    assert "You earn €25.00 of credit for your friend&#x27;s first purchase." in html


def test_the_source_keeps_its_bank_details(client, source):
    from rewards.models import PayoutDetails

    response = save_bank(client, source, iban="nl91 abna 0417 1643 00")
    assert response.status_code == 302
    details = PayoutDetails.objects.get(source=source)
    assert (details.iban, details.organization_id) == ("NL91ABNA0417164300", source.organization_id)
    assert "NL•• •••• 4300" in client.get(url(source)).content.decode()


def test_a_bad_iban_is_a_field_error_and_changes_nothing(client, source):
    from rewards.models import PayoutDetails

    response = save_bank(client, source, iban="NL91ABNA0417164301")
    assert response.status_code == 400
    assert "check digits do not match" in response.content.decode()
    assert not PayoutDetails.objects.exists()


def test_a_source_is_paid_the_amount_it_chose_once_however_often_it_submits(client, source):
    from rewards.models import Payout

    owe(source, "80.00")
    save_bank(client, source)
    for _ in range(2):  # a double click sends the same form key twice
        response = client.post(url(source, "payout/"), {"amount": "30.00", "key": "k1"})
        assert response.status_code == 302
    payout = Payout.objects.get()
    assert (payout.amount, payout.method, payout.iban) == (
        Decimal("30.00"),
        "bank_transfer",
        "NL91ABNA0417164300",
    )
    html = client.get(url(source)).content.decode()
    assert '<span class="value" data-testid="portal-payout-balance">€50.00</span>' in html


def test_more_than_is_payable_is_refused_kindly(client, source):
    from rewards.models import Payout

    owe(source, "20.00")
    save_bank(client, source)
    response = client.post(url(source, "payout/"), {"amount": "20.01", "key": "k"}, follow=True)
    assert "At most €20.00 can be paid out now." in response.content.decode()
    assert not Payout.objects.exists()


@pytest.mark.parametrize("amount", ["1e27", "1E+30", "-1e99"])
def test_an_amount_in_exponent_form_is_refused_kindly(client, source, amount):
    from rewards.models import Payout

    owe(source, "20.00")
    save_bank(client, source)
    response = client.post(url(source, "payout/"), {"amount": amount, "key": "k"}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "At most €20.00 can be paid out now." in html or "more than zero" in html
    assert not Payout.objects.exists()


def test_another_sources_form_key_does_not_return_its_payout(client, acme, source):
    from rewards.models import Payout

    other = ReferralSourceFactory(organization=acme, name="Other", kind="customer")
    for who in (source, other):
        owe(who, "10.00")
        save_bank(client, who)
        client.post(url(who, "payout/"), {"amount": "10.00", "key": "same"})
    assert Payout.objects.filter(source=other).count() == 1
    assert Payout.objects.filter(source=source).count() == 1


def test_referrals_are_paged_with_a_bounded_number_of_queries(
    client, program, source, django_assert_max_num_queries
):
    for i in range(23):
        referral_create(
            program=program,
            source=source,
            channel="email",
            friend_email=f"f{i}@x.io",
            friend_name=f"Friend {i:02d}",
        )
    client.get(url(source))  # creates the link
    with django_assert_max_num_queries(30):
        first = client.get(url(source)).content.decode()
    assert "Friend 22" in first and "Friend 12" not in first and "Page 1 of 3" in first
    last = client.get(url(source) + "?referrals=3").content.decode()
    assert "Friend 00" in last and "Friend 03" not in last


def test_the_same_introduction_sent_twice_is_one_lead(client, program, source):
    """The portal's form sent twice (a double click, the back button): one referral, not a
    second one held for review as a duplicate friend."""
    for _ in range(2):
        response = client.post(
            url(source, "introduce/"), {"program": program.pk, "name": "Gus", "email": "gus@x.io"}
        )
        assert response.status_code == 302
    referral = Referral.objects.get()
    assert (referral.friend_email, referral.flagged) == ("gus@x.io", False)


def test_a_source_introducing_several_friends_from_its_portal_is_not_held(client, program, source):
    """The portal is the source's own browser: each friend it introduces comes from the
    same device by nature, which is no sign of a source inventing friends."""
    for name in ("gus", "hal", "ivy"):
        response = client.post(
            url(source, "introduce/"),
            {"program": program.pk, "name": name.title(), "email": f"{name}@x.io"},
            HTTP_USER_AGENT="Browser/1",
        )
        assert response.status_code == 302
    assert list(Referral.objects.order_by("pk").values_list("flagged", "flag_reasons")) == [
        (False, []),
        (False, []),
        (False, []),
    ]


def test_the_portal_is_never_kept_by_a_browser_or_a_shared_cache(client, source):
    """The page holds the source's full IBAN (in its form) and its secret link: a shared
    proxy or the browser's disk cache must not keep it, as the dashboard's secret pages."""
    from rewards.services import payout_details_update

    payout_details_update(
        source=source, method="bank_transfer", account_holder="Sam", iban="DE89370400440532013000"
    )
    response = client.get(url(source))
    assert "DE89370400440532013000" in response.content.decode()
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    bad = client.post(url(source, "payout-details/"), {"method": "bank_transfer", "iban": "x"})
    assert bad.status_code == 400
    assert "no-store" in bad["Cache-Control"]


def _in_debt(source, amount: str):
    """A source whose payout balance is below zero: a reward taken back after it was paid."""
    from rewards.models import PayoutBalanceEntry

    account = credit_account_for(organization_id=source.organization_id, source=source)
    PayoutBalanceEntry.objects.create(
        organization_id=source.organization_id,
        account=account,
        kind=PayoutBalanceEntry.Kind.DEBT,
        amount=Decimal(amount),
        idempotency_key="test-debt",
    )
    return account


def test_a_source_in_debt_is_offered_nothing_and_told_why(client, source):
    from portal.views import _payout_form
    from rewards.selectors import source_earnings

    account = _in_debt(source, "-10.00")
    earnings = source_earnings(source=source, account=account)
    assert (earnings.payable, earnings.debt) == (Decimal("0.00"), Decimal("10.00"))
    assert _payout_form(earnings)["amount"].value() in (None, "")

    html = client.get(url(source)).content.decode()
    assert '<span class="value" data-testid="portal-payout-balance">€0.00</span>' in html
    assert "-€10.00" not in html and "−€10.00" not in html
    assert "You owe €10.00" in html
    assert "Request payout" not in html


def test_a_payout_asked_for_in_debt_is_refused_kindly_and_changes_nothing(client, source):
    from rewards.models import Payout, PayoutBalanceEntry

    _in_debt(source, "-10.00")
    save_bank(client, source)

    for data in ({"key": "k"}, {"amount": "5.00", "key": "k2"}):
        response = client.post(url(source, "payout/"), data, follow=True)
        assert response.status_code == 200
        html = response.content.decode()
        assert "Nothing to pay out now" in html and "-€10.00" not in html
    assert not Payout.objects.exists()
    assert PayoutBalanceEntry.objects.count() == 1
