"""Every analytics table, built once for both its page and its CSV export.

A ``Table`` holds columns and rows of cells; each cell carries the value the CSV writes
(``value``: an int, a Decimal to the displayed precision, or text such as "n/a") and the
text the page shows (``text``: the same number with its currency or percent sign). Both come
from one selector call, so the page and its CSV cannot disagree.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.money import cents, format_money

from .report import Figures, Funnel, Report, SourceRow
from .retention import SPANS, Cohort, SpanComparison
from .stats import Interval
from .value import ValueRow

NA = "n/a"
ONE_DECIMAL = Decimal("0.1")


class Cell:
    """A value and its text. A money cell formats its text when it is first shown (Babel
    takes about 0.1 ms a number): a table of 50,000 sources shows a page of them, and its
    CSV writes the values alone."""

    __slots__ = ("_currency", "_text", "value")

    def __init__(self, value: Any, text: str | None = None, currency: str = ""):
        self.value, self._text, self._currency = value, text, currency

    @property
    def text(self) -> str:
        if self._text is None and self._currency:
            self._text = format_money(self.value, self._currency)
        return self._text  # type: ignore[return-value]

    def __eq__(self, other) -> bool:
        return isinstance(other, Cell) and (self.value, self.text) == (other.value, other.text)

    def __hash__(self) -> int:
        return hash((self.value, self.text))

    def __repr__(self) -> str:
        return f"Cell({self.value!r}, {self.text!r})"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    numeric: bool = True


@dataclass
class Table:
    name: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)

    def csv_rows(self) -> Iterator[list]:
        yield [c.label for c in self.columns]
        for row in self.rows:
            yield [cell.value for cell in row]


# Cells ------------------------------------------------------------------------------------


def text(value: str) -> Cell:
    return Cell(value, value)


def integer(value: int | None) -> Cell:
    return Cell(NA, NA) if value is None else Cell(value, f"{value:,}")


def _unsigned_zero(value: Decimal) -> Decimal:
    """-0.0 (a small negative rounded away) reads as 0.0: a sign on nothing misleads."""
    return abs(value) if value.is_zero() else value


def money(value: Decimal | None, currency: str) -> Cell:
    if value is None:
        return Cell(NA, NA)
    return Cell(_unsigned_zero(value), currency=currency)


def percent(value: Decimal | None) -> Cell:
    """A percentage already computed (e.g. a rate), or None: "n/a"."""
    return Cell(NA, NA) if value is None else Cell(value, f"{value}%")


def share(value: Decimal | None) -> Cell:
    """A fraction of 1 shown as a percentage to one decimal."""
    if value is None:
        return Cell(NA, NA)
    pct = _unsigned_zero((value * 100).quantize(ONE_DECIMAL))
    return Cell(pct, f"{pct}%")


def yes_no(value: bool) -> Cell:
    return text("yes" if value else "no")


# The figures of a period, beside the previous period ---------------------------------------


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    definition: str
    kind: str  # "int", "money", "percent"
    page: str  # the URL name of the page that explains it


FIGURES = [
    Figure("clicks", "Clicks", "Visits of a referral link in the period.", "int", "funnel"),
    Figure(
        "referrals", "Referrals", "Friends introduced in the period, any channel.", "int", "funnel"
    ),
    Figure("referrals_link", "… by link", "Referrals left through a link.", "int", "funnel"),
    Figure("referrals_email", "… by email", "Introduced by email.", "int", "funnel"),
    Figure("referrals_phone", "… by phone", "Introduced by phone.", "int", "funnel"),
    Figure("referrals_in_person", "… in person", "Introduced in person.", "int", "funnel"),
    Figure(
        "referrals_api", "… through the API", "Sent by the business's systems.", "int", "funnel"
    ),
    Figure("signups", "Signups", "Referred friends who signed up in the period.", "int", "funnel"),
    Figure(
        "customers_won",
        "Customers won",
        "Referrals that became customers in the period.",
        "int",
        "funnel",
    ),
    Figure(
        "purchases",
        "Purchases",
        "Purchases credited to a source in the period (refunds aside).",
        "int",
        "funnel",
    ),
    Figure(
        "click_to_referral", "Click → referral", "Referrals per 100 clicks.", "percent", "funnel"
    ),
    Figure(
        "referral_to_signup", "Referral → signup", "Signups per 100 referrals.", "percent", "funnel"
    ),
    Figure(
        "signup_to_customer",
        "Signup → customer",
        "Customers won per 100 signups.",
        "percent",
        "funnel",
    ),
    Figure(
        "referral_to_customer",
        "Referral → customer",
        "Customers won per 100 referrals.",
        "percent",
        "funnel",
    ),
    Figure(
        "net_revenue",
        "Net revenue",
        "Purchases minus refunds credited to a source, in the period.",
        "money",
        "money",
    ),
    Figure(
        "new_business",
        "New business",
        "The part from customers won in the period.",
        "money",
        "money",
    ),
    Figure(
        "growth",
        "Growth of existing relationships",
        "The part from customers won before, and advocacy.",
        "money",
        "money",
    ),
    Figure(
        "advocacy_revenue",
        "Advocacy revenue",
        "Bought by existing customers a source moved to buy (part of growth).",
        "money",
        "money",
    ),
    Figure(
        "contribution_value",
        "Insider contributions",
        "What staff valued insiders' tips at; not revenue, kept apart.",
        "money",
        "money",
    ),
    Figure(
        "value_of_customers_won",
        "Value of customers won",
        "Net revenue to date of the customers won in the period.",
        "money",
        "sources",
    ),
    Figure(
        "value_per_customer_won",
        "… per customer won",
        "That value divided by the customers won.",
        "money",
        "sources",
    ),
    Figure(
        "cost",
        "Reward cost",
        "Rewards to both sides issued in the period, net of voids and clawbacks.",
        "money",
        "money",
    ),
    Figure(
        "referrer_cost", "… to sources", "The part given to those who referred.", "money", "money"
    ),
    Figure(
        "friend_cost",
        "… to friends",
        "The part given to the friends they referred.",
        "money",
        "money",
    ),
    Figure(
        "voided",
        "Voided",
        "Rewards issued in the period and voided since (not in the cost).",
        "money",
        "money",
    ),
    Figure(
        "taken_back",
        "Clawed back",
        "Taken back from kept rewards by partial refunds (not in the cost).",
        "money",
        "money",
    ),
    Figure(
        "unrecovered_debt",
        "Unrecovered debt",
        "Owed by holders at the end of the period: clawbacks their credit could not cover.",
        "money",
        "money",
    ),
    Figure("breakage", "Breakage", "Credit that expired unused in the period.", "money", "money"),
    Figure("cash_paid", "Cash paid", "Payouts paid in the period.", "money", "money"),
    Figure(
        "roi",
        "ROI",
        "(net revenue × gross margin − reward cost) ÷ reward cost; n/a without cost.",
        "percent",
        "money",
    ),
]
FIGURE = {f.key: f for f in FIGURES}


def figure_value(figures: Figures, key: str):
    v, r, c = figures.volume, figures.revenue, figures.cost
    if key.startswith("referrals_"):
        return v.by_channel[key.removeprefix("referrals_")]
    if key == "roi":
        return figures.roi
    for obj in (v, figures.funnel, r, c):
        if hasattr(obj, key):
            return getattr(obj, key)
    raise KeyError(key)


def _cell(kind: str, value, currency: str) -> Cell:
    if kind == "text":
        return text(value)
    if kind == "money":
        return money(value, currency)
    if kind == "percent":
        return percent(value)
    return integer(value)


def figures_table(report: Report, currency: str, keys: list[str], name: str) -> Table:
    table = Table(
        name,
        [
            Column("figure", "Figure", numeric=False),
            Column("current", f"{report.period.label()}"),
            Column("previous", f"{report.previous_period.label()}"),
        ],
    )
    for key in keys:
        f = FIGURE[key]
        table.rows.append(
            [
                text(f.label),
                _cell(f.kind, figure_value(report.current, key), currency),
                _cell(f.kind, figure_value(report.previous, key), currency),
            ]
        )
    return table


FUNNEL_KEYS = [f.key for f in FIGURES if f.page == "funnel"]
MONEY_KEYS = [f.key for f in FIGURES if f.page == "money"]


# Sources ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceField:
    column: Column
    kind: str  # "text", "int", "money", "percent": how ``_cell`` shows it
    get: Callable[[SourceRow], Any]


def _channel(ch: str) -> Callable[[SourceRow], Any]:
    return lambda row: row.volume.by_channel[ch]


def _volume(name: str) -> Callable[[SourceRow], Any]:
    return lambda row: getattr(row.volume, name)


def _revenue(name: str) -> Callable[[SourceRow], Any]:
    return lambda row: getattr(row.revenue, name)


def _cost(name: str) -> Callable[[SourceRow], Any]:
    return lambda row: getattr(row.cost, name)


SOURCE_FIELDS = [
    SourceField(Column("name", "Source", numeric=False), "text", lambda row: row.name),
    SourceField(Column("kind", "Kind", numeric=False), "text", lambda row: row.kind_label),
    SourceField(Column("clicks", "Clicks"), "int", _volume("clicks")),
    SourceField(Column("referrals", "Referrals"), "int", _volume("referrals")),
    SourceField(Column("link", "By link"), "int", _channel("link")),
    SourceField(Column("email", "By email"), "int", _channel("email")),
    SourceField(Column("phone", "By phone"), "int", _channel("phone")),
    SourceField(Column("in_person", "In person"), "int", _channel("in_person")),
    SourceField(Column("api", "Through the API"), "int", _channel("api")),
    SourceField(Column("signups", "Signups"), "int", _volume("signups")),
    SourceField(Column("customers_won", "Customers won"), "int", _volume("customers_won")),
    SourceField(Column("purchases", "Purchases"), "int", _volume("purchases")),
    SourceField(
        Column("click_to_referral", "Click → referral (%)"),
        "percent",
        lambda row: Funnel.of(row.volume).click_to_referral,
    ),
    SourceField(
        Column("referral_to_customer", "Referral → customer (%)"),
        "percent",
        lambda row: Funnel.of(row.volume).referral_to_customer,
    ),
    SourceField(Column("net_revenue", "Net revenue"), "money", _revenue("net_revenue")),
    SourceField(Column("new_business", "New business"), "money", _revenue("new_business")),
    SourceField(Column("growth", "Growth"), "money", _revenue("growth")),
    SourceField(
        Column("advocacy_revenue", "Advocacy revenue"), "money", _revenue("advocacy_revenue")
    ),
    SourceField(
        Column("value_of_customers_won", "Value of customers won"),
        "money",
        _revenue("value_of_customers_won"),
    ),
    SourceField(
        Column("value_per_customer_won", "Value per customer won"),
        "money",
        _revenue("value_per_customer_won"),
    ),
    SourceField(
        Column("contribution_value", "Insider contributions"),
        "money",
        _revenue("contribution_value"),
    ),
    SourceField(Column("cost", "Reward cost"), "money", _cost("cost")),
    SourceField(Column("breakage", "Breakage"), "money", _cost("breakage")),
    SourceField(Column("cash_paid", "Cash paid"), "money", _cost("cash_paid")),
    SourceField(Column("unrecovered_debt", "Unrecovered debt"), "money", _cost("unrecovered_debt")),
    SourceField(Column("roi", "ROI (%)"), "percent", lambda row: row.roi),
]
SOURCE_COLUMNS = [f.column for f in SOURCE_FIELDS]


def sources_table(rows: list[SourceRow], currency: str) -> Table:
    table = Table("sources", list(SOURCE_COLUMNS))
    for row in rows:
        table.rows.append([_cell(f.kind, f.get(row), currency) for f in SOURCE_FIELDS])
    return table


def sort_source_rows(rows: list[SourceRow], key: str, descending: bool) -> list[SourceRow]:
    """The sources ordered by one column (``key``), read from the rows' values without making
    every cell: a page of 100 rows of 50,000 sources makes only its own cells. Values in
    order, then the rows without a number ("n/a") last; an unknown column leaves the order
    alone."""
    field = next((f for f in SOURCE_FIELDS if f.column.key == key), None)
    if field is None:
        return rows
    numeric = field.column.numeric
    pairs = [(field.get(row), row) for row in rows]
    with_value = [p for p in pairs if not numeric or p[0] is not None]
    without = [row for value, row in pairs if numeric and value is None]
    with_value.sort(key=lambda p: p[0], reverse=descending)
    return [row for _, row in with_value] + without


# Time series --------------------------------------------------------------------------------


def series_table(series: dict, currency: str) -> Table:
    table = Table(
        "series",
        [
            Column("date", "Day" if series["bucket"] == "day" else "Month", numeric=False),
            Column("clicks", "Clicks"),
            Column("referrals", "Referrals"),
            Column("signups", "Signups"),
            Column("customers_won", "Customers won"),
            Column("purchases", "Purchases"),
            Column("net_revenue", "Net revenue"),
            Column("cost", "Reward cost"),
        ],
    )
    for i, label in enumerate(series["labels"]):
        table.rows.append(
            [
                text(label),
                *(integer(series[k][i]) for k in ("clicks", "referrals", "signups")),
                *(integer(series[k][i]) for k in ("customers_won", "purchases")),
                money(series["net_revenue"][i], currency),
                money(series["cost"][i], currency),
            ]
        )
    return table


# Retention ----------------------------------------------------------------------------------


def cohorts_table(cohorts: list[Cohort], currency: str) -> Table:
    columns = [
        Column("month", "Cohort (month of first purchase)", numeric=False),
        Column("group", "Customers", numeric=False),
        Column("customers", "Number"),
    ]
    for d in SPANS:
        columns += [
            Column(f"n_{d}", f"{d} days: n"),
            Column(f"share_{d}", f"{d} days: still buying (%)"),
            Column(f"revenue_{d}", f"{d} days: revenue per customer"),
        ]
    table = Table("cohorts", columns)
    for cohort in cohorts:
        for group, label in (("referred", "Referred"), ("other", "Not referred")):
            row = [text(cohort.month), text(label), integer(cohort.customers[group])]
            for d in SPANS:
                g = cohort.spans[group][d]
                row += [
                    integer(g.n),
                    share(g.share.value if g.share else None),
                    money(g.revenue_per_customer, currency),
                ]
            table.rows.append(row)
    return table


def _interval(i: Interval | None, as_share: bool, currency: str) -> list[Cell]:
    if i is None:
        return [Cell(NA, NA)] * 3
    if as_share:
        return [share(i.value), share(i.low), share(i.high)]
    return [
        money(cents(i.value), currency),
        money(cents(i.low), currency),
        money(cents(i.high), currency),
    ]


def compare_table(rows: list[SpanComparison], currency: str) -> Table:
    columns = [Column("days", "Days after the first purchase")]
    for prefix, label in (("referred", "Referred"), ("other", "Not referred")):
        columns += [
            Column(f"{prefix}_n", f"{label}: n"),
            Column(f"{prefix}_share", f"{label}: still buying (%)"),
            Column(f"{prefix}_share_low", f"{label}: 95% low (%)"),
            Column(f"{prefix}_share_high", f"{label}: 95% high (%)"),
        ]
    columns += [
        Column("share_diff", "Difference (points)"),
        Column("share_diff_low", "Difference: 95% low"),
        Column("share_diff_high", "Difference: 95% high"),
    ]
    for prefix, label in (("referred", "Referred"), ("other", "Not referred")):
        columns += [
            Column(f"{prefix}_revenue", f"{label}: revenue per customer"),
            Column(f"{prefix}_revenue_low", f"{label}: 95% low"),
            Column(f"{prefix}_revenue_high", f"{label}: 95% high"),
        ]
    columns += [
        Column("revenue_diff", "Revenue difference per customer"),
        Column("revenue_diff_low", "Revenue difference: 95% low"),
        Column("revenue_diff_high", "Revenue difference: 95% high"),
        Column("too_small", "Sample too small to tell", numeric=False),
    ]
    table = Table("compare", columns)
    for c in rows:
        row = [integer(c.days)]
        for g in (c.referred, c.other):
            row += [integer(g.n), *_interval(g.share, True, currency)]
        row += _interval(c.share_difference, True, currency)
        for g in (c.referred, c.other):
            row += _interval(g.revenue_interval, False, currency)
        row += _interval(c.revenue_difference, False, currency)
        row.append(yes_no(c.too_small))
        table.rows.append(row)
    return table


# Value --------------------------------------------------------------------------------------


def value_table(rows: Iterable[ValueRow], currency: str, by: str) -> Table:
    table = Table(
        f"value_{by}",
        [
            Column("name", "Source" if by == "source" else "Kind of source", numeric=False),
            Column("historic", "Historic value (net revenue to date)"),
            Column("r", "R: last 12 months, customers still active"),
            Column("own_n", "Own customers a year old"),
            Column("own_buying", "… still buying after a year"),
            Column("p", "p: 12-month retention used (%)"),
            Column("p_source", "p taken from", numeric=False),
            Column("projected", "Projected value"),
        ],
    )
    for row in rows:
        table.rows.append(
            [
                text(str(row.name)),
                money(row.historic, currency),
                money(row.last_12_months, currency),
                integer(row.own_retention.customers),
                integer(row.own_retention.still_buying),
                share(row.retention),
                text("the program" if row.retention_is_programs else "its own customers"),
                money(row.projected, currency),
            ]
        )
    return table
