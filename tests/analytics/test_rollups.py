"""The daily rollups give every figure the raw rows give, and the pages read them.

The book (tests/analytics/book.py) is rolled up to 14 April 2026 (its "now" is 15 April);
each figure is read with the rollups and without, for periods inside them, across their end
(today is read from the rows), with each filter and each grouping.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext

from accounts.models import Organization
from analytics import report, rollups
from analytics.models import DailyRollup, RollupState
from analytics.period import Filters, Period
from referrals.models import Purchase
from tests.analytics.book import MARCH, NOW, at, build


@pytest.fixture
def book(acme, program, source):
    return build(acme, program, source)


def fresh(org):
    return Organization.objects.get(pk=org.pk)


def every_figure(org, periods, filters, by):
    return (
        report.volumes(organization=org, periods=periods, filters=filters, by=by),
        report.revenues(organization=org, periods=periods, filters=filters, by=by),
        report.reward_costs(organization=org, periods=periods, filters=filters, by=by),
    )


def test_every_rolled_up_figure_equals_the_raw_rows(acme, book, settings):
    rollups.rebuild(organization=acme, now=NOW)
    assert RollupState.objects.get(organization=acme).built_through == date(2026, 4, 14)
    assert DailyRollup.objects.filter(organization=acme).exists()
    across = Period(start=date(2026, 1, 1), end=date(2026, 4, 15), tz=acme.timezone)
    all_filters = [
        Filters(),
        Filters(source_id=book["sam"].pk),
        Filters(source_id=book["ada"].pk),
        Filters(program_id=book["program"].pk),
        Filters(program_id=book["partners"].pk),
        Filters(source_kind="agent"),
    ]
    checked = 0
    for periods in ([MARCH, MARCH.previous()], [across]):
        for filters in all_filters:
            for by in (None, "source", "kind", "day", "month"):
                settings.ANALYTICS_ROLLUPS = True
                rolled = every_figure(fresh(acme), periods, filters, by)
                settings.ANALYTICS_ROLLUPS = False
                raw = every_figure(fresh(acme), periods, filters, by)
                assert rolled == raw, (periods, filters, by)
                checked += 1
    assert checked == 60
    settings.ANALYTICS_ROLLUPS = True
    figures = report.figures(organization=fresh(acme), period=MARCH)
    assert figures.revenue.net_revenue == Decimal("1110.00")
    assert figures.cost.cost == Decimal("55.00") and figures.roi == Decimal("909.1")


def test_the_pages_read_whole_days_from_the_rollups_and_today_from_the_rows(acme, book):
    rollups.rebuild(organization=acme, now=NOW)
    with CaptureQueriesContext(connections["analytics"]) as queries:
        report.volumes(organization=fresh(acme), periods=[MARCH])
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "analytics_dailyrollup" in sql and "referrals_click" not in sql
    today = Period(start=date(2026, 4, 15), end=date(2026, 4, 15), tz=acme.timezone)
    with CaptureQueriesContext(connections["analytics"]) as queries:
        report.volumes(organization=fresh(acme), periods=[today])
    assert "referrals_click" in " ".join(q["sql"] for q in queries.captured_queries)


def test_the_task_brings_the_last_days_up_to_date(acme, book, settings):
    from analytics.tasks import refresh_rollups

    rollups.rebuild(organization=acme, now=NOW)
    Purchase.objects.create(
        organization=acme,
        customer=book["fay"],
        external_id="F3",
        amount=Decimal("15.00"),
        currency="EUR",
        occurred_at=at(4, 13),
    )
    april = Period(start=date(2026, 4, 1), end=date(2026, 4, 14), tz=acme.timezone)
    settings.ANALYTICS_ROLLUPS = False
    raw = every_figure(fresh(acme), [april], Filters(), "day")
    settings.ANALYTICS_ROLLUPS = True
    stale = every_figure(fresh(acme), [april], Filters(), "day")
    assert stale == raw  # F3 has no conversion: nobody is credited, no figure moved
    from referrals.models import Conversion, Referral

    fay_referral = Referral.objects.get(friend=book["fay"])
    Conversion.objects.create(
        organization=acme,
        referral=fay_referral,
        source=fay_referral.source,
        customer=book["fay"],
        purchase=Purchase.objects.get(external_id="F3"),
        kind="purchase",
        external_id="F3",
        occurred_at=at(4, 13),
    )
    assert every_figure(fresh(acme), [april], Filters(), None)[1][0][None].net_revenue == Decimal(
        "370.00"
    )  # the rollup of 13 April is stale until the task runs
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=NOW + timedelta(hours=1)):
        assert refresh_rollups() >= 1
    settings.ANALYTICS_ROLLUPS = False
    raw = every_figure(fresh(acme), [april], Filters(), None)
    settings.ANALYTICS_ROLLUPS = True
    assert every_figure(fresh(acme), [april], Filters(), None) == raw
    assert raw[1][0][None].net_revenue == Decimal("385.00")


def test_the_command_rebuilds_every_organization(acme, globex, book, capsys):
    call_command("rebuild_analytics", "--no-progress")
    assert RollupState.objects.filter(organization__in=[acme, globex]).count() == 2
    assert "2 organization(s)" in capsys.readouterr().out


def test_the_pages_say_how_fresh_the_rollups_are_and_show_the_same_numbers(
    acme, book, login, charlie, settings
):
    client = login(charlie)
    march = {"period": "custom", "start": "2026-03-01", "end": "2026-03-31"}
    pages = [
        "/app/analytics/funnel/",
        "/app/analytics/revenue-and-cost/",
        "/app/analytics/sources/",
    ]
    live = {path: client.get(path, {**march, "export": "csv"}) for path in pages}
    live = {path: b"".join(r.streaming_content) for path, r in live.items()}
    assert "Every number is read live" in client.get(pages[0], march).content.decode()
    rollups.rebuild(organization=acme, now=NOW)
    html = client.get(pages[0], march).content.decode()
    assert "Days up to 14 Apr 2026 come from the daily rollups" in html
    for path in pages:
        rolled = b"".join(client.get(path, {**march, "export": "csv"}).streaming_content)
        assert rolled == live[path], path
