"""The analytics pages show the book's hand-computed figures (tests/analytics/book.py), and
each table's CSV export carries exactly the page's numbers."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.html import escape

from accounts.models import ReferralSource
from analytics import report, retention, tables, value
from analytics.period import Filters
from dashboard.analytics import views
from tests.analytics.book import build
from tests.analytics.test_value import LADDER, ladder, won
from tests.factories import ProgramFactory, ReferralSourceFactory

MARCH = {"period": "custom", "start": "2026-03-01", "end": "2026-03-31"}
PAGES = {
    "funnel": "/app/analytics/funnel/",
    "money": "/app/analytics/revenue-and-cost/",
    "series": "/app/analytics/series/",
    "sources": "/app/analytics/sources/",
    "cohorts": "/app/analytics/cohorts/",
    "compare": "/app/analytics/referred-vs-not/",
    "value": "/app/analytics/value/",
}


@pytest.fixture
def book(acme, program, source):
    return build(acme, program, source)


@pytest.fixture
def analyst(login, charlie):
    return login(charlie)


def csv_of(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def figure(table, label):
    """The (this period, previous period) texts of a figures table's row."""
    for row in table.rows:
        if row[0].text == label:
            return row[1].text, row[2].text
    raise AssertionError(label)


def assert_csv_is_the_page(client, path, params, table_key="table", **extra):
    page = client.get(path, params)
    assert page.status_code == 200
    table = page.context[table_key]
    html = page.content.decode()
    for row in table.rows:
        for cell in row:
            assert escape(cell.text) in html, cell.text
    rows = csv_of(client.get(path, {**params, "export": "csv", **extra}))
    assert rows[0] == [c.label for c in table.columns]
    assert rows[1:] == [[str(cell.value) for cell in row] for row in table.rows]
    return table, rows


def test_the_funnel_page_shows_the_period_beside_the_previous_one(analyst, book):
    table, rows = assert_csv_is_the_page(analyst, PAGES["funnel"], MARCH)
    assert figure(table, "Clicks") == ("4", "1")
    assert figure(table, "… by phone") == ("0", "1")
    assert figure(table, "Customers won") == ("2", "0")
    assert figure(table, "Signup → customer") == ("100.0%", "0.0%")
    assert ["Referral → signup", "50.0", "100.0"] in rows


def test_a_rate_with_nothing_before_it_shows_n_a(analyst, book):
    page = analyst.get(PAGES["funnel"], {**MARCH, "source": book["ada"].pk})
    assert figure(page.context["table"], "Click → referral") == ("200.0%", "n/a")
    rows = csv_of(
        analyst.get(PAGES["funnel"], {**MARCH, "source": book["ada"].pk, "export": "csv"})
    )
    assert ["Click → referral", "200.0", "n/a"] in rows


def test_the_revenue_and_cost_page(analyst, book):
    table, rows = assert_csv_is_the_page(analyst, PAGES["money"], MARCH)
    assert figure(table, "Net revenue") == ("€1,110.00", "€80.00")
    assert figure(table, "New business") == ("€550.00", "€0.00")
    assert figure(table, "Growth of existing relationships") == ("€560.00", "€80.00")
    assert figure(table, "Advocacy revenue") == ("€500.00", "€0.00")
    assert figure(table, "Insider contributions") == ("€250.00", "€40.00")
    assert figure(table, "Reward cost") == ("€55.00", "€8.00")
    assert figure(table, "… to friends") == ("€10.00", "€0.00")
    assert figure(table, "Unrecovered debt") == ("€12.00", "€0.00")
    assert figure(table, "Breakage") == ("€10.00", "€8.00")
    assert figure(table, "Cash paid") == ("€25.00", "€0.00")
    assert figure(table, "ROI") == ("909.1%", "400.0%")
    assert ["Net revenue", "1110.00", "80.00"] in rows
    assert "gross margin 0.5000" in analyst.get(PAGES["money"], MARCH).content.decode()


def test_the_sources_table_has_every_column_sorts_and_exports_its_order(analyst, book):
    table, rows = assert_csv_is_the_page(analyst, PAGES["sources"], MARCH)
    assert [r[0] for r in rows[1:]] == ["Ada", "Sam Source"]  # by value of customers sent
    header = rows[0]
    ada = dict(zip(header, rows[1], strict=True))
    assert ada["Net revenue"] == "900.00" and ada["Advocacy revenue"] == "500.00"
    assert ada["Value of customers won"] == "470.00" and ada["ROI (%)"] == "1700.0"
    assert ada["By phone"] == "0" and ada["In person"] == "1" and ada["Through the API"] == "1"
    assert ada["Insider contributions"] == "250.00" and ada["Cash paid"] == "25.00"
    sam = dict(zip(header, rows[2], strict=True))
    assert sam["Unrecovered debt"] == "12.00" and sam["Reward cost"] == "30.00"
    by_revenue = {**MARCH, "sort": "net_revenue", "order": "asc"}
    _, rows = assert_csv_is_the_page(analyst, PAGES["sources"], by_revenue)
    assert [r[0] for r in rows[1:]] == ["Sam Source", "Ada"]


def test_the_sources_page_shows_a_hundred_ranked_sources_at_a_time_the_csv_all(analyst, acme, book):
    for n in range(120):
        ReferralSourceFactory(organization=acme, name=f"Quiet {n:03}", kind="partner")
    first = analyst.get(PAGES["sources"], MARCH)
    rows = first.context["table"].rows
    assert len(rows) == 100 and [r[0].text for r in rows[:2]] == ["Ada", "Sam Source"]
    html = first.content.decode()
    assert "Sources 1–100 of 122" in html and "page=2" in html
    second = analyst.get(PAGES["sources"], {**MARCH, "page": "2"})
    assert len(second.context["table"].rows) == 22
    assert "Sources 101–122 of 122" in second.content.decode()
    exported = csv_of(analyst.get(PAGES["sources"], {**MARCH, "page": "2", "export": "csv"}))
    assert len(exported) == 1 + 122 and exported[1][0] == "Ada"


def test_every_sort_of_the_sources_pages_is_the_order_of_the_whole_table(analyst, acme, book):
    """The page sorts the sources' rows and makes the cells of its hundred alone: for every
    column, both ways, the pages one after the other are the whole table sorted by its
    cells, and the CSV is that table."""
    for n in range(120):
        ReferralSourceFactory(organization=acme, name=f"Quiet {n % 7} {n:03}", kind="partner")
    period, filters = _period_and_filters(acme)
    whole = tables.sources_table(
        report.source_rows(organization=acme, period=period, filters=filters), acme.currency
    )
    for column in tables.SOURCE_COLUMNS:
        for order in ("asc", "desc"):
            expected = _sorted_by_cells(whole, column, descending=order == "desc")
            query = {**MARCH, "sort": column.key, "order": order}
            shown = []
            for number in (1, 2):
                page = analyst.get(PAGES["sources"], {**query, "page": str(number)})
                shown += [[c.text for c in row] for row in page.context["table"].rows]
            assert shown == [[c.text for c in row] for row in expected.rows], (column.key, order)
            exported = csv_of(analyst.get(PAGES["sources"], {**query, "export": "csv"}))
            assert exported[1:] == [[str(c.value) for c in row] for row in expected.rows]
    # The default order (value of the customers won, then name) ranks on that value alone
    # and reads the figures of each page's sources: the same rows as the whole table.
    shown = []
    for number in (1, 2):
        page = analyst.get(PAGES["sources"], {**MARCH, "page": str(number)})
        shown += [[c.text for c in row] for row in page.context["table"].rows]
    assert len(shown) == 122 and shown == [[c.text for c in row] for row in whole.rows]
    assert shown[0][0] == "Ada" and shown[1][0] == "Sam Source"


@pytest.mark.parametrize("rolled_up", [False, True])
def test_the_sources_pages_in_their_default_order_one_source_a_page(
    analyst, acme, book, monkeypatch, rolled_up
):
    """One source a page: the first pages come from the sources with value alone (ties by
    name; ranked in the database once the rollups are built), the later ones from every
    source; together they are the whole table's order."""
    from analytics import rollups
    from tests.analytics.book import at
    from tests.analytics.test_rollups import _sourced

    for name in ("Tie B", "Tie A"):
        _sourced(acme, book, name, "300.00", at(3, 20), won=at(3, 10))
    for n in range(3):
        ReferralSourceFactory(organization=acme, name=f"Quiet {n}", kind="partner")
    if rolled_up:
        rollups.rebuild(organization=acme)
        assert rollups.won_built(acme)
    period, filters = _period_and_filters(acme)
    whole = tables.sources_table(
        report.source_rows(organization=acme, period=period, filters=filters), acme.currency
    )
    monkeypatch.setattr(views, "SOURCES_PER_PAGE", 1)
    shown = []
    for number in range(1, len(whole.rows) + 1):
        page = analyst.get(PAGES["sources"], {**MARCH, "page": str(number)})
        shown += [[c.text for c in row] for row in page.context["table"].rows]
    assert shown == [[c.text for c in row] for row in whole.rows]
    assert [row[0] for row in shown[:4]] == ["Ada", "Sam Source", "Tie A", "Tie B"]
    ids = report.ranked_source_ids(organization=acme, period=period, filters=filters)
    assert len(ids) == len(whole.rows) and "_all" not in ids.__dict__
    assert ids[2:4] == [
        s.pk for s in (ReferralSource.objects.get(name=n) for n in ("Tie A", "Tie B"))
    ]
    assert "_all" not in ids.__dict__  # the leading ones alone were read
    assert list(ids[4:]) == list(ids._all[4:]) and len(ids[4:]) == len(whole.rows) - 4


def _sorted_by_cells(table, column, *, descending: bool):
    """The table's rows ordered by one column's cells: their values (text for a column of
    text), the cells without a number ("n/a") last, in the order they had."""
    i = table.columns.index(column)
    with_value = [r for r in table.rows if not column.numeric or r[i].value != "n/a"]
    without = [r for r in table.rows if column.numeric and r[i].value == "n/a"]
    with_value.sort(key=lambda r: r[i].value, reverse=descending)
    return tables.Table(table.name, table.columns, with_value + without)


def _period_and_filters(organization):
    from dashboard.analytics.forms import PeriodForm

    form = PeriodForm(MARCH, organization=organization)
    assert form.is_valid(), form.errors
    return form.period_and_filters()


def test_the_series_page_draws_from_the_same_buckets_it_exports(analyst, book):
    table, rows = assert_csv_is_the_page(analyst, PAGES["series"], MARCH)
    assert rows[1][:2] == ["2026-03-01", "1"]
    assert sum(Decimal(r[6]) for r in rows[1:]) == Decimal("1110.00")
    page = analyst.get(PAGES["series"], {**MARCH, "program": book["program"].pk})
    assert 'id="series-counts"' in page.content.decode()
    assert sum(page.context["counts"]["datasets"][0]["data"]) == 3  # Sam's program's clicks


def test_the_cohort_and_comparison_pages_say_how_many_customers_and_when_too_few(analyst, book):
    wide = {"period": "custom", "start": "2026-01-01", "end": "2026-04-30"}
    table, rows = assert_csv_is_the_page(analyst, PAGES["cohorts"], wide)
    months = [r[0] for r in rows[1:]]
    assert months == ["2026-01", "2026-01", "2026-03", "2026-03"]
    march_referred = dict(zip(rows[0], rows[3], strict=True))
    assert march_referred["Number"] == "2"  # Fay and Hal; Olga started long ago
    table, rows = assert_csv_is_the_page(analyst, PAGES["compare"], wide)
    html = analyst.get(PAGES["compare"], wide).content.decode()
    assert f"fewer than {retention.MIN_SAMPLE} customers" in html
    assert "sample too small to tell" in html
    assert all(r[-1] == "yes" for r in rows[1:])


def test_the_value_page_writes_its_formula_and_exports_both_tables(analyst, book):
    page = analyst.get(PAGES["value"])
    html = page.content.decode()
    assert "Projected value = Σ<sub>t=1..H</sub> R × p<sup>t−1</sup> ÷ (1 + d)<sup>t</sup>" in html
    assert f"fewer than {value.MIN_CUSTOMERS_FOR_OWN_RETENTION}" in html
    _, rows = assert_csv_is_the_page(
        analyst, PAGES["value"], {}, table_key="by_source", table="value_source"
    )
    historic = {r[0]: r[1] for r in rows[1:]}
    # Ada: Hal 400 + 70, Olga's 500 by advocacy; Sam: Zoe 120 + 80 + 60, Fay 200 - 50 + 300.
    assert historic == {"Ada": "970.00", "Sam Source": "710.00"}
    _, rows = assert_csv_is_the_page(
        analyst, PAGES["value"], {}, table_key="by_kind", table="value_kind"
    )
    assert {r[0] for r in rows[1:]} == {"Agent", "Customer"}


def test_a_period_that_ends_before_it_starts_is_a_form_error(analyst, book):
    bad = {"period": "custom", "start": "2026-03-31", "end": "2026-03-01"}
    for path in PAGES.values():
        response = analyst.get(path, bad)
        assert response.status_code == 200, path
        assert "The last day cannot come before the first." in response.content.decode(), path
    response = analyst.get(PAGES["funnel"], {"period": "someday", "start": "soon"})
    assert response.status_code == 200 and response.context["form"].errors


def test_a_period_beyond_the_calendar_is_a_form_error(analyst, book):
    # The last day of 9999 has no day after it to end on, and the period before one in
    # year 1 would start before year 1: each page answered 500 to these.
    for start, end in (("9999-12-01", "9999-12-31"), ("0001-01-01", "0001-01-31")):
        for path in (*PAGES.values(), "/app/"):
            response = analyst.get(path, {"period": "custom", "start": start, "end": end})
            assert response.status_code == 200, (path, start)
            assert response.context["form"].errors, (path, start)


def test_the_overview_links_each_figure_to_the_page_that_explains_it(analyst, book):
    page = analyst.get("/app/", MARCH)
    html = page.content.decode()
    figures = {f["figure"].key: f for f in page.context["figures"]}
    assert figures["net_revenue"]["current"].text == "€1,110.00"
    assert figures["net_revenue"]["previous"].text == "€80.00"
    assert figures["roi"]["current"].text == "909.1%"
    for key, f in figures.items():
        assert escape(f["figure"].definition) in html, key
    assert 'href="/app/analytics/revenue-and-cost/?period=custom' in html
    assert 'href="/app/analytics/funnel/?period=custom' in html
    top = [s["name"] for s in page.context["top_by_value"]]
    assert top == ["Ada", "Sam Source"]


def test_another_tenant_sees_none_of_it(login, eve, book):
    client = login(eve)
    for path in PAGES.values():
        response = client.get(
            path, {"period": "custom", "start": "2026-01-01", "end": "2026-04-30"}
        )
        assert response.status_code == 200
        assert (
            "Ada" not in response.content.decode() and "Sam Source" not in response.content.decode()
        )


@pytest.mark.parametrize("rolled_up", [False, True])
def test_pages_run_a_number_of_queries_that_does_not_grow_with_the_data(
    analyst, acme, book, django_assert_max_num_queries, rolled_up
):
    from analytics import rollups

    for n in range(25):
        ReferralSourceFactory(organization=acme, name=f"S{n}", kind="partner")
    if rolled_up:
        rollups.rebuild(organization=acme)
    # 21: the page's figures, and how fresh the daily rollups and the customer facts are;
    # the sources page 3 more: its ranking (the value of the customers won, how many
    # sources, their ids in order) before the figures of the page's sources.
    for name, path in PAGES.items():
        with django_assert_max_num_queries(24 if name == "sources" else 21, info=name):
            assert analyst.get(path, MARCH).status_code == 200
        with django_assert_max_num_queries(21, info=name):
            analyst.get(path, {**MARCH, "export": "csv"})
    # The period's figures, then the all-time tiles, kinds, top sources and monthly chart,
    # each reading every kind of row once (whole days from the rollups, today from the rows).
    # With the rollups, one more: the accounts that ever owed (the debts of the previous
    # period move those alone back from the balance snapshot).
    with django_assert_max_num_queries(66, info="overview"):
        assert analyst.get("/app/", MARCH).status_code == 200


# The value page: a page of the ranking of every source, the CSV all of it --------------------


def texts(table) -> list[list[str]]:
    return [[cell.text for cell in row] for row in table.rows]


def everything(acme, **filters) -> tables.Table:
    return tables.value_table(
        value.values(organization=acme, filters=Filters(**filters)), "EUR", "source"
    )


def test_the_value_page_pages_the_ranking_and_its_csv_has_every_source(
    analyst, acme, program, source, monkeypatch
):
    ladder(acme, program, source, timezone.now())
    monkeypatch.setattr(views, "SOURCES_PER_PAGE", 4)
    expected = everything(acme)
    shown = []
    for number in (1, 2, 3):
        page = analyst.get(PAGES["value"], {"page": number})
        rows = texts(page.context["by_source"])
        assert len(rows) == (4 if number < 3 else 1)
        shown += rows
    assert shown == texts(expected)  # the second page begins where the first ended
    assert [row[0] for row in shown] == LADDER
    first = analyst.get(PAGES["value"])
    html = first.content.decode()
    assert "Sources 1–4 of 9" in html and first.context["next_url"] == "?page=2"
    assert "Previous" not in html
    last = analyst.get(PAGES["value"], {"page": 3})
    assert "Sources 9–9 of 9" in last.content.decode()
    assert last.context["previous_url"] == "?page=2" and not last.context["next_url"]
    assert texts(last.context["by_kind"]) == texts(
        tables.value_table(value.values(organization=acme, by="kind"), "EUR", "kind")
    )
    for params in ({"page": 2, "export": "csv", "table": "value_source"}, {"export": "csv"}):
        rows = csv_of(analyst.get(PAGES["value"], params))
        assert rows[0] == [c.label for c in expected.columns]
        assert rows[1:] == [[str(cell.value) for cell in row] for row in expected.rows]
    rows = csv_of(analyst.get(PAGES["value"], {"page": 2, "export": "csv", "table": "value_kind"}))
    assert [r[0] for r in rows[1:]] == ["Customer", "Agent", "Partner"]


def test_the_value_pages_filters_page_and_export_the_filtered_ranking(
    analyst, acme, program, source, monkeypatch
):
    ladder(acme, program, source, timezone.now())
    monkeypatch.setattr(views, "SOURCES_PER_PAGE", 2)
    partners = [name for name in LADDER if name not in ("Sam Source", "Ada")]
    shown = []
    for number in (1, 2, 3, 4):
        page = analyst.get(PAGES["value"], {"kind": "partner", "page": number})
        shown += texts(page.context["by_source"])
    assert shown == texts(everything(acme, source_kind="partner"))
    assert [row[0] for row in shown] == partners
    assert page.context["previous_url"] == "?kind=partner&page=3"
    rows = csv_of(analyst.get(PAGES["value"], {"kind": "partner", "page": 2, "export": "csv"}))
    assert [r[0] for r in rows[1:]] == partners
    ada = ReferralSource.objects.get(organization=acme, name="Ada")
    page = analyst.get(PAGES["value"], {"source": ada.pk})
    assert [row[0] for row in texts(page.context["by_source"])] == ["Ada"]
    assert [row[0] for row in texts(page.context["by_kind"])] == ["Agent"]
    later = ProgramFactory(organization=acme, name="Later")
    won(acme, later, source, "new", timezone.now() - timedelta(days=10))
    page = analyst.get(PAGES["value"], {"program": later.pk, "page": 5})
    rows = texts(page.context["by_source"])
    assert rows == [["Émile", "€0.00", "€0.00", "0", "0", "n/a", "the program", "n/a"]]


def test_a_page_number_out_of_range_or_garbage_shows_a_page(analyst, acme, program, source):
    ladder(acme, program, source, timezone.now())
    for number in ("abc", "0", "-3", "99", "1e9", "", "2"):
        page = analyst.get(PAGES["value"], {"page": number})
        assert page.status_code == 200, number
        assert texts(page.context["by_source"])[0][0] == "Sam Source", number  # one page


def test_the_value_pages_hundred_rows_and_their_queries_do_not_grow_with_the_sources(
    analyst, acme, program, source, django_assert_max_num_queries
):
    ladder(acme, program, source, timezone.now())
    ReferralSource.objects.bulk_create(
        ReferralSource(
            organization=acme, name=f"Quiet {n:04}", kind="partner", portal_token=f"q{n}"
        )
        for n in range(150)
    )
    expected = texts(everything(acme))
    with django_assert_max_num_queries(19):  # the session's, the filters', the figures'
        first = analyst.get(PAGES["value"])
    with django_assert_max_num_queries(19):
        second = analyst.get(PAGES["value"], {"page": 2})
    assert texts(first.context["by_source"]) == expected[:100]
    assert texts(second.context["by_source"]) == expected[100:]
    assert "Sources 101–159 of 159" in second.content.decode()
    ReferralSource.objects.bulk_create(
        ReferralSource(organization=acme, name=f"More {n:04}", kind="agent", portal_token=f"m{n}")
        for n in range(1000)
    )
    with django_assert_max_num_queries(19):
        assert len(analyst.get(PAGES["value"], {"page": 7}).context["by_source"].rows) == 100


def test_the_value_and_sources_pages_rank_without_garbage_collection_and_turn_it_back_on(
    analyst, acme, program, source, monkeypatch
):
    """Their rankings build every source's figures at once: no collection while they do."""
    import gc

    ladder(acme, program, source, timezone.now())
    seen = []
    ranked, rows = value.ranked, report.source_rows

    def spy(read):
        def during(**kwargs):
            seen.append(gc.isenabled())
            return read(**kwargs)

        return during

    monkeypatch.setattr(value, "ranked", spy(ranked))
    monkeypatch.setattr(report, "source_rows", spy(rows))
    assert analyst.get(PAGES["value"]).status_code == 200
    assert analyst.get(PAGES["sources"], {"sort": "clicks"}).status_code == 200
    assert seen == [False, False] and gc.isenabled()
