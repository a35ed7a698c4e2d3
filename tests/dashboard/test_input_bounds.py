"""Dates and day counts outside sane bounds are form errors that change nothing.

A purchase dated 0001-01-01 in an organization east of UTC once stored a year-0 timestamp
that PostgreSQL could not read back, and every page showing it answered 500 from then on.
"""

import pytest

from accounts.models import InsiderContribution
from referrals.models import Conversion
from referrals.services import referral_create

FAR_DATES = ["0001-01-01 00:30", "1969-12-31 12:00", "2101-01-02 00:00", "9999-12-31 23:59"]


@pytest.fixture
def referral(program, source, link):
    return referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )


@pytest.mark.parametrize("when", FAR_DATES)
def test_a_purchase_on_the_referral_page_must_be_dated_1970_to_2100(login, bob, referral, when):
    response = login(bob).post(
        f"/app/referrals/{referral.pk}/conversions/",
        {"kind": "purchase", "external_id": "o-1", "amount": "10", "occurred_at": when},
    )
    assert response.status_code == 400
    assert "Give a date between 1970 and 2100." in response.content.decode()
    assert not Conversion.objects.exists()


@pytest.mark.parametrize("when", FAR_DATES)
def test_an_event_must_be_dated_1970_to_2100(login, bob, referral, when):
    response = login(bob).post(
        "/app/events/new/",
        {
            "kind": "purchase",
            "external_id": "o-1",
            "amount": "10",
            "occurred_at": when,
            "email": "f@example.com",
        },
    )
    assert response.status_code == 400
    assert "Give a date between 1970 and 2100." in response.content.decode()
    assert not Conversion.objects.exists()


@pytest.mark.parametrize("day", ["0001-01-01", "1969-12-31"])
def test_a_contribution_must_be_dated_1970_or_later(login, bob, source, day):
    response = login(bob).post(
        f"/app/sources/{source.pk}/contributions/", {"occurred_on": day, "note": "Tip"}
    )
    assert response.status_code == 400
    assert "Give a date between 1970 and 2100." in response.content.decode()
    assert not InsiderContribution.objects.exists()


def test_the_referral_and_source_pages_still_answer_after_bad_dates(login, bob, referral, source):
    client = login(bob)
    client.post(
        f"/app/referrals/{referral.pk}/conversions/",
        {"kind": "purchase", "external_id": "o-1", "amount": "10", "occurred_at": FAR_DATES[0]},
    )
    assert client.get(f"/app/referrals/{referral.pk}/").status_code == 200
    assert client.get(f"/app/sources/{source.pk}/").status_code == 200
