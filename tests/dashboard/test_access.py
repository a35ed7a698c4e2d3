"""
Who may see and do what, on every dashboard view.

Anonymous visitors are sent to sign in; every member may read; analysts may not write;
and another organization's objects are a 404, never a 403 that would confirm they exist.
"""

from decimal import Decimal

import pytest

from referrals.services import conversion_record, referral_create
from tests.factories import ReferralSourceFactory
from tests.helpers import form_datetime

READ_PAGES = [
    "/app/",
    "/app/programs/",
    "/app/sources/",
    "/app/customers/",
    "/app/referrals/",
    "/app/referrals/review/",
    "/app/rewards/",
    "/app/settings/members/",
]


@pytest.fixture
def referral(program, source, link):
    return referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )


@pytest.fixture
def object_pages(program, source, referral):
    return [
        f"/app/programs/{program.pk}/",
        f"/app/programs/{program.pk}/edit/",
        f"/app/programs/{program.pk}/rules/new/",
        f"/app/sources/{source.pk}/",
        f"/app/sources/{source.pk}/edit/",
        f"/app/referrals/{referral.pk}/",
    ]


@pytest.mark.parametrize("path", READ_PAGES)
def test_it_requires_sign_in(client, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("path", READ_PAGES)
def test_every_member_can_read(login, charlie, path):
    assert login(charlie).get(path).status_code == 200


def test_it_sends_a_user_without_organization_to_onboarding(client, db):
    from tests.conftest import make_user

    client.force_login(make_user("new@example.com"))
    response = client.get("/app/")
    assert response.status_code == 302 and response["Location"] == "/app/onboarding/"


def test_it_hides_another_tenants_objects(login, eve, object_pages):
    client = login(eve)
    for path in object_pages:
        assert client.get(path).status_code == 404, path


def test_it_hides_another_tenants_objects_from_writes(login, eve, program, source, referral):
    client = login(eve)
    assert (
        client.post(f"/app/programs/{program.pk}/links/", {"source": source.pk}).status_code == 404
    )
    response = client.post(
        f"/app/referrals/{referral.pk}/conversions/",
        {
            "kind": "purchase",
            "external_id": "x",
            "amount": "5",
            "occurred_at": form_datetime(days_ago=0.01, tz="Europe/Amsterdam"),
        },
    )
    assert response.status_code == 404
    assert client.post(f"/app/referrals/{referral.pk}/reject/", {"reason": "x"}).status_code == 404
    referral.refresh_from_db()
    assert referral.status == "lead" and not referral.conversions.exists()


def test_it_does_not_offer_another_tenants_source_for_a_link(login, alice, program, eve, globex):

    foreign = ReferralSourceFactory(organization=globex, name="Spy", kind="customer")
    response = login(alice).post(f"/app/programs/{program.pk}/links/", {"source": foreign.pk})
    assert response.status_code == 302
    assert not program.links.filter(source=foreign).exists()


def test_it_lists_only_own_tenant_rows(login, alice, eve, globex, source):

    ReferralSourceFactory(organization=globex, name="Globex Partner", kind="partner")
    html = login(alice).get("/app/sources/").content.decode()
    assert "Sam Source" in html and "Globex Partner" not in html


def test_analyst_cannot_write(login, charlie, program, source, referral):
    client = login(charlie)
    assert client.get("/app/programs/new/").status_code == 403
    assert client.get("/app/sources/new/").status_code == 403
    assert (
        client.post(f"/app/programs/{program.pk}/links/", {"source": source.pk}).status_code == 403
    )
    response = client.post(
        f"/app/referrals/{referral.pk}/conversions/",
        {
            "kind": "purchase",
            "external_id": "x",
            "amount": "5",
            "occurred_at": form_datetime(days_ago=0.01, tz="Europe/Amsterdam"),
        },
    )
    assert response.status_code == 403
    assert not referral.conversions.exists()


def test_manager_cannot_invite_or_change_roles(login, bob, charlie):
    from accounts.models import Membership

    client = login(bob)
    assert (
        client.post(
            "/app/settings/members/", {"email": "x@example.com", "role": "owner"}
        ).status_code
        == 403
    )
    membership = Membership.objects.get(user=charlie)
    assert (
        client.post(f"/app/settings/members/{membership.pk}/role/", {"role": "owner"}).status_code
        == 403
    )
    membership.refresh_from_db()
    assert membership.role == "analyst"


def test_owner_changes_a_role_but_keeps_one_owner(login, alice, charlie):
    from accounts.models import Membership

    client = login(alice)
    charlie_membership = Membership.objects.get(user=charlie)
    client.post(f"/app/settings/members/{charlie_membership.pk}/role/", {"role": "manager"})
    charlie_membership.refresh_from_db()
    assert charlie_membership.role == "manager"
    alice_membership = Membership.objects.get(user=alice)
    client.post(f"/app/settings/members/{alice_membership.pk}/role/", {"role": "analyst"})
    alice_membership.refresh_from_db()
    assert alice_membership.role == "owner"


def test_invitation_must_be_accepted_by_the_invited_address(login, alice, acme, client):
    from django.core import mail

    from accounts.models import Invitation, Membership
    from tests.conftest import make_user

    login(alice).post("/app/settings/members/", {"email": "dora@example.com", "role": "manager"})
    invitation = Invitation.objects.get(email="dora@example.com")
    assert invitation.token in mail.outbox[-1].body
    client.force_login(make_user("mallory@example.com"))
    client.post(f"/invite/{invitation.token}/")
    assert not Membership.objects.filter(
        organization=acme, user__email="mallory@example.com"
    ).exists()


def test_invalid_invitation_shows_form_errors(login, alice):
    response = login(alice).post(
        "/app/settings/members/", {"email": "not-an-email", "role": "owner"}
    )
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()


def test_bad_purchase_input_is_a_form_error_and_changes_nothing(login, bob, referral):
    client = login(bob)
    response = client.post(
        f"/app/referrals/{referral.pk}/conversions/",
        {
            "kind": "purchase",
            "external_id": "o-1",
            "amount": "-5",
            "occurred_at": form_datetime(days_ago=0.01, tz="Europe/Amsterdam"),
        },
    )
    assert response.status_code == 400
    response = client.post(
        f"/app/referrals/{referral.pk}/conversions/",
        {
            "kind": "purchase",
            "external_id": "o-1",
            "amount": "0",
            "occurred_at": form_datetime(days_ago=0.01, tz="Europe/Amsterdam"),
        },
    )
    assert response.status_code == 400
    assert "above zero" in response.content.decode()
    assert not referral.conversions.exists()


def test_list_pages_run_a_bounded_number_of_queries(
    login, alice, program, source, referral, django_assert_max_num_queries
):
    from referrals.services import link_get_or_create

    for n in range(30):
        s = ReferralSourceFactory(organization=program.organization, name=f"S{n}", kind="agent")
        link = link_get_or_create(program=program, source=s)
        r = referral_create(
            program=program, source=s, link=link, channel="link", friend_email=f"f{n}@example.com"
        )
        conversion_record(referral=r, kind="purchase", external_id=f"o{n}", amount=Decimal("10"))
    client = login(alice)
    # The overview reads a period beside the previous one, then the all-time tiles, kinds,
    # top sources and monthly chart, each every kind of row once, and how fresh the customer
    # facts are: more queries, as many whatever the data
    # (tests/dashboard/test_analytics_pages.py).
    bounds = {"/app/": 65}
    for path in READ_PAGES + [f"/app/programs/{program.pk}/", f"/app/sources/{source.pk}/"]:
        with django_assert_max_num_queries(bounds.get(path, 20), info=path):
            assert client.get(path).status_code == 200
