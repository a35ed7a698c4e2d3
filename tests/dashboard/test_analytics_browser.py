"""The analytics pages in chromium: their charts are drawn by static/js/analytics.js from
the data each page embeds, with nothing refused by the Content-Security-Policy."""

import pytest
from django.test import Client

from tests.analytics.book import build
from tests.test_csp_browser import _visit, _watched_context

MARCH = "?period=custom&start=2026-03-01&end=2026-03-31"
CHARTS = {
    f"/app/analytics/funnel/{MARCH}": ["funnel-chart"],
    f"/app/analytics/series/{MARCH}": ["series-counts", "series-money"],
    "/app/analytics/referred-vs-not/?period=custom&start=2026-01-01&end=2026-04-30": [
        "compare-shares",
        "compare-revenue",
    ],
}


@pytest.mark.e2e
def test_analytics_charts_draw_under_the_policy(
    browser, live_server, transactional_db, acme, alice, program, source
):
    build(acme, program, source)
    client = Client()
    client.force_login(alice)
    staff = _watched_context(browser, live_server.url)
    staff.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    problems: list[str] = []
    pages = [
        f"/app/{MARCH}",
        f"/app/analytics/revenue-and-cost/{MARCH}",
        f"/app/analytics/sources/{MARCH}",
        "/app/analytics/cohorts/",
        "/app/analytics/value/",
        *CHARTS,
    ]
    for path in pages:
        page = staff.new_page()
        _visit(page, path, problems)
        for chart in CHARTS.get(path, []):
            drawn = page.evaluate(
                f"Chart.getChart(document.querySelector('canvas[data-chart=\"{chart}\"]'))"
                ".data.datasets.length"
            )
            assert drawn >= 2, (path, chart)
        page.close()
    staff.close()
    assert problems == []
