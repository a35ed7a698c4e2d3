"""A source's portal link: rotated from the dashboard (the old one dead at once), optionally
expiring, emailed to the source, and never brought back by reactivating the source."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.services import (
    source_deactivate,
    source_portal_link_send,
    source_portal_rotate,
    source_reactivate,
)


def portal(client, token):
    return client.get(f"/me/{token}/")


def test_rotating_kills_the_old_link_at_once(client, source):
    old = source.portal_token
    assert portal(client, old).status_code == 200
    source_portal_rotate(source=source)
    assert portal(client, old).status_code == 404
    assert portal(client, source.portal_token).status_code == 200


def test_a_link_can_expire(client, source):
    source_portal_rotate(source=source, expires_in_days=7)
    assert portal(client, source.portal_token).status_code == 200
    source.portal_token_expires_at = timezone.now() - timedelta(seconds=1)
    source.save(update_fields=["portal_token_expires_at"])
    assert portal(client, source.portal_token).status_code == 404


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_an_expiry_out_of_bounds_is_refused(source, days):
    from django.core.exceptions import ValidationError

    old = source.portal_token
    with pytest.raises(ValidationError) as caught:
        source_portal_rotate(source=source, expires_in_days=days)
    assert list(caught.value.message_dict) == ["expires_in_days"]
    source.refresh_from_db()
    assert source.portal_token == old


def test_reactivating_a_source_gives_it_a_new_link(client, source):
    old = source.portal_token
    source_deactivate(source=source)
    assert portal(client, old).status_code == 404
    source_reactivate(source=source)
    assert source.portal_token != old
    assert portal(client, old).status_code == 404
    assert portal(client, source.portal_token).status_code == 200


def test_the_link_is_emailed_to_the_source_once(django_capture_on_commit_callbacks, source):
    from accounts.tasks import send_portal_link

    with django_capture_on_commit_callbacks(execute=False):
        source_portal_link_send(source=source)
    # The outbox's task runs as a worker would run it, twice: the email goes once.
    for _ in range(2):
        send_portal_link.apply(args=[source.pk, source.portal_token], task_id="outbox-1")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [source.email]
    assert f"/me/{source.portal_token}/" in mail.outbox[0].body
    assert mail.outbox[0].subject == f"Your referral page with {source.organization.name}"


def test_a_link_rotated_before_the_email_goes_is_not_sent(source):
    from accounts.tasks import send_portal_link

    old = source.portal_token
    source_portal_rotate(source=source)
    assert send_portal_link.apply(args=[source.pk, old], task_id="outbox-2").result is False
    assert mail.outbox == []


def test_a_source_without_email_gets_a_clear_error(acme):
    from django.core.exceptions import ValidationError

    from tests.factories import ReferralSourceFactory

    silent = ReferralSourceFactory(organization=acme, email="")
    with pytest.raises(ValidationError) as caught:
        source_portal_link_send(source=silent)
    assert list(caught.value.message_dict) == ["email"]


# From the dashboard ----------------------------------------------------------------------


def test_a_manager_rotates_the_link_with_an_expiry(login, bob, source):
    old = source.portal_token
    response = login(bob).post(
        f"/app/sources/{source.pk}/portal/rotate/", {"expires_in_days": "30"}
    )
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.portal_token != old
    left = source.portal_token_expires_at - timezone.now()
    assert timedelta(days=29, hours=23) < left <= timedelta(days=30)


def test_a_bad_expiry_from_the_dashboard_changes_nothing(login, bob, source):
    old = source.portal_token
    response = login(bob).post(
        f"/app/sources/{source.pk}/portal/rotate/", {"expires_in_days": "99999"}, follow=True
    )
    assert "Ensure this value is less than or equal to 3650." in response.content.decode()
    source.refresh_from_db()
    assert source.portal_token == old


def test_a_manager_emails_the_link(login, bob, source, django_capture_on_commit_callbacks):
    from core.models import OutboxMessage

    response = login(bob).post(f"/app/sources/{source.pk}/portal/send/", follow=True)
    assert f"Portal link sent to {source.email}." in response.content.decode()
    message = OutboxMessage.objects.get()
    assert message.task == "accounts.send_portal_link"
    assert message.args == [source.pk, source.portal_token]


def test_a_new_source_is_sent_its_portal_link_when_asked(login, bob, acme):
    from accounts.models import ReferralSource
    from core.models import OutboxMessage

    client = login(bob)
    client.post(
        "/app/sources/new/",
        {
            "kind": "agent",
            "name": "Ivy",
            "email": "ivy@example.com",
            "active": "on",
            "send_portal_link": "on",
        },
    )
    client.post(
        "/app/sources/new/",
        {"kind": "agent", "name": "Jon", "email": "jon@example.com", "active": "on"},
    )
    ivy = ReferralSource.objects.get(name="Ivy")
    sent = OutboxMessage.objects.filter(task="accounts.send_portal_link")
    assert [message.args for message in sent] == [[ivy.pk, ivy.portal_token]]


def test_an_expired_link_is_not_emailed(login, bob, source, client):
    """Sending a link that has expired would email the source a page that answers 404."""
    from core.models import OutboxMessage

    source.portal_token_expires_at = timezone.now() - timedelta(days=1)
    source.save(update_fields=["portal_token_expires_at"])
    assert portal(client, source.portal_token).status_code == 404

    response = login(bob).post(f"/app/sources/{source.pk}/portal/send/", follow=True)

    html = response.content.decode()
    assert "Portal link sent" not in html and "expired" in html
    assert not OutboxMessage.objects.filter(task="accounts.send_portal_link").exists()


def test_making_links_for_a_program_skips_an_expired_portal_link(login, bob, source, program):
    from core.models import OutboxMessage

    source.portal_token_expires_at = timezone.now() - timedelta(days=1)
    source.save(update_fields=["portal_token_expires_at"])

    response = login(bob).post(f"/app/start/{program.pk}/links/create/", follow=True)

    assert response.status_code == 200
    assert program.links.filter(source=source).exists()
    assert not OutboxMessage.objects.filter(task="accounts.send_portal_link").exists()
