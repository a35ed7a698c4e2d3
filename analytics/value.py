"""What each source (and each kind of source) is worth: to date, and projected.

- historic value = the net revenue credited to the source to date (the one definition,
  ``Purchase.objects.credited().net_revenue()``, advocacy included);
- projected value = sum over t = 1..H of R * p^(t-1) / (1 + d)^t, where

  R = the last 12 months' net revenue of the customers the source referred who are still
      active (``Customer.status`` active), advocacy aside;
  p = the 12-month retention of the customers the source referred: the share of those who
      started 365 days ago or more still buying 365 days after their start (see
      ``retention``); when fewer than ``MIN_CUSTOMERS_FOR_OWN_RETENTION`` of them are that
      old, the program's (every referred customer of the chosen program, or of all programs);
  d = the organization's discount rate, H its horizon in years.

Year t's revenue is this year's R kept with probability p for each year after the first,
discounted t years. A source with no measurable retention (nobody old enough, even in the
program) has no projection ("n/a").

Where the figures come from: with the customer facts built (``facts``), historic and R are
the source values summed at the last refresh plus the rows at their edges
(``_sums_from_facts``), and p is counted from the customer facts, a few thousand rows; without
them (or ``ANALYTICS_ROLLUPS=0``) everything is read from the rows. The same numbers either way.

At 50,000 sources the page shows a hundred at a time: ``ranked`` reads the figures once for
both tables, places every source by its projection in whole cents (``_Projection``: R x f(p),
f once per p) and builds a ``ValueRow`` only for the rows read; ``values`` builds them all
(the CSV), in the same order.
"""

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from itertools import compress, count, islice, repeat
from operator import eq
from typing import Any, overload

from django.db.models import F, Q, Sum
from django.utils import timezone

from accounts.models import Customer, Organization, ReferralSource, SourceKind
from core.money import cents
from referrals.models import Purchase, signed_amount

from . import facts, rollups
from .db import DB
from .db import cursor as db_cursor
from .models import SourceValue
from .period import Filters, Period
from .retention import customer_spans

MIN_CUSTOMERS_FOR_OWN_RETENTION = 20
NOTHING = cents(0)
YEAR = 365


def projected_value(*, r: Decimal, p: Decimal, d: Decimal, h: int) -> Decimal:
    """sum over t = 1..h of r * p^(t-1) / (1 + d)^t, to the cent."""
    if not r:
        return NOTHING  # every term is 0 (most sources of a large book have no R)
    total, kept, discount = Decimal(0), Decimal(1), Decimal(1)
    for _ in range(h):
        discount *= 1 + d  # (1 + d)^t
        total += r * kept / discount
        kept *= p  # p^(t-1) for the next year (0^0 is 1: the first year is always kept)
    return cents(total)


@dataclass(frozen=True)
class Retention:
    customers: int  # referred customers who started a year ago or more
    still_buying: int

    @property
    def share(self) -> Decimal | None:
        return Decimal(self.still_buying) / self.customers if self.customers else None


@dataclass(frozen=True)
class ValueRow:
    key: str | int  # a source's id, or a kind
    name: str
    kind: str
    historic: Decimal
    last_12_months: Decimal  # R
    own_retention: Retention
    retention: Decimal | None  # p as used
    retention_is_programs: bool  # p is the program's: too few of its own customers
    projected: Decimal | None


def _retention_by_source(
    organization: Organization, now: datetime, program_id: int | None
) -> dict[int | None, Retention]:
    """Per source that won them (None: none), the 12-month retention of the referred
    customers (of the program): from the customer facts when built, else ``customer_spans``."""
    if facts.state(organization) is not None:
        counts = facts.retention_by_source(
            organization=organization, now=now, program_id=program_id, days=YEAR
        )
        return {source: Retention(n, k) for source, (n, k) in counts.items()}
    result: dict[int | None, Retention] = {}
    for s in customer_spans(organization=organization, now=now, referred_only=True, spans=(YEAR,)):
        if program_id and s.program_id != program_id:
            continue
        buying = s.still_buying[YEAR]
        if buying is None:
            continue
        before = result.get(s.source_id, Retention(0, 0))
        result[s.source_id] = Retention(before.customers + 1, before.still_buying + int(buying))
    return result


#: Which credited purchases R sums: advocacy aside, of still-active customers.
RECENT = ~Purchase.ADVOCACY & Q(customer__status=Customer.Status.ACTIVE)


def recent_revenue(organization: Organization, filters: Filters | None = None, using=None):
    """The purchases R sums (any time): credited, advocacy aside, of still-active customers."""
    qs = (
        Purchase.objects.using(using)
        .filter(organization=organization)
        .credited()
        .filter(RECENT)
        .order_by()
    )
    if filters is not None:
        qs = qs.filter(
            filters.q(program="conversion__referral__program", source="conversion__source")
        )
    return qs


def _cents(amount) -> int:
    """An amount (a database sum; None for none) in whole cents, rounded as ``cents``: the
    sums of 50,000 sources are added and ranked as integers."""
    return int(cents(amount).scaleb(2))


def _money(amount: int) -> Decimal:
    """Whole cents as the Decimal ``cents`` gives: 12345 -> Decimal("123.45")."""
    return Decimal(amount).scaleb(-2)


def _by_source(qs) -> dict[int, int]:
    rows = qs.values("conversion__source").annotate(total=Sum(signed_amount()))
    return {row["conversion__source"]: _cents(row["total"]) for row in rows}


def _source_values(organization: Organization, filters: Filters) -> list[tuple[int, int, int]]:
    """(source, historic, recent) in cents of each source value (per program and source) of
    the filters, as stored: the caller adds them up (at 50,000 sources PostgreSQL's GROUP BY,
    and a Decimal for each sum, took twice as long)."""
    params: dict[str, Any] = {"org": organization.pk}
    join, where = "", ["v.organization_id = %(org)s"]
    if filters.program_id:
        where.append("v.program_id = %(program)s")
        params["program"] = filters.program_id
    if filters.source_id:
        where.append("v.source_id = %(source)s")
        params["source"] = filters.source_id
    if filters.source_kind:
        join = f"JOIN {ReferralSource._meta.db_table} s ON s.id = v.source_id"
        where.append("s.kind = %(kind)s")
        params["kind"] = filters.source_kind
    with db_cursor() as cursor:
        cursor.execute(
            f"""SELECT v.source_id, (v.historic * 100)::bigint, (v.recent * 100)::bigint
            FROM {SourceValue._meta.db_table} v {join}
            WHERE {" AND ".join(where)}""",  # noqa: S608 - our own tables, values as parameters
            params,
        )
        return cursor.fetchall()


def _sources(organization: Organization, filters: Filters) -> dict[int, tuple[str, str]]:
    """pk -> (name, kind) of the sources of the filters: 50,000 rows read as tuples (model
    instances took half a second, the ORM's rows a chunk at a time twice the query)."""
    params: dict[str, Any] = {"org": organization.pk}
    where = ["organization_id = %(org)s"]
    if filters.source_id:
        where.append("id = %(source)s")
        params["source"] = filters.source_id
    if filters.source_kind:
        where.append("kind = %(kind)s")
        params["kind"] = filters.source_kind
    with db_cursor() as cursor:
        cursor.execute(
            f"""SELECT id, name, kind FROM {ReferralSource._meta.db_table}
            WHERE {" AND ".join(where)}""",  # noqa: S608 - our own table, values as parameters
            params,
        )
        return {pk: (name, kind) for pk, name, kind in cursor.fetchall()}


def _sums_from_facts(
    organization: Organization, credited, recent, filters: Filters, now: datetime
) -> tuple[dict[int, int], dict[int, int]] | None:
    """Historic and R per source, in cents, from the source values (``facts.build_values``)
    and the rows at their edges: historic = to date up to ``values_until`` + the rows
    after; R = recent from ``recent_from`` up to ``values_until`` - the rows from
    ``recent_from`` to now - 365 days + the rows after ``values_until`` to now. None when
    there are none, or ``now`` falls outside what they can answer (read the rows)."""
    current = facts.state(organization)
    if current is None or current.values_through is None or current.recent_from is None:
        return None
    tz = organization.timezone
    after = (
        current.values_until
        or Period(start=current.values_through, end=current.values_through, tz=tz).until
    )
    start = Period(start=current.recent_from, end=current.recent_from, tz=tz).since
    year_ago = now - timedelta(days=YEAR)
    if not start <= year_ago or now < after:
        return None
    historic: dict[int, int] = {}
    last_12: dict[int, int] = {}
    for source, h, r in _source_values(organization, filters):
        if source in historic:
            historic[source] += h
            last_12[source] += r
        else:
            historic[source], last_12[source] = h, r
    # The rows after: credited to date, and those of them R sums up to now, in one read.
    after_rows = (
        credited.filter(occurred_at__gte=after)
        .values_list("conversion__source")
        .annotate(
            h=Sum(signed_amount()), r=Sum(signed_amount(), filter=RECENT & Q(occurred_at__lt=now))
        )
    )
    for source, h, r in after_rows:
        historic[source] = historic.get(source, 0) + _cents(h)
        last_12[source] = last_12.get(source, 0) + _cents(r)
    before = recent.filter(occurred_at__gte=start, occurred_at__lt=year_ago)
    for source, total in _by_source(before).items():
        last_12[source] = last_12.get(source, 0) - total
    return historic, last_12


def _historic(organization: Organization, credited, by: str, group: str, filters: Filters):
    """Net revenue credited to date per source (or kind), in cents: the daily rollups for the
    days they cover, the rows after (``report._read``), or every row without rollups."""
    from . import report

    if rollups.cut(organization) is None:
        rows = credited.annotate(k=F(group)).values("k").annotate(total=Sum(signed_amount()))
        return {row["k"]: _cents(row["total"]) for row in rows}
    all_time = Period(start=date(1, 1, 2), end=date(9998, 12, 30), tz=organization.timezone)
    read = report._read(
        credited,
        [all_time],
        by,
        "conversion__source",
        {"net": ("occurred_at", report._sum(signed_amount()))},
        program="conversion__referral__program",
        rollup=(organization, filters, True),
    )[0]
    return {key: _cents(row["net"]) for key, row in read.items()}


@dataclass(frozen=True)
class _Reading:
    """One reading of what every row is computed from: the sources shown, their historic and
    R when the source values are built (``_sums_from_facts``, else None: read the rows by
    source or kind), and the retention of each source's customers and of the program's."""

    organization: Organization
    filters: Filters
    now: datetime
    credited: Any  # the credited purchases of the filters (QuerySet)
    recent: Any  # the purchases R sums (QuerySet)
    sources: dict[int, tuple[str, str]]  # pk -> (name, kind) of the sources shown
    fast: tuple[dict[int, int], dict[int, int]] | None
    by_source: dict[int | None, Retention]
    program: Retention

    @cached_property
    def kinds(self) -> dict[str, list[int]]:
        """Kind -> the sources shown of that kind."""
        members: dict[str, list[int]] = {}
        for pk, (_, kind) in self.sources.items():
            members.setdefault(kind, []).append(pk)
        return members


def _read(organization: Organization, filters: Filters, now: datetime) -> _Reading:
    credited = (
        Purchase.objects.using(DB)
        .filter(organization=organization)
        .credited()
        .filter(filters.q(program="conversion__referral__program", source="conversion__source"))
        .order_by()
    )
    recent = recent_revenue(organization, filters, using=DB)
    by_source = _retention_by_source(organization, now, filters.program_id)
    return _Reading(
        organization=organization,
        filters=filters,
        now=now,
        credited=credited,
        recent=recent,
        sources=_sources(organization, filters),
        fast=_sums_from_facts(organization, credited, recent, filters, now),
        by_source=by_source,
        program=Retention(
            sum(r.customers for r in by_source.values()),
            sum(r.still_buying for r in by_source.values()),
        ),
    )


NO_ONE = Retention(0, 0)


@dataclass(frozen=True)
class _Figures:
    """Per group (a source's id, or a kind): historic and R in cents, and its own customers'
    retention; the program's retention and the organization's d and H. Makes each group's
    row."""

    historic: dict[Any, int]
    last_12: dict[Any, int]
    own: dict[Any, Retention]
    program: Retention
    discount_rate: Decimal
    horizon: int

    def retention(self, key) -> tuple[Retention, bool, Decimal | None]:
        """The group's own retention, whether p is the program's, and p."""
        own = self.own.get(key, NO_ONE)
        use_program = own.customers < MIN_CUSTOMERS_FOR_OWN_RETENTION
        return own, use_program, self.program.share if use_program else own.share

    def row(self, key, name: str, kind: str) -> ValueRow:
        own, use_program, p = self.retention(key)
        r = _money(self.last_12.get(key, 0))
        return ValueRow(
            key=key,
            name=name,
            kind=kind,
            historic=_money(self.historic.get(key, 0)),
            last_12_months=r,
            own_retention=own,
            retention=p,
            retention_is_programs=use_program,
            projected=None
            if p is None
            else projected_value(r=r, p=p, d=self.discount_rate, h=self.horizon),
        )


def _figures(reading: _Reading, by: str) -> _Figures:
    """The reading's figures per source (``by="source"``) or per kind (``"kind"``)."""
    organization, filters, now = reading.organization, reading.filters, reading.now
    group = "conversion__source_id" if by == "source" else "conversion__source__kind"
    historic: dict[Any, int]
    last_12: dict[Any, int]
    if reading.fast is not None and by == "source":
        historic, last_12 = reading.fast
    elif reading.fast is not None:  # each kind's, the sum of its sources'
        historic, last_12 = (
            {kind: sum(map(per_source.get, pks, repeat(0))) for kind, pks in reading.kinds.items()}
            for per_source in reading.fast
        )
    else:
        historic = _historic(organization, reading.credited, by, group, filters)
        window = reading.recent.filter(
            occurred_at__gte=now - timedelta(days=YEAR), occurred_at__lt=now
        )
        last_12 = {
            row["k"]: _cents(row["total"])
            for row in window.annotate(k=F(group)).values("k").annotate(total=Sum(signed_amount()))
        }
    own: dict[Any, Retention] = {}
    for won_by, retention in reading.by_source.items():
        if won_by is None or won_by not in reading.sources:
            continue  # nobody's customers, or a source not shown
        key = won_by if by == "source" else reading.sources[won_by][1]
        before = own.get(key, NO_ONE)
        own[key] = Retention(
            before.customers + retention.customers,
            before.still_buying + retention.still_buying,
        )
    return _Figures(
        historic=historic,
        last_12=last_12,
        own=own,
        program=reading.program,
        discount_rate=organization.discount_rate,
        horizon=organization.horizon_years,
    )


def _kind_rows(reading: _Reading) -> list[ValueRow]:
    figures = _figures(reading, "kind")
    kinds = dict(SourceKind.choices)
    present = sorted(reading.kinds)
    rows = [figures.row(k, kinds.get(k, k), k) for k in present]
    rows.sort(key=lambda row: (row.projected is None, -(row.projected or 0), str(row.name)))
    return rows


# Ranking 50,000 sources ------------------------------------------------------------------------

_CLOSE = 1e-12  # relative: a float's R x f(p) is within 3e-16 of it


def _factor(p: Decimal, d: Decimal, h: int) -> Decimal:
    """f(p) = sum over t = 1..h of p^(t-1) / (1 + d)^t: projected = R x f(p)."""
    total, kept, discount = Decimal(0), Decimal(1), Decimal(1)
    for _ in range(h):
        discount *= 1 + d
        total += kept / discount
        kept *= p
    return total


class _Projection:
    """``projected_value`` in whole cents for one p, to rank 50,000 sources: R x f(p) in
    floating point (f once per p) is the same cent unless it lies within a hair of half a
    cent, where ``projected_value`` itself decides (5 us a source, a quarter of a second)."""

    def __init__(self, p: Decimal, d: Decimal, h: int):
        self.p, self.d, self.h = p, d, h
        self.f = float(_factor(p, d, h))

    def cents(self, r: int) -> int:
        """The projection of R (in cents), in cents."""
        return self.of([(0, r)]).get(0, 0)

    def of(self, rs: Iterable[tuple[int, int]]) -> dict[int, int]:
        """Source -> its projection in cents, for (source, R in cents), leaving out 0."""
        f, floor, close = self.f, math.floor, _CLOSE
        out: dict[int, int] = {}
        for pk, r in rs:
            x = r * f
            size = abs(x)
            whole = floor(size)
            part = size - whole  # exact
            if abs(part - 0.5) <= close * (1 + size):
                c = _cents(projected_value(r=_money(r), p=self.p, d=self.d, h=self.h))
            else:
                c = whole + (part > 0.5)  # half up (away from zero), as ``cents``
                if x < 0:
                    c = -c
            if c:
                out[pk] = c
        return out


def _by_value(mapping: dict[int, Decimal]) -> dict[Decimal, list[int]]:
    """Each value -> the keys that have it."""
    grouped: dict[Decimal, list[int]] = {}
    for key, v in mapping.items():
        grouped.setdefault(v, []).append(key)
    return grouped


def _ranked(projected: dict[int, int], source: dict[int, tuple[str, str]]) -> list[int]:
    """The sources by value, highest first; those of the same value by name, then id."""
    order = sorted(projected, key=projected.__getitem__, reverse=True)
    values = [projected[pk] for pk in order]
    runs: dict[int, list[int]] = {}  # a value several sources share -> [first, last] place
    for i in compress(count(1), map(eq, values, islice(values, 1, None))):
        runs.setdefault(values[i], [i - 1, i])[1] = i
    for first, last in runs.values():
        order[first : last + 1] = sorted(
            order[first : last + 1], key=lambda pk: (source[pk][0], pk)
        )
    return order


class RankedSources(Sequence[ValueRow]):
    """Every source's row in ``values``' order, highest projected value first ("n/a" last),
    then by name (code points, as Python compares) and id. The order is found on whole cents
    per source; a ``ValueRow`` is built only for the rows read, so a page of a hundred costs
    a hundred rows (``Paginator`` takes it as it is)."""

    def __init__(self, reading: _Reading):
        self.figures = figures = _figures(reading, "source")
        self._source = source = reading.sources
        d, h = figures.discount_rate, figures.horizon
        program_p = figures.program.share
        own_p = {  # the sources with p of their own (20 customers or more)
            pk: share
            for pk, own in figures.own.items()
            if own.customers >= MIN_CUSTOMERS_FOR_OWN_RETENTION and (share := own.share) is not None
        }
        last_12 = figures.last_12
        projected: dict[int, int] = {}  # sources projecting other than 0.00, in cents
        if program_p is not None:
            projected = _Projection(program_p, d, h).of(
                (pk, r) for pk, r in last_12.items() if r and pk not in own_p and pk in source
            )
        for p, pks in _by_value(own_p).items():
            projected.update(_Projection(p, d, h).of((pk, last_12.get(pk, 0)) for pk in pks))
        # Without the program's p, every source without its own has no projection.
        none = set() if program_p is not None else {pk for pk in source if pk not in own_p}
        ahead = _ranked(projected, source)
        above = sum(map((0).__lt__, projected.values()))  # the positive ones lead
        rest = sorted(pk for pk in source if pk not in projected)
        rest.sort(key=lambda pk: source[pk][0])  # by name, then (a stable sort) by id
        self._order = (
            ahead[:above]
            + ([pk for pk in rest if pk not in none] if none else rest)
            + ahead[above:]
            + [pk for pk in rest if pk in none]
        )

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> ValueRow: ...
    @overload
    def __getitem__(self, index: slice) -> list[ValueRow]: ...
    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._row(pk) for pk in self._order[index]]
        return self._row(self._order[index])

    def __iter__(self) -> Iterator[ValueRow]:
        return (self._row(pk) for pk in self._order)

    def _row(self, pk: int) -> ValueRow:
        name, kind = self._source[pk]
        return self.figures.row(pk, name, kind)


def ranked(
    *, organization: Organization, filters: Filters | None = None, now: datetime | None = None
) -> tuple[RankedSources, list[ValueRow]]:
    """Every source's row, ranked and built as read (``RankedSources``), and every kind's
    row: the value page's two tables from one reading."""
    reading = _read(organization, filters or Filters(), now or timezone.now())
    return RankedSources(reading), _kind_rows(reading)


def values(
    *,
    organization: Organization,
    by: str = "source",
    filters: Filters | None = None,
    now: datetime | None = None,
) -> list[ValueRow]:
    """Historic and projected value per source (``by="source"``) or per kind (``"kind"``),
    highest projected first ("n/a" last), then by name."""
    reading = _read(organization, filters or Filters(), now or timezone.now())
    if by == "source":
        return list(RankedSources(reading))
    return _kind_rows(reading)
