"""Logging a contribution from the source's page."""

import datetime

from accounts.models import InsiderContribution


def test_it_logs_a_contribution(login, bob, source):
    response = login(bob).post(
        f"/app/sources/{source.pk}/contributions/",
        {"occurred_on": "2026-01-15", "note": "Shared the competitor's new rates", "value": "75"},
    )
    assert response.status_code == 302 and response["Location"] == f"/app/sources/{source.pk}/"
    contribution = InsiderContribution.objects.get()
    assert contribution.source == source and contribution.created_by == bob
    assert contribution.occurred_on == datetime.date(2026, 1, 15)


def test_bad_input_is_a_form_error(login, bob, source):
    client = login(bob)
    for data in (
        {"occurred_on": "2026-01-15", "note": "", "value": ""},
        {"occurred_on": "2026-01-15", "note": "x", "value": "-5"},
        {"occurred_on": "not a date", "note": "x", "value": ""},
        {"occurred_on": "2999-01-01", "note": "x", "value": ""},
        {"occurred_on": "2026-01-15", "note": "x", "value": "1e400"},
    ):
        response = client.post(f"/app/sources/{source.pk}/contributions/", data)
        assert response.status_code == 400, data
    assert not InsiderContribution.objects.exists()


def test_it_says_why_a_future_day_is_refused(login, bob, source):
    import datetime

    from accounts.services import organization_today

    tomorrow = organization_today(source.organization) + datetime.timedelta(days=1)
    response = login(bob).post(
        f"/app/sources/{source.pk}/contributions/",
        {"occurred_on": tomorrow.isoformat(), "note": "x", "value": ""},
    )
    assert response.status_code == 400
    assert "cannot be in the future" in response.content.decode()


def test_analyst_cannot_log_a_contribution(login, charlie, source):
    response = login(charlie).post(
        f"/app/sources/{source.pk}/contributions/", {"occurred_on": "2026-01-15", "note": "x"}
    )
    assert response.status_code == 403
    assert not InsiderContribution.objects.exists()


def test_it_hides_another_tenants_source(login, eve, source):
    response = login(eve).post(
        f"/app/sources/{source.pk}/contributions/", {"occurred_on": "2026-01-15", "note": "x"}
    )
    assert response.status_code == 404
    assert not InsiderContribution.objects.exists()
