"""/api/v1/analytics: the summary and per-source numbers of the dashboard."""

from decimal import Decimal

from accounts.models import ReferralSource
from referrals.services import conversion_record, referral_create


def test_the_summary_counts_and_sums(api, program, source, link):
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="f@example.com"
    )
    conversion_record(referral=referral, kind="purchase", external_id="o-1", amount=Decimal("80"))
    body = api.get("/api/v1/analytics/summary").json()
    assert (body["referrals"], body["converted"], body["purchases"]) == (1, 1, 1)
    assert (body["revenue"], body["currency"], body["conversion_rate"]) == ("80.00", "EUR", "100.0")
    assert (
        api.get("/api/v1/analytics/summary", {"since": "2999-01-01T00:00:00Z"}).json()["referrals"]
        == 0
    )
    assert api.get("/api/v1/analytics/summary", {"since": "soon"}).status_code == 400


def test_per_source_numbers_count_without_fan_out(
    api, acme, program, source, link, django_assert_max_num_queries
):
    for n in range(3):
        r = referral_create(
            program=program, source=source, link=link, channel="link", friend_email=f"f{n}@x.com"
        )
        conversion_record(referral=r, kind="purchase", external_id=f"o-{n}", amount=Decimal("10"))
        conversion_record(referral=r, kind="purchase", external_id=f"p-{n}", amount=Decimal("5"))
    conversion_record(
        referral=r,
        kind="refund",
        external_id="r-1",
        amount=Decimal("5"),
        refund_of_external_id="p-2",
    )
    for n in range(20):
        ReferralSource.objects.create(organization=acme, name=f"S{n}", kind="agent")
    with django_assert_max_num_queries(4):
        rows = api.get("/api/v1/analytics/sources", {"limit": 100}).json()["results"]
    sam = next(row for row in rows if row["source"] == source.pk)
    assert (sam["referrals"], sam["converted"], sam["purchases"], sam["revenue"]) == (
        3,
        3,
        6,
        "40.00",
    )
    assert len(rows) == 21


def test_a_period_that_ends_before_it_starts_is_a_400(api):
    from tests.api.conftest import error_of

    backwards = {"since": "2026-12-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}
    for path in ("/api/v1/analytics/summary", "/api/v1/analytics/sources"):
        response = api.get(path, backwards)
        assert response.status_code == 400 and error_of(response)["param"] == "until"
        empty = api.get(path, {**backwards, "until": backwards["since"]})
        assert empty.status_code == 400
    one_day = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-02T00:00:00Z"}
    assert api.get("/api/v1/analytics/summary", one_day).status_code == 200
