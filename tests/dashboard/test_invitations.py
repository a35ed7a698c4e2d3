"""An invitation is a link to join an organization, possibly as its owner: it works for a
limited time, and an expired one can be sent again."""

from datetime import timedelta

from django.utils import timezone

from accounts.models import Invitation, Membership
from accounts.services import INVITATION_LIFETIME
from tests.conftest import make_user


def _invite(client, email="dora@example.com", role="owner"):
    client.post("/app/settings/members/", {"email": email, "role": role})
    return Invitation.objects.get(email=email, accepted_at__isnull=True)


def test_an_old_invitation_no_longer_lets_anyone_join(login, alice, acme, client):
    invitation = _invite(login(alice))
    Invitation.objects.filter(pk=invitation.pk).update(
        created_at=timezone.now() - INVITATION_LIFETIME - timedelta(hours=1)
    )
    client.force_login(make_user("dora@example.com"))

    response = client.post(f"/invite/{invitation.token}/", follow=True)

    assert "expired" in response.content.decode()
    assert not Membership.objects.filter(organization=acme, user__email="dora@example.com")
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_a_fresh_invitation_still_works(login, alice, acme, client):
    invitation = _invite(login(alice), role="manager")
    client.force_login(make_user("dora@example.com"))

    client.post(f"/invite/{invitation.token}/")

    assert Membership.objects.get(organization=acme, user__email="dora@example.com").role == (
        "manager"
    )


def test_an_expired_invitation_can_be_sent_again(login, alice, acme):
    client = login(alice)
    old = _invite(client)
    Invitation.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - INVITATION_LIFETIME - timedelta(hours=1)
    )

    response = client.post(
        "/app/settings/members/", {"email": "dora@example.com", "role": "analyst"}
    )

    assert response.status_code == 302
    new = Invitation.objects.get(email="dora@example.com", accepted_at__isnull=True)
    assert new.pk != old.pk and new.role == "analyst"
    assert not Invitation.objects.filter(token=old.token).exists()


def test_an_expired_invitation_says_so_and_is_no_longer_listed_as_open(login, alice, client):
    invitation = _invite(login(alice))
    Invitation.objects.filter(pk=invitation.pk).update(
        created_at=timezone.now() - INVITATION_LIFETIME - timedelta(hours=1)
    )
    client.get("/app/settings/members/")  # shows (and so clears) "Invitation sent to ..."
    assert "dora@example.com" not in client.get("/app/settings/members/").content.decode()
    client.force_login(make_user("dora@example.com"))
    html = client.get(f"/invite/{invitation.token}/").content.decode()
    assert "expired" in html and "Accept invitation" not in html


def test_an_email_longer_than_an_address_can_be_is_a_form_error(login, alice, acme):
    long_email = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".example"
    response = login(alice).post("/app/settings/members/", {"email": long_email, "role": "owner"})
    assert response.status_code in (200, 400)
    assert "at most 254 characters" in response.content.decode()
    assert not Invitation.objects.exists()
