"""Pages that show a secret (a new API key, a webhook signing secret, the widget secret) tell
the browser not to keep them: "shown once" must not mean "again from the cache or the Back
button" on a shared computer."""

import re


def _not_stored(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_the_page_showing_a_new_api_key_is_not_stored(login, alice):
    response = login(alice).post(
        "/app/settings/api-keys/", {"name": "Shop", "scopes": ["read", "write"]}
    )
    assert re.search(r"adv_live_[A-Za-z0-9]+", response.content.decode())
    assert _not_stored(response)


def test_the_page_showing_a_webhook_secret_is_not_stored(login, alice, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    response = login(alice).post(
        "/app/settings/webhooks/",
        {"url": "https://hooks.example.com/a", "events": ["payout.paid"]},
    )
    assert "whsec_" in response.content.decode()
    assert _not_stored(response)


def test_the_widget_secret_page_is_not_stored(login, alice):
    response = login(alice).get("/app/settings/widget/")
    assert response.status_code == 200
    assert _not_stored(response)
