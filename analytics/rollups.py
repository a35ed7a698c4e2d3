"""Daily rollups: build them from the raw rows, read them back as the pages' sums.

A rollup row holds one organization's figures of one local day for one program and source
(``models.DailyRollup``), computed by the very reads the pages make on raw rows
(``report.volumes`` / ``revenues`` / ``reward_costs`` / ``uncredited_revenues`` grouped
``by="rollup"``), collected as SQL and written by one ``INSERT ... SELECT`` (``build``).

The rollups are built up to an instant, ``RollupState.built_until`` (``cut``): ``SETTLE``
before the build, so that rows of transactions still open then are not missed; today's row
holds today up to it. The pages read what happened before that instant from the rollups and
what happened from it on from the rows (``Period.cut``): a few minutes of rows, so every page
reads the newest rows live without reading the day's. Rows that carry only a date (an
insider's contribution) are read from the rows for the whole day of the cut. A read without a
source reads the same sums per kind of source (``KindRollup``), and a read of every day per
source their sums over every day (``SourceRollup``): far fewer rows than a row per source and
day.

What changes what happened before the cut (a reward voided weeks or minutes later, an event
recorded late for an earlier instant) reaches the rollups when that day is built again: the
beat task rebuilds today and the ``REFRESH_DAYS`` days before it every ``REFRESH_SECONDS``
(and the days of the rewards voided or refunded, of the referrals reviewed and of the credit
the expiry task closed late since its last build, however old),
and ``manage.py rebuild_analytics`` rebuilds everything. The pages say how fresh that is.

Figures that tie two dates together have rows of their own. New business and the value of the
customers won tie a purchase's day to the day its customer was won: ``WonRollup`` (per kind
``WonKindRollup``) holds the credited net per program, source, purchase day and won day,
replaced with the purchase days it is built from (a purchase recorded late for an old day
reaches it when that day is built again, like every rollup). Unrecovered debt is a balance at
an instant: ``BalanceSnapshot`` holds every account's payout balance at the end of the last
day built, and a read moves it by the entries between that instant and the one asked for.
"""

import hashlib
from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Case, DateField, F, IntegerField, Min, Q, Sum, Value, When
from django.db.models.functions import Trunc
from django.utils import timezone

from accounts.models import InsiderContribution, Organization, ReferralSource
from referrals.models import Channel, Click, Purchase, Referral, signed_amount
from rewards.models import (
    CreditAccount,
    CreditLot,
    LedgerEntry,
    Payout,
    PayoutBalanceEntry,
    Reward,
)

from .db import DB, code_point_collation
from .models import (
    BalanceSnapshot,
    DailyRollup,
    KindRollup,
    RollupState,
    SourceRollup,
    WonKindRollup,
    WonRollup,
)
from .period import Filters, Period, day_runs

COLUMNS = [
    "clicks",
    "referrals",
    *Channel.values,
    "signups",
    "customers_won",
    "purchases",
    "net",
    "advocacy",
    "contributions",
    "uncredited",
    "cost",
    "referrer",
    "issued",
    "voided",
    "taken_back",
    "expired",
    "granted",
    "paid",
]
REFRESH_DAYS = 3
REFRESH_SECONDS = 600
#: How long before a build its cut lies: a row of an instant this close to the build may
#: belong to a transaction still open, so it is read from the rows until the next build.
SETTLE = timedelta(minutes=2)
_UNKNOWN = object()


def enabled() -> bool:
    return getattr(settings, "ANALYTICS_ROLLUPS", True)


def state(organization: Organization) -> RollupState | None:
    """The organization's rollup state (None without rollups), read once per organization
    object (one request)."""
    if not enabled():
        return None
    cached = organization.__dict__.get("_rollup_state", _UNKNOWN)
    if cached is _UNKNOWN:
        cached = RollupState.objects.using(DB).filter(organization=organization).first()
        if cached is not None and not _same_zone(cached, organization):
            cached = None  # days of another time zone: read the rows until rebuilt
        organization.__dict__["_rollup_state"] = cached
    return cached  # type: ignore[return-value]


def _same_zone(state: RollupState, organization: Organization) -> bool:
    """Whether the rollups' days are the organization's local days (rollups built before
    the zone was recorded are taken to be)."""
    return not state.timezone or state.timezone == organization.timezone


def cut(organization: Organization) -> datetime | None:
    """The instant the organization's rollups are built up to (None without rollups): what
    happened before it is read from them, what happened from it on from the rows."""
    current = state(organization)
    if current is None:
        return None
    if current.built_until is not None:
        return current.built_until
    # Built before the rollups had an instant: every day up to built_through, whole.
    day = current.built_through
    return Period(start=day, end=day, tz=organization.timezone).until


def _day_of(organization: Organization, instant: datetime) -> date:
    return timezone.localtime(instant, ZoneInfo(organization.timezone)).date()


def build_until(organization: Organization, now: datetime | None = None) -> datetime:
    """The instant a build now builds up to."""
    return (now or timezone.now()) - SETTLE


def _group(by: str | None, kinds: bool):
    if by is None:
        return None
    return {
        "source": F("source_id"),
        "kind": F("kind") if kinds else F("source__kind"),
        "day": F("day"),
        "month": Trunc("day", "month", output_field=DateField()),
    }[by]


def _narrowed(rows, filters: Filters, kinds: bool, *, program: bool):
    """Rollup rows of the filters: of the program (when ``program``: the rows belong to
    one), the sources and the kind (a column of the rows per kind, ``kinds``)."""
    if program and filters.program_id:
        rows = rows.filter(program_id=filters.program_id)
    if filters.source_id:
        rows = rows.filter(source_id=filters.source_id)
    if filters.source_ids:
        rows = rows.filter(source_id__in=filters.source_ids)
    if filters.source_kind:
        rows = rows.filter(**{"kind" if kinds else "source__kind": filters.source_kind})
    return rows


def read(
    *,
    organization: Organization,
    periods: Sequence[Period | None],
    filters: Filters,
    by: str | None,
    names: list[str],
    program_scoped: bool,
) -> list[dict[Any, dict[str, Any]]]:
    """The columns ``names`` summed over each period's days (None: no days), grouped like
    ``report._read``. ``program_scoped``: these figures belong to a program (a payout or an
    insider's contribution does not, and a program filter leaves it in).

    Every column is read in one query and kept on the organization object (one request),
    so a page's volume, revenue and cost read the rollups once, not once per kind of row."""
    from .report import _without_empty_groups

    reads = organization.__dict__.setdefault("_rollup_reads", {})
    program_scoped = program_scoped and bool(filters.program_id)  # the same rows without one
    key = (tuple((p.start, p.end) if p else None for p in periods), filters, by, program_scoped)
    if key not in reads:
        reads[key] = _read_columns(organization, periods, filters, by, program_scoped)
    picked = [{k: {n: row.get(n) for n in names} for k, row in part.items()} for part in reads[key]]
    return _without_empty_groups(picked, by)


def _read_columns(organization, periods, filters, by, program_scoped):
    from .report import _grouped

    results: list[dict[Any, dict[str, Any]]] = [{} for _ in periods]
    live = [(i, p) for i, p in enumerate(periods) if p is not None]
    if not live:
        return results
    # Without a source to tell apart, the rows per kind of source hold the same sums in far
    # fewer rows than the rows per source; every day per source, the sums per source.
    kinds = not filters.of_sources and by != "source"
    current = state(organization)
    if (
        not kinds
        and by in (None, "source", "kind")
        and current is not None
        and current.built_from is not None
        and all(p.start <= current.built_from and p.end >= current.built_through for _, p in live)
    ):
        every_day = SourceRollup.objects.using(DB).filter(organization=organization)
        every_day = _narrowed(every_day, filters, False, program=program_scoped)
        sums = _grouped(every_day, _group(by, False), **{name: Sum(name) for name in COLUMNS})
        for i, _ in live:
            results[i] = {key: dict(row) for key, row in sums.items()}
        return results
    rows = (
        (KindRollup if kinds else DailyRollup)
        .objects.using(DB)
        .filter(
            organization=organization,
            day__gte=min(p.start for _, p in live),
            day__lte=max(p.end for _, p in live),
        )
    )
    rows = _narrowed(rows, filters, kinds, program=program_scoped)
    ordered = sorted((p for _, p in live), key=lambda p: p.start)
    if all(a.end < b.start for a, b in zip(ordered, ordered[1:], strict=False)):
        # Periods apart (a period and the one before it): each row belongs to one period,
        # so the rows are grouped by their period and summed once per column.
        rows = rows.annotate(
            _period=Case(
                *[When(day__gte=p.start, day__lte=p.end, then=Value(i)) for i, p in live],
                output_field=IntegerField(),
            )
        )
        group = {"_p": F("_period")}
        if by is not None:
            group["_g"] = _group(by, kinds)
        sums = {name: Sum(name) for name in COLUMNS}
        for key, row in _grouped(rows, group, **sums).items():
            if key[0] is not None:
                results[key[0]][key[1] if by is not None else None] = row
        return results
    aggregates = {
        f"{name}__{i}": Sum(name, filter=Q(day__gte=p.start, day__lte=p.end))
        for i, p in live
        for name in COLUMNS
    }
    for key, row in _grouped(rows, _group(by, kinds), **aggregates).items():
        for i, _ in live:
            results[i].setdefault(key, {}).update({n: row[f"{n}__{i}"] for n in COLUMNS})
    return results


#: How many of the sources ranked by their net revenue of every day each build keeps in
#: ``RollupState.ranked_by_net``.
KEPT_RANKED = 100


def ranked_sources(
    *, organization: Organization, column: str, limit: int
) -> list[tuple[int, Decimal]] | None:
    """The ``limit`` sources whose ``column`` (one of ``COLUMNS``) sums highest over every day
    the rollups cover (``SourceRollup``), with that sum (zero left out), ties by name:
    ranked in the database, so a page that shows ten of 50,000 sources reads ten. The rows
    from the cut on are the caller's to add. None without rollups of every day.

    The first ``KEPT_RANKED`` by "net" are ranked when the sums are built, and kept
    (``RollupState.ranked_by_net``): a read of them reads nothing more."""
    current = state(organization)
    if current is None or current.built_from is None or column not in COLUMNS or limit < 1:
        return None
    kept = current.ranked_by_net if column == "net" else None
    if kept is not None and (limit <= len(kept) or len(kept) < KEPT_RANKED):
        return [(pk, Decimal(total)) for pk, total in kept[:limit]]
    return _ranked(connections[DB], organization, column, limit)


def _ranked(database, organization: Organization, column: str, limit: int):
    """``ranked_sources`` ranked now, on ``database``. The sums are ranked without the
    sources' names (``sourcerollup_net_cover`` for "net"); only the sources tied with the
    ``limit``-th or above it are joined to theirs."""
    rollup, sources = SourceRollup._meta.db_table, ReferralSource._meta.db_table
    collation = code_point_collation(database)
    code_points = f' COLLATE "{collation}"' if collation else ""
    with database.cursor() as cursor:
        cursor.execute(
            f'WITH g AS (SELECT "source_id", SUM("{column}") AS t FROM "{rollup}" '  # noqa: S608 - our names
            'WHERE "organization_id" = %s AND "source_id" IS NOT NULL '
            f'GROUP BY "source_id" HAVING SUM("{column}") <> 0) '
            f'SELECT g."source_id", g.t FROM g JOIN "{sources}" s ON s."id" = g."source_id" '
            "WHERE g.t >= COALESCE((SELECT t FROM g ORDER BY t DESC LIMIT 1 OFFSET %s), "
            "(SELECT MIN(t) FROM g)) "
            f'ORDER BY g.t DESC, s."name"{code_points}, g."source_id" LIMIT %s',
            [organization.pk, limit - 1, limit],
        )
        rows = cursor.fetchall()
    # PostgreSQL sums numeric to a Decimal; SQLite (the development setup) to a float.
    return [(pk, t if isinstance(t, Decimal) else round(Decimal(str(t)), 2)) for pk, t in rows]


def _kept_ranking(organization: Organization) -> list[list]:
    """The first ``KEPT_RANKED`` sources by net revenue of every day, as JSON, ranked on the
    sums just written (the caller's transaction)."""
    return [[pk, str(total)] for pk, total in _ranked(connection, organization, "net", KEPT_RANKED)]


def won_built(organization: Organization) -> bool:
    """Whether the rows of new business and of the value of the customers won are built."""
    current = state(organization)
    return current is not None and current.won_built


def won_sums(
    *,
    organization: Organization,
    periods: Sequence[Period],
    filters: Filters,
    by: str | None,
    names: Sequence[str] = ("value", "new"),
) -> list[dict[Any, dict[str, Any]]] | None:
    """For each period, grouped by ``by`` (None, "kind" or "source"), of ``names``: "value",
    the net revenue to date of the customers won in it, and "new", the part they bought in
    it (new business), from the purchases the rollups cover (``WonRollup``; the caller adds the
    rows from the cut on). None when those rows are not built."""
    from .report import _grouped

    current = state(organization)
    if current is None or not current.won_built or by not in (None, "kind", "source"):
        return None
    kinds = not filters.of_sources and by != "source"
    rows = (
        (WonKindRollup if kinds else WonRollup)
        .objects.using(DB)
        .filter(
            organization=organization,
            won_day__gte=min(p.start for p in periods),
            won_day__lte=max(p.end for p in periods),
        )
    )
    rows = _narrowed(rows, filters, kinds, program=True)
    aggregates = {}
    for i, p in enumerate(periods):
        won = Q(won_day__gte=p.start, won_day__lte=p.end)
        aggregates[f"value__{i}"] = Sum("value", filter=won)
        if "new" in names:
            aggregates[f"new__{i}"] = Sum("value", filter=won & Q(day__gte=p.start, day__lte=p.end))
    group = None if by is None else F("source_id") if by == "source" else _group("kind", kinds)
    results: list[dict[Any, dict[str, Any]]] = [{} for _ in periods]
    for key, row in _grouped(rows, group, **aggregates).items():
        for i in range(len(periods)):
            results[i][key] = {name: row[f"{name}__{i}"] for name in names}
    return results


def won_ranked(
    *,
    organization: Organization,
    period: Period,
    filters: Filters,
    leave_out: Collection[int],
    limit: int,
    offset: int = 0,
) -> list[tuple[int, Decimal]]:
    """The sources ranked by the value of the customers won in ``period`` (``won_sums``'
    "value" per source, the purchases before the cut: the caller adds the rows from it
    on), highest first then by id, value above zero only, ``leave_out`` left out: the
    ranks ``offset`` to ``offset + limit``, ranked in the database (``won_built``)."""
    rows = WonRollup.objects.using(DB).filter(
        organization=organization,
        won_day__gte=period.start,
        won_day__lte=period.end,
        source__isnull=False,
    )
    rows = _narrowed(rows, filters, False, program=True)
    if leave_out:
        rows = rows.exclude(source_id__in=list(leave_out))
    ranked = (
        rows.order_by()
        .values("source_id")
        .annotate(_value=Sum("value"))
        .filter(_value__gt=0)
        .order_by("-_value", "source_id")
        .values_list("source_id", "_value")
    )
    return list(ranked[offset : offset + limit])


# Building -----------------------------------------------------------------------------------


def _select(organization: Organization, period: Period) -> tuple[str, list]:
    """One SELECT of every (program, source, day)'s columns in the period, by the pages' own
    raw reads grouped by "rollup": their grouped queries, collected instead of run
    (``report.collecting``), stacked with UNION ALL and summed per key, rows of nothing left
    out. Nothing goes through Python but the SQL."""
    from .report import collecting, revenues, reward_costs, uncredited_revenues, volumes

    with collecting() as queries:
        for read in (volumes, revenues, reward_costs, uncredited_revenues):
            read(organization=organization, periods=[period], by="rollup")
    parts, params = [], []
    for rows, names in queries:
        sql, part_params = rows.query.get_compiler(using=connection.alias).as_sql()
        mine = {name.rsplit("__", 1)[0]: name for name in names}
        columns = ", ".join(
            f'COALESCE(q."{mine[c]}", 0) AS "{c}"' if c in mine else f'0 AS "{c}"' for c in COLUMNS
        )
        parts.append(
            'SELECT CAST(q."_program" AS bigint) AS "_program", '  # noqa: S608 - Django's SQL
            'CAST(q."_source" AS bigint) AS "_source", q."_day" AS "_day", '
            f"{columns} FROM ({sql}) q"
        )
        params.extend(part_params)
    sums = ", ".join(f'SUM("{c}")' for c in COLUMNS)
    anything = " OR ".join(f'SUM("{c}") <> 0' for c in COLUMNS)
    return (
        f'SELECT "_program", "_source", "_day", {sums} FROM ('  # noqa: S608 - our columns
        + " UNION ALL ".join(parts)
        + f') u GROUP BY "_program", "_source", "_day" HAVING {anything}',
        params,
    )


def build(
    *, organization: Organization, start: date, end: date, before: datetime | None = None
) -> int:
    """Compute the rollups of the days ``start`` to ``end`` (local, included) again and
    replace what was there, in one INSERT ... SELECT, with only the rows of an instant before
    the cut ``before`` (and of a date before its day): by default the cut the rollups are
    built up to now, read under the build's lock (days built again after late events).
    Returns the number of rows written."""
    table = DailyRollup._meta.db_table
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    with transaction.atomic():
        lock(organization)
        if before is None:
            before = (
                RollupState.objects.filter(organization=organization)
                .values_list("built_until", flat=True)
                .first()
            )
        period = Period(start=start, end=end, tz=organization.timezone, before=before)
        select, params = _select(organization, period)
        _add_to_sources(organization, start, end, -1)
        DailyRollup.objects.filter(organization=organization, day__gte=start, day__lte=end).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                f'INSERT INTO "{table}" ("organization_id", "program_id", "source_id", "day", '  # noqa: S608
                f"{columns}) SELECT %s, s.* FROM ({select}) s",
                [organization.pk, *params],
            )
            written = cursor.rowcount
        _add_to_sources(organization, start, end, 1)
        RollupState.objects.filter(organization=organization).update(
            ranked_by_net=_kept_ranking(organization)
        )
        _build_kinds(organization, start, end)
        _build_won(organization, period)
    return written


def _build_won(organization: Organization, period: Period) -> None:
    """Replace the rows of new business and of the value of the customers won (``WonRollup``,
    and per kind ``WonKindRollup``) of the purchase days of ``period``, in the caller's
    transaction: the credited purchases and refunds of those days, advocacy aside (the sum
    ``report.revenues`` reads as "value" and "new"), per program, source, day and the day
    the customer was won, one ``INSERT ... SELECT``."""
    tz = ZoneInfo(period.tz)
    WonRollup.objects.filter(
        organization=organization, day__gte=period.start, day__lte=period.end
    ).delete()
    rows = (
        Purchase.objects.filter(organization=organization)
        .credited()
        .filter(period.q("occurred_at"), conversion__referral__converted_at__isnull=False)
        .order_by()
        .values(
            _program=F("conversion__referral__program_id"),
            _source=F("conversion__source_id"),
            _day=Trunc("occurred_at", "day", output_field=DateField(), tzinfo=tz),
            _won=Trunc(
                "conversion__referral__converted_at", "day", output_field=DateField(), tzinfo=tz
            ),
        )
        .annotate(_value=Sum(signed_amount(), filter=~Purchase.ADVOCACY))
    )
    sql, params = rows.query.get_compiler(using=connection.alias).as_sql()
    table = WonRollup._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" ("organization_id", "program_id", "source_id", "day", '  # noqa: S608 - Django's SQL
            f'"won_day", "value") SELECT %s, q."_program", q."_source", q."_day", q."_won", '
            f'q."_value" FROM ({sql}) q WHERE q."_value" IS NOT NULL AND q."_value" <> 0',
            [organization.pk, *params],
        )
    _build_won_kinds(organization, period.start, period.end)


def _build_won_kinds(organization: Organization, start: date, end: date) -> None:
    """Replace the rows per kind of source of the purchase days ``start`` to ``end`` with the
    sums of the rows per source, by each source's kind now (in the caller's transaction)."""
    WonKindRollup.objects.filter(organization=organization, day__gte=start, day__lte=end).delete()
    table, won = WonKindRollup._meta.db_table, WonRollup._meta.db_table
    sources = ReferralSource._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" ("organization_id", "program_id", "kind", "day", "won_day", '  # noqa: S608 - our names
            f'"value") SELECT w."organization_id", w."program_id", s."kind", w."day", '
            f'w."won_day", SUM(w."value") FROM "{won}" w JOIN "{sources}" s '
            f'ON s."id" = w."source_id" WHERE w."organization_id" = %s AND w."day" >= %s '
            f'AND w."day" <= %s GROUP BY w."organization_id", w."program_id", s."kind", '
            f'w."day", w."won_day"',
            [organization.pk, start, end],
        )


def _snapshot_balances(organization: Organization, at) -> None:
    """Every credit account's payout balance at the instant ``at`` (``BalanceSnapshot``),
    and the lowest it ever was before, replacing the last snapshot (in the caller's
    transaction). A balance at an instant counts every entry before it, so the running
    balance is summed over whole instants (the window's peers: entries of one instant)."""
    BalanceSnapshot.objects.filter(organization=organization).delete()
    table, entries = BalanceSnapshot._meta.db_table, PayoutBalanceEntry._meta.db_table
    accounts = CreditAccount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" ("organization_id", "account_id", "source_id", "balance", '  # noqa: S608 - our names
            f'"lowest") SELECT %s, r."account_id", a."source_id", SUM(r."amount"), '
            f'MIN(r."running") FROM (SELECT e."account_id", e."amount", SUM(e."amount") OVER '
            f'(PARTITION BY e."account_id" ORDER BY e."at") AS "running" FROM "{entries}" e '
            f'WHERE e."organization_id" = %s AND e."at" < %s) r JOIN "{accounts}" a '
            f'ON a."id" = r."account_id" GROUP BY r."account_id", a."source_id"',
            [organization.pk, organization.pk, at],
        )


def _add_to_sources(organization: Organization, start: date, end: date, sign: int) -> None:
    """Add (``sign`` 1) or take away (-1) the rows per source of the days ``start`` to ``end``
    to or from their sums of every day (``SourceRollup``), in the caller's transaction: the
    days' old rows are taken away before they are replaced, the new ones added after.

    Taking away is an UPDATE of rows that hold at least as much (they are the sums): an
    upsert would propose negative counts, which PostgreSQL checks before the conflict."""
    table, daily = SourceRollup._meta.db_table, DailyRollup._meta.db_table
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    sums = ", ".join(f'SUM("{c}") AS "{c}"' for c in COLUMNS)
    days = (
        f'SELECT "program_id", "source_id", {sums} FROM "{daily}" '  # noqa: S608 - our names
        'WHERE "organization_id" = %s AND "day" >= %s AND "day" <= %s '
        'GROUP BY "program_id", "source_id"'
    )
    if connection.vendor != "postgresql":
        # SQLite (the embedded development setup, a demo's worth of rows): the sums are
        # computed again from every day once the new rows are in.
        if sign > 0:
            SourceRollup.objects.filter(organization=organization).delete()
            with connection.cursor() as cursor:
                cursor.execute(
                    f'INSERT INTO "{table}" ("organization_id", "program_id", "source_id", '  # noqa: S608 - our names
                    f"{columns}) SELECT %s, d.* FROM ({days}) d",
                    [organization.pk, organization.pk, date.min, date.max],
                )
        return
    with connection.cursor() as cursor:
        if sign < 0:
            taken = ", ".join(f'"{c}" = s."{c}" - d."{c}"' for c in COLUMNS)
            cursor.execute(
                f'UPDATE "{table}" s SET {taken} FROM ({days}) d '  # noqa: S608 - our names
                'WHERE s."organization_id" = %s '
                'AND COALESCE(s."program_id", 0) = COALESCE(d."program_id", 0) '
                'AND COALESCE(s."source_id", 0) = COALESCE(d."source_id", 0)',
                [organization.pk, start, end, organization.pk],
            )
            return
        added = ", ".join(f'"{c}" = "{table}"."{c}" + EXCLUDED."{c}"' for c in COLUMNS)
        cursor.execute(
            f'INSERT INTO "{table}" ("organization_id", "program_id", "source_id", {columns}) '  # noqa: S608 - our names
            f"SELECT %s, d.* FROM ({days}) d "
            f"ON CONFLICT ON CONSTRAINT uniq_source_rollup DO UPDATE SET {added}",
            [organization.pk, organization.pk, start, end],
        )


def _build_kinds(organization: Organization, start: date, end: date) -> None:
    """Replace the rows per kind of source of the days ``start`` to ``end`` with the sums of
    the rows per source (in the caller's transaction)."""
    KindRollup.objects.filter(organization=organization, day__gte=start, day__lte=end).delete()
    sums = (
        DailyRollup.objects.filter(organization=organization, day__gte=start, day__lte=end)
        .order_by()
        .values("day", "program_id", "source__kind")
        .annotate(**{f"_{name}": Sum(name) for name in COLUMNS})
    )
    KindRollup.objects.bulk_create(
        [
            KindRollup(
                organization=organization,
                day=row["day"],
                program_id=row["program_id"],
                kind=row["source__kind"],
                **{name: row[f"_{name}"] for name in COLUMNS},
            )
            for row in sums
        ],
        batch_size=5000,
    )


def lock(organization: Organization, what: str = "rollups") -> None:
    """Two builds of one organization's rollups (``what``: "rollups", or "facts" for the
    customer facts), by the task and the command, replace its rows one after the other, not
    interleaved: a transaction-scoped advisory lock on PostgreSQL (SQLite runs one writer at
    a time anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"analytics-{what}:{organization.pk}"],
            )


def first_day(organization: Organization) -> date | None:
    """The local day of the organization's earliest event of any kind the rollups count."""
    tz = ZoneInfo(organization.timezone)
    firsts = []
    for qs, field in (
        (Click.objects.filter(organization=organization), "at"),
        (Referral.objects.filter(organization=organization), "created_at"),
        (Purchase.objects.filter(organization=organization), "occurred_at"),
        (Reward.objects.filter(organization=organization), "created_at"),
        (LedgerEntry.objects.filter(organization=organization), "at"),
        (Payout.objects.filter(organization=organization), "paid_at"),
    ):
        first = qs.using(DB).aggregate(first=Min(field))["first"]
        if first is not None:
            firsts.append(timezone.localtime(first, tz).date())
    contribution = (
        InsiderContribution.objects.using(DB)
        .filter(organization=organization)
        .aggregate(first=Min("occurred_on"))["first"]
    )
    if contribution is not None:
        firsts.append(contribution)
    return min(firsts) if firsts else None


def _months(start: date, end: date) -> list[tuple[date, date]]:
    chunks, first = [], start
    while first <= end:
        following = (first.replace(day=1) + timedelta(days=32)).replace(day=1)
        chunks.append((first, min(end, following - timedelta(days=1))))
        first = following
    return chunks


def rebuild(
    *,
    organization: Organization,
    now=None,
    start: date | None = None,
    progress: Callable[[int], Any] | None = None,
) -> list[tuple[date, date]]:
    """Build every day from ``start`` (default: the first event) to the cut (``build_until``:
    today, up to a moment ago), a month at a time, then mark the rollups as built up to it
    (``start`` is for ``refresh``: the days before it must be built already). Returns the
    months built; for a progress bar, ``months_to_build`` says how many there will be and
    ``progress`` is called after each."""
    until = build_until(organization, now)
    end = _day_of(organization, until)
    begin = start or first_day(organization) or end
    chunks = _months(begin, end) if begin <= end else []
    for first, last in chunks:
        build(organization=organization, start=first, end=last, before=until)
        if progress:
            progress(1)
    balances_at = until
    defaults: dict[str, Any] = {
        "built_through": end,
        "built_until": until,
        "built_at": timezone.now(),
        "balances_at": balances_at,
        "timezone": organization.timezone,
    }
    if start is None:
        defaults["built_from"] = min(begin, end)
        defaults["kinds_digest"] = kinds_digest(organization)
        defaults["won_built"] = True
    with transaction.atomic():
        # The snapshot and the instant it is of, together: a reader never moves one
        # instant's balances from another.
        lock(organization)
        _snapshot_balances(organization, balances_at)
        defaults["ranked_by_net"] = _kept_ranking(organization)
        RollupState.objects.update_or_create(organization=organization, defaults=defaults)
    for read in ("_rollup_state", "_rollup_reads", "_accounts_that_owed"):
        organization.__dict__.pop(read, None)
    if start is None:
        # Every row was just written: without statistics the planner guesses a few hundred
        # rows where there are millions.
        vacuum(analyze=True)
    return chunks


def vacuum(*, analyze: bool = False, also: Sequence = ()) -> None:
    """VACUUM the rollup tables and the tables of the models ``also`` (and ANALYZE them:
    after a rebuild), on PostgreSQL. The rankings read covering indexes alone
    (``sourcerollup_net_cover``, the won rows'), which they can only do for pages the
    visibility map marks all-visible, and every refresh rewrites rows (the source values
    all of theirs); autovacuum waits for a fifth of a table to change, and may be off. So
    the builds clean up after themselves (about a second at a million customers). VACUUM
    runs outside a transaction only (not in a test's): there, ANALYZE alone."""
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(m._meta.db_table for m in (*ROLLUP_MODELS, *also))
    with connection.cursor() as cursor:
        if not connection.in_atomic_block:
            cursor.execute(f"VACUUM {'(ANALYZE) ' if analyze else ''}{tables}")
        elif analyze:
            cursor.execute(f"ANALYZE {tables}")


ROLLUP_MODELS = (
    DailyRollup,
    KindRollup,
    SourceRollup,
    WonRollup,
    WonKindRollup,
    BalanceSnapshot,
)


def kinds_digest(organization: Organization) -> str:
    """A digest of every source's kind: it changes when a source changes kind."""
    digest = hashlib.sha256()
    for pk, kind in (
        ReferralSource.objects.filter(organization=organization)
        .order_by("pk")
        .values_list("pk", "kind")
        .iterator(chunk_size=5000)
    ):
        digest.update(f"{pk}:{kind},".encode())
    return digest.hexdigest()


def resum_kinds(*, organization: Organization, state: RollupState) -> bool:
    """The rows per kind of source sum the rows per source by each source's kind *now*: when
    a source has changed kind since they were summed, sum every day again (the daily rows
    per source are unchanged). Returns whether it did."""
    current = kinds_digest(organization)
    if current == state.kinds_digest:
        return False
    with transaction.atomic():
        lock(organization)
        _build_kinds(organization, state.built_from or date.min, state.built_through)
        _build_won_kinds(organization, state.built_from or date.min, state.built_through)
        RollupState.objects.filter(organization=organization).update(kinds_digest=current)
    organization.__dict__.pop("_rollup_reads", None)
    return True


def months_to_build(organization: Organization, now=None) -> int:
    end = _day_of(organization, build_until(organization, now))
    begin = first_day(organization) or end
    return len(_months(begin, end)) if begin <= end else 0


def refresh(*, organization: Organization, now=None) -> None:
    """Keep the rollups current: today up to the cut and the ``REFRESH_DAYS`` days before it
    again, and every day since the last build (the whole history when there are none yet)."""
    state = RollupState.objects.filter(organization=organization).first()
    if state is not None and not _same_zone(state, organization):
        # The owner moved the organization to another time zone: every local day moved, so
        # every rollup is built again (the pages read the rows meanwhile).
        with transaction.atomic():
            lock(organization)
            for model in ROLLUP_MODELS:
                model.objects.filter(organization=organization).delete()
            RollupState.objects.filter(organization=organization).delete()
        state = None
    if state is None:
        rebuild(organization=organization, now=now)
        return
    resum_kinds(organization=organization, state=state)
    if not state.won_built:
        # Rollups built before the rows of new business existed: build those for every day
        # they cover, once.
        first = state.built_from or state.built_through
        for month_start, month_end in _months(first, state.built_through):
            with transaction.atomic():
                lock(organization)
                _build_won(
                    organization,
                    Period(
                        start=month_start,
                        end=month_end,
                        tz=organization.timezone,
                        before=state.built_until,
                    ),
                )
        RollupState.objects.filter(organization=organization).update(won_built=True)
    today = _day_of(organization, build_until(organization, now))
    start = min(state.built_through, today - timedelta(days=REFRESH_DAYS))
    changed = {
        *_changed_reward_days(organization, state),
        *_changed_referral_days(organization, state),
        *_changed_expiry_days(organization, state),
    }
    for first, last in day_runs(sorted(d for d in changed if d < start)):
        build(organization=organization, start=first, end=last)
    rebuild(organization=organization, now=now, start=start)


def _last_build(organization: Organization, state: RollupState) -> datetime:
    """The instant from which a change may have missed the last build."""
    return (
        state.built_until
        or Period(
            start=state.built_through, end=state.built_through, tz=organization.timezone
        ).until
    ) - SETTLE


def _local_days(organization: Organization, qs, field: str) -> set[date]:
    zone = ZoneInfo(organization.timezone)
    return set(
        qs.filter(**{f"{field}__isnull": False})
        .annotate(day=Trunc(field, "day", output_field=DateField(), tzinfo=zone))
        .order_by()
        .values_list("day", flat=True)
        .distinct()
    )


def _changed_referral_days(organization: Organization, state: RollupState) -> list[date]:
    """The local days, already rolled up, of what a referral reviewed since the last build
    (held, approved or rejected) counts on: its conversions' purchases, now credited to its
    source or no longer, and its signup and win, replayed on their own days at approval."""
    since = _last_build(organization, state)
    referrals = Referral.objects.filter(
        organization=organization,
        created_at__lt=since,
        # The event's own organization too: the index (organization, at) finds them.
        events__organization=organization,
        events__at__gte=since,
    )
    days = _local_days(
        organization,
        Purchase.objects.filter(organization=organization, conversion__referral__in=referrals),
        "occurred_at",
    )
    for field in ("signed_up_at", "converted_at"):
        days |= _local_days(organization, Referral.objects.filter(pk__in=referrals), field)
    return [day for day in days if day <= state.built_through]


def _changed_expiry_days(organization: Organization, state: RollupState) -> list[date]:
    """The local days, already rolled up, of the credit the expiry task closed since the
    last build: its breakage is dated when the lot expired, days earlier when the task ran
    late (an outage)."""
    since = _last_build(organization, state)
    lots = CreditLot.objects.filter(organization=organization, expired_at__gte=since)
    days = _local_days(organization, lots, "expires_at")
    return [day for day in days if day <= state.built_through]


def _changed_reward_days(organization: Organization, state: RollupState) -> list[date]:
    """The local days, already rolled up, of the rewards whose cost changed since the last
    build: voided, or their purchase refunded (a share taken back). A reward's cost counts on
    the day it was issued, often before the days the refresh builds again."""
    since = _last_build(organization, state)
    rewards = Reward.objects.filter(organization=organization, created_at__lt=since).filter(
        Q(voided_at__gte=since) | Q(conversion__purchase__refunds__created_at__gte=since)
    )
    days = _local_days(organization, rewards, "created_at")
    return [day for day in days if day <= state.built_through]
