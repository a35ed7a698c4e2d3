"""
Owners remove members and revoke open invitations on the members page.

The last owner is never removed; an owner may leave while another owner remains; a
removed member loses the organization at their next request, and what they made stays;
a revoked invitation's link says it is no longer valid and cannot be accepted.
"""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.test import Client

from accounts import services
from accounts.models import ApiKey, Invitation, Membership, Role
from accounts.services import api_key_authenticate, api_key_create, membership_remove
from tests.accounts.test_last_owner_race import waiting_on_a_lock
from tests.conftest import make_user
from tests.factories import InvitationFactory, MembershipFactory, UserFactory
from tests.helpers import wait_for


def _membership(user, organization):
    return Membership.objects.get(user=user, organization=organization)


def _remove(client, membership):
    return client.post(f"/app/settings/members/{membership.pk}/remove/")


def _invite(client, email="dora@example.com", role="manager"):
    client.post("/app/settings/members/", {"email": email, "role": role})
    return Invitation.objects.get(email=email, accepted_at__isnull=True, revoked_at__isnull=True)


# Removing members -----------------------------------------------------------------------


def test_an_owner_removes_a_member_who_loses_access_at_the_next_request(
    login, alice, bob, acme, program
):
    bobs_client = Client()
    bobs_client.force_login(bob)
    assert bobs_client.get("/app/programs/").status_code == 200  # an open session
    bobs_membership = _membership(bob, acme)

    response = _remove(login(alice), bobs_membership)

    assert response.status_code == 302 and response["Location"] == "/app/settings/members/"
    assert not Membership.objects.filter(pk=bobs_membership.pk).exists()
    # Bob belongs to no other organization: where a user without one lands.
    response = bobs_client.get("/app/programs/")
    assert response.status_code == 302 and response["Location"] == "/app/onboarding/"
    assert bobs_client.get(f"/app/programs/{program.pk}/").status_code == 302
    alices_client = login(alice)
    html = alices_client.get("/app/settings/members/").content.decode()
    assert "bob@example.com no longer has access to Acme Bank." in html
    assert "bob@example.com" not in alices_client.get("/app/settings/members/").content.decode()


def test_a_removed_member_of_two_organizations_keeps_the_other_one(
    login, alice, bob, acme, globex, eve
):
    MembershipFactory(user=bob, organization=globex, role=Role.ANALYST)
    bobs_client = Client()
    bobs_client.force_login(bob)
    session = bobs_client.session
    session["organization_id"] = acme.pk  # Bob was working in Acme
    session.save()
    assert "Acme Bank" in bobs_client.get("/app/programs/").content.decode()

    _remove(login(alice), _membership(bob, acme))

    html = bobs_client.get("/app/programs/").content.decode()
    assert "Globex" in html and "Acme Bank" not in html
    # Switching back to Acme is refused.
    assert bobs_client.post(f"/app/switch/{acme.pk}/").status_code == 404


def test_what_a_removed_member_made_stays_with_the_organization(login, alice, bob, acme):
    api_key, secret = api_key_create(
        organization=acme, name="Shop", scopes=["read"], created_by=bob
    )

    _remove(login(alice), _membership(bob, acme))

    api_key.refresh_from_db()
    assert api_key.organization == acme and api_key.created_by == bob and api_key.is_active
    assert api_key_authenticate(secret) == api_key
    assert ApiKey.objects.for_organization(acme).count() == 1


def test_the_last_owner_cannot_be_removed_nor_leave(login, alice, bob, acme):
    client = login(alice)

    response = _remove(client, _membership(alice, acme))

    assert response.status_code == 302
    assert _membership(alice, acme).role == Role.OWNER
    html = client.get("/app/settings/members/").content.decode()
    assert "at least one owner" in html


def test_an_owner_may_leave_while_another_owner_remains(login, alice, acme, client):
    dora = make_user("dora@example.com")
    MembershipFactory(user=dora, organization=acme, role=Role.OWNER)

    response = _remove(login(alice), _membership(alice, acme))

    assert response.status_code == 302
    assert not Membership.objects.filter(user=alice, organization=acme).exists()
    assert client.get("/app/").status_code == 302
    assert client.get("/app/")["Location"] == "/app/onboarding/"
    assert list(Membership.objects.filter(organization=acme, role=Role.OWNER)) == [
        _membership(dora, acme)
    ]


def test_an_owner_removes_another_owner(login, alice, acme):
    dora = make_user("dora@example.com")
    doras = MembershipFactory(user=dora, organization=acme, role=Role.OWNER)

    _remove(login(alice), doras)

    assert not Membership.objects.filter(pk=doras.pk).exists()


def test_a_removed_owner_loses_the_organizations_test_twin_too(login, alice, acme):
    dora = make_user("dora@example.com")
    doras = MembershipFactory(user=dora, organization=acme, role=Role.OWNER)
    twin = services.test_twin_get_or_create(organization=acme, owner=dora)

    _remove(login(alice), doras)

    assert not Membership.objects.filter(user=dora).exists()
    assert twin.pk  # the twin stays, for the owners who remain


@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_only_owners_remove_members(request, login, alice, bob, charlie, acme, who):
    client = login(request.getfixturevalue(who))
    alices = _membership(alice, acme)

    assert _remove(client, alices).status_code == 403
    assert Membership.objects.filter(pk=alices.pk).exists()


def test_another_organizations_member_is_a_404(login, alice, eve, globex):
    eves = _membership(eve, globex)

    assert _remove(login(alice), eves).status_code == 404
    assert Membership.objects.filter(pk=eves.pk).exists()


def test_a_get_removes_no_one(login, alice, bob, acme):
    bobs = _membership(bob, acme)
    assert login(alice).get(f"/app/settings/members/{bobs.pk}/remove/").status_code == 405
    assert Membership.objects.filter(pk=bobs.pk).exists()


def test_the_members_page_asks_before_removing(login, alice, bob, acme):
    html = login(alice).get("/app/settings/members/").content.decode()
    bobs = _membership(bob, acme)
    assert f'action="/app/settings/members/{bobs.pk}/remove/"' in html
    assert "data-confirm=" in html and "Remove bob@example.com" in html


def test_non_owners_see_no_remove_buttons(login, bob, alice):
    html = login(bob).get("/app/settings/members/").content.decode()
    assert "/remove/" not in html


@pytest.mark.django_db(transaction=True)
def test_two_owners_removing_each_other_at_once_leave_one_owner(acme, alice):
    dora = UserFactory(email="dora@example.com")
    MembershipFactory(user=dora, organization=acme, role=Role.OWNER)
    alices = _membership(alice, acme)
    doras = _membership(dora, acme)
    results = {}
    first_done = threading.Event()
    release_first = threading.Event()

    def first():
        try:
            with transaction.atomic():
                results["first"] = membership_remove(membership=doras, by=alices)
                first_done.set()
                release_first.wait(timeout=30)
        finally:
            connections.close_all()

    def second():
        try:
            results["second"] = membership_remove(membership=alices, by=doras)
        except Exception as error:  # noqa: BLE001 - the refusal is what is asserted
            results["second"] = error
        finally:
            connections.close_all()

    one = threading.Thread(target=first)
    one.start()
    assert first_done.wait(timeout=30)
    two = threading.Thread(target=second)
    two.start()
    wait_for(lambda: waiting_on_a_lock() > 0 or not two.is_alive(), timeout=10)
    release_first.set()
    one.join(timeout=30)
    two.join(timeout=30)

    assert isinstance(results["second"], Exception)
    assert list(Membership.objects.filter(organization=acme, role=Role.OWNER)) == [alices]


def test_the_service_refuses_the_last_owner(acme, alice):
    alices = _membership(alice, acme)
    with pytest.raises(ValidationError):
        membership_remove(membership=alices, by=alices)
    assert Membership.objects.filter(pk=alices.pk).exists()


# Revoking invitations -------------------------------------------------------------------


def test_an_owner_revokes_an_invitation_whose_link_then_says_so(login, alice, acme, client):
    invitation = _invite(login(alice))

    response = client.post(f"/app/settings/invitations/{invitation.pk}/revoke/")

    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None and invitation.revoked_by == alice
    html = client.get("/app/settings/members/").content.decode()
    assert "The invitation to dora@example.com is revoked." in html
    assert "dora@example.com" not in client.get("/app/settings/members/").content.decode()

    dora = Client()
    html = dora.get(f"/invite/{invitation.token}/").content.decode()  # not signed in
    assert "no longer valid" in html and "You were invited as" not in html
    dora.force_login(make_user("dora@example.com"))
    html = dora.get(f"/invite/{invitation.token}/").content.decode()
    assert "no longer valid" in html and "Accept invitation" not in html
    response = dora.post(f"/invite/{invitation.token}/", follow=True)
    assert "no longer valid" in response.content.decode()
    assert not Membership.objects.filter(organization=acme, user__email="dora@example.com")


def test_a_revoked_address_can_be_invited_again(login, alice, acme):
    client = login(alice)
    old = _invite(client)
    client.post(f"/app/settings/invitations/{old.pk}/revoke/")

    new = _invite(client, role="analyst")

    assert new.pk != old.pk
    old.refresh_from_db()
    assert old.revoked_at is not None


def test_an_accepted_invitation_cannot_be_revoked(login, alice, acme):
    invitation = InvitationFactory(organization=acme, email="dora@example.com")
    dora = make_user("dora@example.com")
    services.invitation_accept(invitation=invitation, user=dora)
    client = login(alice)

    client.post(f"/app/settings/invitations/{invitation.pk}/revoke/")

    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    assert Membership.objects.filter(organization=acme, user=dora).exists()


@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_only_owners_revoke_invitations(request, login, alice, bob, charlie, acme, who):
    invitation = InvitationFactory(organization=acme, invited_by=alice)

    response = login(request.getfixturevalue(who)).post(
        f"/app/settings/invitations/{invitation.pk}/revoke/"
    )

    assert response.status_code == 403
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_another_organizations_invitation_is_a_404(login, alice, globex, eve):
    invitation = InvitationFactory(organization=globex, invited_by=eve)

    response = login(alice).post(f"/app/settings/invitations/{invitation.pk}/revoke/")

    assert response.status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_the_members_page_offers_to_revoke_open_invitations(login, alice, acme):
    client = login(alice)
    invitation = _invite(client)
    html = client.get("/app/settings/members/").content.decode()
    assert f'action="/app/settings/invitations/{invitation.pk}/revoke/"' in html
    assert "Revoke the invitation to dora@example.com?" in html
