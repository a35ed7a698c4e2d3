"""The overview and the analytics pages. Each page reads its table once (``analytics.tables``)
and shows it, or with ``?export=csv`` streams the same table as CSV."""

from dataclasses import replace

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.tenancy import org_member_required
from analytics import facts, report, retention, rollups, selectors, tables, value
from analytics.series import series as read_series
from core.csv import csv_lines
from core.memory import no_garbage_collection

from .forms import PeriodForm

RETENTION_DEFAULT = "last_24_months"
SOURCES_PER_PAGE = 100


def _form(request, default="last_30_days"):
    form = PeriodForm(request.GET or None, organization=request.organization, default=default)
    if not request.GET:
        form = PeriodForm(organization=request.organization, default=default)
        form.is_valid()
    period, filters = form.period_and_filters()
    return form, period, filters


def _query(request, **changes) -> str:
    params = request.GET.copy()
    for key, val in changes.items():
        if val is None:
            params.pop(key, None)
        else:
            params[key] = val
    return "?" + params.urlencode() if params else "?"


def _export(request, table: tables.Table, period=None):
    org = request.organization
    when = (
        f"{period.start:%Y-%m-%d}-{period.end:%Y-%m-%d}"
        if period
        else f"{timezone.localdate():%Y-%m-%d}"
    )
    response = StreamingHttpResponse(
        csv_lines(table.csv_rows()), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{org.slug}-{table.name}-{when}.csv"'
    return response


def _wants_csv(request, name: str | None = None) -> bool:
    if request.GET.get("export") != "csv":
        return False
    return name is None or request.GET.get("table", name) == name


def _page(request, template, section, form, **context):
    org = request.organization
    context.update(section=section, form=form, rollups=rollups.state(org), facts=facts.state(org))
    context.setdefault("csv_url", _query(request, export="csv"))
    context.setdefault(
        "query", _query(request, export=None, sort=None, order=None, table=None, page=None)
    )
    return render(request, f"dashboard/analytics/{template}", context)


def _chart(kind: str, labels, datasets, **options) -> dict:
    return {"type": kind, "labels": list(labels), "datasets": datasets, **options}


def _dataset(label, data, color, dash=False, fill=None) -> dict:
    return {"label": label, "data": list(data), "color": color, "dash": dash, "fill": fill}


@org_member_required()
def overview(request):
    org = request.organization
    form, period, filters = _form(request)
    rep = report.report(organization=org, period=period, filters=filters)
    figures = []
    for key in ("clicks", "referrals", "customers_won", "referral_to_customer", "net_revenue",
                "new_business", "growth", "advocacy_revenue", "contribution_value",
                "value_per_customer_won", "cost", "breakage", "cash_paid", "roi"):  # fmt: skip
        f = tables.FIGURE[key]
        figures.append(
            {
                "figure": f,
                "current": tables._cell(
                    f.kind, tables.figure_value(rep.current, key), org.currency
                ),
                "previous": tables._cell(
                    f.kind, tables.figure_value(rep.previous, key), org.currency
                ),
                "url": f"analytics:{f.page}",
            }
        )
    top = report.top_sources_by_value(organization=org, period=period, filters=filters)
    context = {
        "report": rep,
        "period": period,
        "figures": figures,
        "query": _query(request, export=None),
        "top_by_value": top,
        # All time: the same figures over every day there is (whole days from the rollups).
        "stats": selectors.overview_all_time(organization=org),
        "series": selectors.monthly_series(organization=org),
        "kinds": selectors.by_source_kind(organization=org),
        "top_sources": selectors.top_sources(organization=org),
        "customers": selectors.customers_compared(organization=org),
    }
    return _page(request, "overview.html", "overview", form, **context)


@org_member_required()
def funnel(request):
    org = request.organization
    form, period, filters = _form(request)
    rep = report.report(organization=org, period=period, filters=filters, parts=["volume"])
    table = tables.figures_table(rep, org.currency, tables.FUNNEL_KEYS, "funnel")
    if _wants_csv(request):
        return _export(request, table, period)
    steps = ["clicks", "referrals", "signups", "customers_won"]
    chart = _chart(
        "bar",
        [tables.FIGURE[k].label for k in steps],
        [
            _dataset("This period", [getattr(rep.current.volume, k) for k in steps], "#2563eb"),
            _dataset(
                "Previous period", [getattr(rep.previous.volume, k) for k in steps], "#94a3b8"
            ),
        ],
    )
    definitions = [tables.FIGURE[k] for k in tables.FUNNEL_KEYS]
    return _page(request, "funnel.html", "funnel", form, report=rep, table=table, chart=chart,
                 definitions=definitions)  # fmt: skip


@org_member_required()
def money(request):
    org = request.organization
    form, period, filters = _form(request)
    rep = report.report(organization=org, period=period, filters=filters, parts=["revenue", "cost"])
    table = tables.figures_table(rep, org.currency, tables.MONEY_KEYS, "revenue-and-cost")
    if _wants_csv(request):
        return _export(request, table, period)
    definitions = [tables.FIGURE[k] for k in tables.MONEY_KEYS]
    return _page(request, "money.html", "money", form, report=rep, table=table,
                 definitions=definitions)  # fmt: skip


@org_member_required()
def series(request):
    org = request.organization
    form, period, filters = _form(request)
    data = read_series(organization=org, period=period, filters=filters)
    table = tables.series_table(data, org.currency)
    if _wants_csv(request):
        return _export(request, table, period)
    counts = _chart(
        "line",
        data["labels"],
        [
            _dataset("Clicks", data["clicks"], "#94a3b8"),
            _dataset("Referrals", data["referrals"], "#2563eb"),
            _dataset("Signups", data["signups"], "#a855f7"),
            _dataset("Customers won", data["customers_won"], "#16a34a"),
        ],
    )
    money_chart = _chart(
        "line",
        data["labels"],
        [
            _dataset("Net revenue", data["net_revenue"], "#16a34a"),
            _dataset("Reward cost", data["cost"], "#dc2626"),
        ],
    )
    return _page(request, "series.html", "series", form, period=period, table=table,
                 counts=counts, money_chart=money_chart)  # fmt: skip


@org_member_required()
@no_garbage_collection()  # sorted by a column or exported: every source's figures at once
def sources(request):
    org = request.organization
    form, period, filters = _form(request)
    sort = request.GET.get("sort", "")
    descending = request.GET.get("order", "desc") != "asc"
    # The page shows the ranked rows a hundred at a time (an organization may have 50,000
    # sources) and makes the cells of those alone; the CSV has every row. In the default
    # order (the value of the customers won) the ranking needs that value alone, and the
    # page reads the figures of its hundred.
    if not sort and not _wants_csv(request):
        ids = report.ranked_source_ids(organization=org, period=period, filters=filters)
        page = Paginator(ids, SOURCES_PER_PAGE).get_page(request.GET.get("page"))
        shown = replace(filters, source_ids=tuple(page.object_list))
        rows = (
            report.source_rows(organization=org, period=period, filters=shown)
            if page.object_list
            else []
        )
    else:
        rows = report.source_rows(organization=org, period=period, filters=filters)
        if sort:
            rows = tables.sort_source_rows(rows, sort, descending)
        if _wants_csv(request):
            return _export(request, tables.sources_table(rows, org.currency), period)
        page = Paginator(rows, SOURCES_PER_PAGE).get_page(request.GET.get("page"))
        rows = list(page.object_list)
    table = tables.sources_table(rows, org.currency)
    headers = []
    for column in table.columns:
        again = sort == column.key and descending
        order = "asc" if again else "desc"
        headers.append(
            {
                "column": column,
                "url": _query(request, sort=column.key, order=order, export=None, page=None),
                "active": sort == column.key,
                "descending": descending,
            }
        )
    pages = {
        "page": page,
        "previous_url": _query(request, page=page.number - 1) if page.has_previous() else "",
        "next_url": _query(request, page=page.number + 1) if page.has_next() else "",
    }
    return _page(request, "sources.html", "sources", form, period=period, table=table,
                 headers=headers, csv_url=_query(request, export="csv", page=None),
                 **pages)  # fmt: skip


@org_member_required()
def cohorts(request):
    org = request.organization
    form, period, _ = _form(request, default=RETENTION_DEFAULT)
    rows = retention.cohorts(organization=org, period=period)
    table = tables.cohorts_table(rows, org.currency)
    if _wants_csv(request):
        return _export(request, table, period)
    # Cohorts are not filtered by program or source: no pickers (5,000 sources' options
    # took most of the page's time once the figures came from the cohort rollups).
    return _page(request, "cohorts.html", "cohorts", form, period=period, table=table,
                 spans=retention.SPANS, no_filters=True)  # fmt: skip


@org_member_required()
def compare(request):
    org = request.organization
    form, period, _ = _form(request, default=RETENTION_DEFAULT)
    rows = retention.referred_vs_other(organization=org, period=period)
    table = tables.compare_table(rows, org.currency)
    if _wants_csv(request):
        return _export(request, table, period)
    days = [f"{c.days} days" for c in rows]

    def series_of(group, attr, as_share):
        out = {"value": [], "low": [], "high": []}
        for c in rows:
            interval = getattr(getattr(c, group), attr)
            for part in out:
                v = getattr(interval, part) if interval is not None else None
                out[part].append(None if v is None else round(float(v * 100 if as_share else v), 2))
        return out

    charts = {}
    for name, attr, as_share in (("shares", "share", True), ("revenue", "revenue_interval", False)):
        datasets = []
        groups = (("referred", "Referred", "#16a34a"), ("other", "Not referred", "#64748b"))
        for group, label, color in groups:
            s = series_of(group, attr, as_share)
            datasets += [
                _dataset(label, s["value"], color),
                _dataset(f"{label}: 95% low", s["low"], color, dash=True),
                _dataset(f"{label}: 95% high", s["high"], color, dash=True),
            ]
        charts[name] = _chart("line", days, datasets)
    return _page(request, "compare.html", "compare", form, period=period, table=table,
                 rows=rows, charts=charts, min_sample=retention.MIN_SAMPLE,
                 no_filters=True)  # fmt: skip


@org_member_required()
@no_garbage_collection()  # every source's figures and ranking live until the response
def projected(request):
    org = request.organization
    form, _, filters = _form(request)
    sources, kinds = value.ranked(organization=org, filters=filters)
    by_kind = tables.value_table(kinds, org.currency, "kind")
    if _wants_csv(request, "value_source"):
        return _export(request, tables.value_table(sources, org.currency, "source"))
    if _wants_csv(request, by_kind.name):
        return _export(request, by_kind)
    # A hundred sources a page, in the ranking of them all (50,000 rows took seconds to
    # build and show); the CSV has every source.
    page = Paginator(sources, SOURCES_PER_PAGE).get_page(request.GET.get("page"))
    by_source = tables.value_table(page.object_list, org.currency, "source")
    return _page(
        request,
        "value.html",
        "value",
        form,
        by_source=by_source,
        by_kind=by_kind,
        page=page,
        previous_url=_query(request, page=page.number - 1) if page.has_previous() else "",
        next_url=_query(request, page=page.number + 1) if page.has_next() else "",
        source_csv=_query(request, export="csv", table=by_source.name, page=None),
        kind_csv=_query(request, export="csv", table=by_kind.name, page=None),
        min_customers=value.MIN_CUSTOMERS_FOR_OWN_RETENTION,
        no_period=True,
    )


@org_member_required()
def source_export(request):
    """Every source with its figures, as CSV: the same figures as the overview's tables."""
    org = request.organization
    rows = selectors.source_export_rows(organization=org)
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    name = f"{org.slug}-source-figures-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
