"""
The foundation's end-to-end flow (steps 3 to 6), through the dashboard's HTTP surface, with
a real Celery worker consuming Redis: sign up a business, invite a member, create a program
with a reward rule and a source, follow the link, leave a lead, record the first purchase,
and see the referrer credited and the dashboard counts move.
"""

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client

from accounts.models import Membership, Organization, ReferralSource
from referrals.models import Click, Referral
from rewards.models import LedgerEntry, Reward
from rewards.selectors import credit_balance
from tests.helpers import form_datetime, wait_for


def stat(html: str, name: str) -> str:
    match = re.search(rf'data-stat="{name}">([^<]*)<', html)
    assert match, f"stat {name} not on the page"
    return match.group(1).strip()


@pytest.mark.worker
def test_business_signs_up_and_a_referral_earns_a_credit(celery_worker):
    owner = Client()
    # 3. Sign up as a new business and become its owner.
    response = owner.post(
        "/accounts/signup/",
        {
            "email": "olivia@bakery.example",
            "password1": "a-Str0ng-pass!",
            "password2": "a-Str0ng-pass!",
        },
    )
    assert response.status_code == 302
    response = owner.post(
        "/app/onboarding/",
        {"name": "Olivia's Bakery", "currency": "EUR", "timezone": "Europe/Paris"},
    )
    assert response.status_code == 302
    org = Organization.objects.get(name="Olivia's Bakery")
    assert Membership.objects.get(organization=org).role == "owner"

    # ... and invite a second member as analyst (read-only).
    response = owner.post(
        "/app/settings/members/", {"email": "max@bakery.example", "role": "analyst"}
    )
    assert response.status_code == 302
    invite_url = re.search(r"http://\S+/invite/\S+/", mail.outbox[-1].body).group(0)
    analyst = Client()
    analyst.post(
        "/accounts/signup/",
        {"email": "max@bakery.example", "password1": "an0ther-Pass!", "password2": "an0ther-Pass!"},
    )
    path = invite_url.split("localhost:8000", 1)[1]
    assert analyst.post(path).status_code == 302
    assert (
        Membership.objects.get(organization=org, user__email="max@bakery.example").role == "analyst"
    )
    # Roles are enforced: the analyst may read but not create a program.
    assert analyst.get("/app/programs/").status_code == 200
    assert analyst.post("/app/programs/new/", {"name": "Nope"}).status_code == 403

    # 4. A program with a fixed credit to the referrer on the friend's first purchase.
    response = owner.post(
        "/app/programs/new/",
        {
            "name": "Bread friends",
            "status": "active",
            "friend_offer": "A free loaf on your first order",
            "landing_headline": "Real bread, baked nearby",
            "landing_text": "",
            "landing_mode": "landing",
            "destination_url": "",
            "attribution_window_days": 30,
            "attribution_model": "last_touch",
            "allowed_source_kinds": ["customer", "employee"],
            "velocity_limit_per_hour": 20,
        },
    )
    assert response.status_code == 302, response.content
    program_url = response["Location"]
    program_id = int(program_url.rstrip("/").split("/")[-1])
    response = owner.post(
        f"/app/programs/{program_id}/rules/new/",
        {
            "name": "Thank-you credit",
            "beneficiary": "referrer",
            "trigger": "first_purchase",
            "formula": "fixed",
            "amount": "15.00",
            "percent": "0",
            "reward_kind": "credit",
            "hold_days": 0,
            "credit_lifetime_days": 180,
        },
    )
    assert response.status_code == 302, response.content
    response = owner.post(
        "/app/sources/new/",
        {
            "kind": "customer",
            "name": "Claire Dupont",
            "email": "claire@example.com",
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content
    source = ReferralSource.objects.get(organization=org, name="Claire Dupont")
    owner.post(f"/app/programs/{program_id}/links/", {"source": source.pk})
    page = owner.get(program_url).content.decode()
    code = re.search(r"/r/([a-z0-9-]+)</code>", page).group(1)

    # 5. A friend opens the link in a private window and leaves name and email.
    friend = Client()
    landing = friend.get(f"/r/{code}", HTTP_USER_AGENT="Mozilla/5.0 friend")
    assert landing.status_code == 200
    assert "A free loaf on your first order" in landing.content.decode()
    assert Click.objects.filter(link__code=code).count() == 1
    assert (
        friend.post(f"/r/{code}", {"name": "Jean Martin", "email": "jean@example.com"}).status_code
        == 200
    )
    referral = Referral.objects.get(organization=org)
    assert (referral.status, referral.friend_email, referral.source_id) == (
        "lead",
        "jean@example.com",
        source.pk,
    )
    assert "Jean Martin" in owner.get("/app/referrals/").content.decode()

    # 6. Staff record the friend's first purchase; the worker grants the referrer a credit.
    # (Made after the referral: one dated before it would not be the referral's.)
    before = owner.get("/app/").content.decode()
    assert stat(before, "credits_issued") == "€0.00"
    response = owner.post(
        f"/app/referrals/{referral.pk}/conversions/",
        {
            "kind": "purchase",
            "external_id": "order-1001",
            "amount": "42.50",
            "occurred_at": form_datetime(tz="Europe/Amsterdam"),
        },
    )
    assert response.status_code == 302, response.content
    referral.refresh_from_db()
    assert referral.status == "converted"
    reward = wait_for(lambda: Reward.objects.filter(organization=org, status="fulfilled").first())
    assert reward.amount == Decimal("15.00") and reward.source_id == source.pk
    assert credit_balance(account=source.credit_account) == Decimal("15.00")

    # The same event again changes nothing.
    owner.post(
        f"/app/referrals/{referral.pk}/conversions/",
        {
            "kind": "purchase",
            "external_id": "order-1001",
            "amount": "42.50",
            "occurred_at": form_datetime(tz="Europe/Amsterdam"),
        },
    )
    after = owner.get("/app/").content.decode()
    assert stat(after, "clicks") == "1"
    assert stat(after, "referrals") == "1"
    assert stat(after, "converted") == "1"
    assert stat(after, "credits_issued") == "€15.00"
    assert Reward.objects.filter(organization=org).count() == 1
    assert LedgerEntry.objects.filter(organization=org).count() == 1
