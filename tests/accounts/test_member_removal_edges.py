"""
Member removal and invitation revoke: what a removed owner leaves open, and requests that
race a removal (the member or invitation went away while the request waited).
"""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from accounts import services
from accounts.models import Invitation, Membership, Role
from tests.conftest import make_user
from tests.factories import MembershipFactory, UserFactory


def _membership(user, organization):
    return Membership.objects.get(user=user, organization=organization)


def test_removing_an_owner_revokes_the_invitations_they_sent(login, alice, acme):
    """A removed owner cannot come back through an invitation they sent to an address of
    their own before being removed."""
    mallory = UserFactory(email="mallory@example.com")
    MembershipFactory(user=mallory, organization=acme, role=Role.OWNER)
    sent = services.invitation_create(
        organization=acme, email="mallory.alt@example.com", role=Role.OWNER, invited_by=mallory
    )
    kept = services.invitation_create(
        organization=acme, email="dora@example.com", role=Role.ANALYST, invited_by=alice
    )

    response = login(alice).post(f"/app/settings/members/{_membership(mallory, acme).pk}/remove/")
    assert response.status_code == 302

    sent.refresh_from_db()
    kept.refresh_from_db()
    assert sent.revoked_at is not None and sent.revoked_by == alice
    assert kept.revoked_at is None
    alt = Client()
    alt.force_login(make_user("mallory.alt@example.com"))
    alt.post(f"/invite/{sent.token}/")
    assert not Membership.objects.filter(organization=acme, user__email="mallory.alt@example.com")
    # The address can be invited again by an owner who wants it.
    again = services.invitation_create(
        organization=acme, email="mallory.alt@example.com", role=Role.ANALYST, invited_by=alice
    )
    assert again.revoked_at is None


def test_a_role_change_of_a_member_removed_meanwhile_is_refused_not_a_500(acme, alice, bob):
    alices = _membership(alice, acme)
    stale = _membership(bob, acme)  # read by the role-change request ...
    Membership.objects.filter(pk=stale.pk).delete()  # ... removed before it got the lock

    with pytest.raises(ValidationError):
        services.membership_change_role(membership=stale, role=Role.ANALYST, by=alices)
    assert not Membership.objects.filter(pk=stale.pk).exists()


@pytest.mark.parametrize("action", ["revoke", "accept"])
def test_an_invitation_deleted_meanwhile_is_refused_not_a_500(acme, alice, action):
    invitation = services.invitation_create(
        organization=acme, email="dora@example.com", role=Role.ANALYST, invited_by=alice
    )
    Invitation.objects.filter(pk=invitation.pk).delete()  # re-invited after it expired

    with pytest.raises(ValidationError):
        if action == "revoke":
            services.invitation_revoke(invitation=invitation, by=alice)
        else:
            services.invitation_accept(invitation=invitation, user=make_user("dora@example.com"))


def test_inviting_an_address_again_keeps_the_record_of_a_revoked_invitation(acme, alice):
    """The invitation is the only record of who revoked it and when: inviting the address
    again, weeks later, must not delete it with the expired open ones."""
    from datetime import timedelta

    from django.utils import timezone

    old = services.invitation_create(
        organization=acme, email="dora@example.com", role=Role.ANALYST, invited_by=alice
    )
    services.invitation_revoke(invitation=old, by=alice)
    Invitation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    expired = services.invitation_create(
        organization=acme, email="eli@example.com", role=Role.ANALYST, invited_by=alice
    )
    Invitation.objects.filter(pk=expired.pk).update(created_at=timezone.now() - timedelta(days=30))

    services.invitation_create(
        organization=acme, email="dora@example.com", role=Role.ANALYST, invited_by=alice
    )
    services.invitation_create(
        organization=acme, email="eli@example.com", role=Role.ANALYST, invited_by=alice
    )

    old.refresh_from_db()
    assert old.revoked_by == alice and old.revoked_at is not None
    assert not Invitation.objects.filter(pk=expired.pk).exists()  # an expired open one goes
