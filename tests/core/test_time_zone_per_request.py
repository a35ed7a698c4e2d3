"""The organization's time zone lasts for its own request only."""

from django.utils import timezone


def test_a_dashboard_page_leaves_the_thread_in_the_default_zone(login, alice, acme):
    timezone.deactivate()
    response = login(alice).get("/app/")
    assert response.status_code == 200
    # acme is Europe/Amsterdam; the next request served by this thread must not inherit it.
    assert timezone.get_current_timezone_name() == "UTC"


def test_a_request_starts_in_the_default_zone_whatever_the_thread_had(client, db):
    timezone.activate("Asia/Tokyo")  # as a leaked zone from an earlier request would be
    try:
        client.get("/healthz")
        assert timezone.get_current_timezone_name() == "UTC"
    finally:
        timezone.deactivate()
