"""Settings > API keys and Settings > Webhooks in the dashboard: owners only, secrets shown
once, another organization's keys and endpoints a 404."""

import re

import pytest

from accounts.models import ApiKey, WebhookDelivery, WebhookEndpoint
from accounts.services import api_key_create
from accounts.webhooks import emit, endpoint_create
from tests.api.conftest import Api

PAGES = ["/app/settings/api-keys/", "/app/settings/webhooks/"]


@pytest.mark.parametrize("path", PAGES)
def test_only_owners_see_the_developer_settings(login, bob, charlie, path, client):
    assert client.get(path).status_code == 302
    assert login(bob).get(path).status_code == 403
    assert login(charlie).get(path).status_code == 403


def test_an_owner_creates_a_key_that_is_shown_once_and_works(login, alice, acme):
    client = login(alice)
    response = client.post("/app/settings/api-keys/", {"name": "Shop", "scopes": ["read", "write"]})
    assert response.status_code == 200
    key = re.search(r"adv_live_[A-Za-z0-9]+", response.content.decode()).group(0)
    api_key = ApiKey.objects.get()
    assert api_key.key_hash != key and key not in api_key.key_hash
    assert api_key.prefix == key[:17] and api_key.created_by == alice
    assert Api(key).get("/api/v1/programs").status_code == 200
    page = client.get("/app/settings/api-keys/").content.decode()
    assert key not in page and api_key.prefix in page
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_a_key_needs_a_name_and_a_scope(login, alice):
    response = login(alice).post("/app/settings/api-keys/", {"name": "", "scopes": []})
    assert response.status_code == 400 and not ApiKey.objects.exists()


def test_an_owner_revokes_a_key(login, alice, acme):
    api_key, raw = api_key_create(organization=acme, name="Old", scopes=["read"], created_by=None)
    assert Api(raw).get("/api/v1/programs").status_code == 200  # and remembered by the process
    login(alice).post(f"/app/settings/api-keys/{api_key.pk}/revoke/")
    assert Api(raw).get("/api/v1/programs").status_code == 401


def test_another_organizations_keys_and_endpoints_are_a_404(login, eve, acme):
    api_key, _ = api_key_create(organization=acme, name="Acme", scopes=["read"], created_by=None)
    endpoint, _ = endpoint_create(
        organization=acme, url="http://127.0.0.1:9/h", events=["payout.paid"]
    )
    [delivery] = emit(acme, "payout.paid", {"id": 1})
    client = login(eve)
    assert client.post(f"/app/settings/api-keys/{api_key.pk}/revoke/").status_code == 404
    assert client.get(f"/app/settings/webhooks/{endpoint.pk}/").status_code == 404
    assert client.post(f"/app/settings/webhooks/{endpoint.pk}/delete/").status_code == 404
    assert client.post(f"/app/settings/webhooks/{endpoint.pk}/active/").status_code == 404
    path = f"/app/settings/webhooks/deliveries/{delivery.pk}/resend/"
    assert client.post(path).status_code == 404
    api_key.refresh_from_db()
    assert api_key.revoked_at is None and WebhookEndpoint.objects.get().active
    assert WebhookDelivery.objects.count() == 1
    assert "Acme" not in client.get("/app/settings/api-keys/").content.decode()


def test_an_owner_registers_an_endpoint_and_sees_its_secret_once(login, alice):
    client = login(alice)
    response = client.post(
        "/app/settings/webhooks/",
        {"url": "https://shop.example/hooks", "events": ["referral.created", "payout.paid"]},
    )
    assert response.status_code == 200
    secret = re.search(r"whsec_[A-Za-z0-9_-]+", response.content.decode()).group(0)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == secret and endpoint.events == ["payout.paid", "referral.created"]
    assert secret not in client.get("/app/settings/webhooks/").content.decode()


def test_an_endpoint_on_a_private_address_is_refused_in_production(login, alice, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = login(alice).post(
        "/app/settings/webhooks/",
        {"url": "http://127.0.0.1:8000/hooks", "events": ["payout.paid"]},
    )
    assert response.status_code == 400 and "public addresses" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_deliveries_are_listed_and_one_can_be_sent_again(login, alice, acme):
    endpoint, _ = endpoint_create(
        organization=acme, url="http://127.0.0.1:9/h", events=["payout.paid"]
    )
    [delivery] = emit(acme, "payout.paid", {"id": 1})
    client = login(alice)
    page = client.get(f"/app/settings/webhooks/{endpoint.pk}/").content.decode()
    assert delivery.event_id in page
    response = client.post(f"/app/settings/webhooks/deliveries/{delivery.pk}/resend/")
    assert response.status_code == 302
    assert WebhookDelivery.objects.filter(event_id=delivery.event_id).count() == 2
    client.post(f"/app/settings/webhooks/{endpoint.pk}/active/", {"active": "0"})
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert emit(acme, "payout.paid", {"id": 2}) == []
