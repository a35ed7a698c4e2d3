"""Customer facts and cohort rollups: retention and value without a subquery per customer.

``retention.customer_spans`` defines every figure on the raw rows: a customer's start (first
purchase), whether they bought again N days or more after it, their net revenue in the N days.
Computed live that is several subqueries per customer (seconds at 100,000 customers), so:

- ``CustomerFact`` keeps those facts per customer, none of them depending on "now": whether a
  span is *over* (start + N days <= now) is decided when read;
- ``CohortRollup`` sums the facts per start day (local) and referred, every customer counted
  with every span; a reader takes a day whole when every span of it is over (the day is
  before the local day of now - N days), skips it when none is, and reads the one day in
  between (per span) from the facts, so each figure is the raw one exactly.

``rebuild`` builds both set-based (one INSERT ... SELECT each); ``refresh`` (the beat task,
after the daily rollups) recomputes the customers with a purchase recorded, a referral
converted, or created since the last refresh (``FactState.recorded_through``, minus
``OVERLAP`` for transactions still open then) and the cohort days they leave or join, and
rebuilds the daily rollups of the (older) days those purchases fell on.
Numbers are as fresh as the last refresh; ``ANALYTICS_ROLLUPS=0`` reads everything raw.
PostgreSQL only (the SQL below); elsewhere the pages read raw.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, connections, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Customer, Organization
from referrals.models import signed_amount

from . import rollups
from .db import DB
from .models import (
    CohortRollup,
    CustomerFact,
    FactState,
    RollupState,
    SourceRollup,
    SourceValue,
)
from .period import Period, day_runs

SPANS = (30, 90, 180, 365)  # retention.SPANS
OVERLAP = timedelta(minutes=2)  # transactions still open at a refresh: redone at the next
_UNKNOWN = object()


def state(organization: Organization) -> FactState | None:
    """The organization's fact state (None: read raw), once per organization object."""
    if not rollups.enabled() or connections[DB].vendor != "postgresql":
        return None
    cached = organization.__dict__.get("_fact_state", _UNKNOWN)
    if cached is _UNKNOWN:
        cached = FactState.objects.using(DB).filter(organization=organization).first()
        if cached is not None and not _same_zone(cached, organization):
            cached = None  # start days of another time zone: read the rows until rebuilt
        organization.__dict__["_fact_state"] = cached
    return cached  # type: ignore[return-value]


def _same_zone(state: FactState, organization: Organization) -> bool:
    """Whether the facts' start days are the organization's local days (facts built before
    the zone was recorded are taken to be)."""
    return not state.timezone or state.timezone == organization.timezone


# Building -----------------------------------------------------------------------------------

_FACT_COLUMNS = [
    "referred",
    "started_at",
    "start_day",
    "source_id",
    "program_id",
    *(f"again_{d}" for d in SPANS),
    *(f"revenue_{d}" for d in SPANS),
    "revenue",
]


def _facts_sql(only_some: bool) -> str:
    """INSERT ... SELECT of the facts of an organization's customers (``only_some``: those
    in %(ids)s), upserted. The expressions are ``retention.customer_spans``' own."""
    some = "AND c.id = ANY(%(ids)s)" if only_some else ""
    again = ",\n".join(
        f"bool_or(p.kind = 'purchase' AND p.occurred_at >= f.started_at + interval '{d} days')"
        f" AS again_{d}"
        for d in SPANS
    )
    revenue = ",\n".join(
        f"sum(p.signed) FILTER (WHERE p.occurred_at < f.started_at + interval '{d} days')"
        f" AS revenue_{d}"
        for d in SPANS
    )
    columns = ", ".join(_FACT_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _FACT_COLUMNS)
    return f"""
        WITH cust AS MATERIALIZED (
            SELECT c.id, c.is_referred FROM accounts_customer c
            WHERE c.organization_id = %(org)s {some}
        ), firsts AS (
            SELECT p.customer_id, min(p.occurred_at) AS started_at
            FROM referrals_purchase p JOIN cust ON cust.id = p.customer_id
            WHERE p.organization_id = %(org)s AND p.kind = 'purchase'
            GROUP BY p.customer_id
        ), won AS (
            SELECT DISTINCT ON (r.friend_id) r.friend_id, r.source_id, r.program_id
            FROM referrals_referral r JOIN cust ON cust.id = r.friend_id
            WHERE r.organization_id = %(org)s AND r.status = 'converted'
            ORDER BY r.friend_id, r.converted_at
        ), spans AS (
            SELECT p.customer_id, {again}, {revenue}, sum(p.signed) AS revenue
            FROM (
                SELECT p.customer_id, p.kind, p.occurred_at,
                       CASE WHEN p.kind = 'refund' THEN -p.amount ELSE p.amount END AS signed
                FROM referrals_purchase p JOIN cust ON cust.id = p.customer_id
                WHERE p.organization_id = %(org)s
            ) p
            LEFT JOIN firsts f ON f.customer_id = p.customer_id
            GROUP BY p.customer_id
        )
        INSERT INTO analytics_customerfact (customer_id, organization_id, {columns})
        SELECT cust.id, %(org)s, cust.is_referred, f.started_at,
               (f.started_at AT TIME ZONE %(tz)s)::date, won.source_id, won.program_id,
               {", ".join(f"coalesce(spans.again_{d}, false)" for d in SPANS)},
               {", ".join(f"coalesce(spans.revenue_{d}, 0)" for d in SPANS)},
               coalesce(spans.revenue, 0)
        FROM cust
        LEFT JOIN firsts f ON f.customer_id = cust.id
        LEFT JOIN won ON won.friend_id = cust.id
        LEFT JOIN spans ON spans.customer_id = cust.id
        ON CONFLICT (customer_id) DO UPDATE SET {updates}
    """  # noqa: S608 - our own columns and spans, values as parameters


_COHORT_SQL = """
    INSERT INTO analytics_cohortrollup (organization_id, day, referred, customers, revenue, {cols})
    SELECT organization_id, start_day, referred, count(*), sum(revenue), {sums}
    FROM analytics_customerfact
    WHERE organization_id = %(org)s {where}
    GROUP BY organization_id, start_day, referred
"""


def _cohort_sql(where: str = "") -> str:
    cols = [f"buying_{d}" for d in SPANS] + [f"revenue_{d}" for d in SPANS]
    cols += [f"squares_{d}" for d in SPANS]
    sums = [f"count(*) FILTER (WHERE again_{d})" for d in SPANS]
    sums += [f"sum(revenue_{d})" for d in SPANS]
    sums += [f"sum(revenue_{d} * revenue_{d})" for d in SPANS]
    return _COHORT_SQL.format(cols=", ".join(cols), sums=", ".join(sums), where=where)


_DAYS = "(start_day = ANY(%(days)s) OR (%(none)s AND start_day IS NULL))"
_DELETE_DAYS = """
    DELETE FROM analytics_cohortrollup WHERE organization_id = %(org)s
    AND (day = ANY(%(days)s) OR (%(none)s AND day IS NULL))
"""


def _save_state(organization: Organization, recorded_through: datetime, last: int) -> None:
    FactState.objects.update_or_create(
        organization=organization,
        defaults={
            "recorded_through": recorded_through,
            "last_customer_id": last,
            "built_at": timezone.now(),
            "timezone": organization.timezone,
        },
    )
    organization.__dict__.pop("_fact_state", None)


def _last_customer(organization: Organization) -> int:
    last = Customer.objects.filter(organization=organization).order_by("-pk").first()
    return last.pk if last else 0


def rebuild(*, organization: Organization, now: datetime | None = None) -> int:
    """Every customer's facts and every cohort day again, set-based. Returns the number of
    customers. Needs PostgreSQL (a no-op elsewhere)."""
    if connection.vendor != "postgresql":
        return 0
    recorded_through = now or timezone.now()
    params = {"org": organization.pk, "tz": organization.timezone}
    with transaction.atomic():
        rollups.lock(organization, "facts")
        last = _last_customer(organization)
        with connection.cursor() as cursor:
            # Hash aggregates over every purchase of the organization: room to stay in memory.
            cursor.execute("SET LOCAL work_mem = '128MB'")
            cursor.execute(
                "DELETE FROM analytics_customerfact WHERE organization_id = %s", [organization.pk]
            )
            cursor.execute(_facts_sql(only_some=False), params)
            count = cursor.rowcount
            cursor.execute(
                "DELETE FROM analytics_cohortrollup WHERE organization_id = %s", [organization.pk]
            )
            cursor.execute(_cohort_sql(), params)
            cursor.execute("ANALYZE analytics_customerfact, analytics_cohortrollup")
        _save_state(organization, recorded_through, last)
        build_values(organization)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE analytics_sourcevalue")
    return count


def changed_customers(organization: Organization, current: FactState) -> list[int]:
    """The customers whose facts may have changed since ``current``: a purchase recorded, a
    referral converted or reviewed (approved weeks after the purchase that won its friend),
    or created since (``OVERLAP`` earlier, for transactions still open
    then)."""
    since = current.recorded_through - OVERLAP
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT customer_id FROM referrals_purchase
            WHERE organization_id = %(org)s AND created_at >= %(since)s
            UNION
            SELECT friend_id FROM referrals_referral
            WHERE organization_id = %(org)s AND converted_at >= %(since)s
              AND friend_id IS NOT NULL
            UNION
            SELECT r.friend_id FROM referrals_referral r
            JOIN referrals_referralevent e ON e.referral_id = r.id
            WHERE e.organization_id = %(org)s AND e.at >= %(since)s
              AND r.friend_id IS NOT NULL
            UNION
            SELECT id FROM accounts_customer
            WHERE organization_id = %(org)s AND id > %(last)s
            """,
            {"org": organization.pk, "since": since, "last": current.last_customer_id},
        )
        return [row[0] for row in cursor.fetchall()]


def late_days(organization: Organization, current: FactState) -> list[date]:
    """The local days, already rolled up, of the purchases recorded since ``current`` (a
    purchase recorded late, an import of old orders): the beat task rebuilds only the last
    days of the daily rollups, so these are rebuilt here."""
    covered = RollupState.objects.filter(organization=organization).first()
    if covered is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT DISTINCT (occurred_at AT TIME ZONE %(tz)s)::date AS day
            FROM referrals_purchase
            WHERE organization_id = %(org)s AND created_at >= %(since)s
            ORDER BY day""",
            {
                "org": organization.pk,
                "tz": organization.timezone,
                "since": current.recorded_through - OVERLAP,
            },
        )
        return [row[0] for row in cursor.fetchall() if row[0] <= covered.built_through]


def refresh(*, organization: Organization, now: datetime | None = None) -> int:
    """Bring the facts up to date: the changed customers again, and the cohort days they
    leave or join (everything the first time). Returns the number of customers redone."""
    if connection.vendor != "postgresql":
        return 0
    current = FactState.objects.filter(organization=organization).first()
    if current is None or not _same_zone(current, organization):
        # None yet, or the owner moved the organization to another time zone: every start
        # day moved, so every fact is built again (the pages read the rows meanwhile).
        return rebuild(organization=organization, now=now)
    recorded_through = now or timezone.now()
    params: dict[str, Any] = {"org": organization.pk, "tz": organization.timezone}
    for first, last in day_runs(late_days(organization, current)):
        rollups.build(organization=organization, start=first, end=last)
    with transaction.atomic():
        rollups.lock(organization, "facts")
        last = _last_customer(organization)
        ids = changed_customers(organization, current)
        if ids:
            params["ids"] = ids
            day_of = (
                "SELECT DISTINCT start_day FROM analytics_customerfact WHERE customer_id = ANY(%s)"
            )
            with connection.cursor() as cursor:
                cursor.execute(day_of, [ids])
                days = {row[0] for row in cursor.fetchall()}
                cursor.execute(_facts_sql(only_some=True), params)
                cursor.execute(day_of, [ids])
                days |= {row[0] for row in cursor.fetchall()}
                params.update(days=[d for d in days if d is not None], none=None in days)
                cursor.execute(_DELETE_DAYS, params)
                cursor.execute(_cohort_sql(f"AND {_DAYS}"), params)
        _save_state(organization, recorded_through, last)
        build_values(organization)
    return len(ids)


#: The tables a refresh rewrites rows of, for the task to vacuum after it.
FACT_MODELS = (CustomerFact, CohortRollup, SourceValue)

RECENT_DAYS = 367  # recent_from: a year and two days before values_through


def build_values(organization: Organization) -> None:
    """Every source's value sums again, up to the daily rollups' cut (none without them):
    historic, their sums of every day (``SourceRollup``), and recent revenue from the rows
    of the year before."""
    from .value import recent_revenue

    covered = RollupState.objects.filter(organization=organization).first()
    SourceValue.objects.filter(organization=organization).delete()
    through = covered.built_through if covered else None
    start = through - timedelta(days=RECENT_DAYS) if through else None
    until = None
    if covered is not None and through is not None and start is not None:
        tz = organization.timezone
        until = covered.built_until or Period(start=through, end=through, tz=tz).until
        sums: dict[tuple, dict[str, Any]] = {
            (program, source): {"historic": net}
            for program, source, net in SourceRollup.objects.filter(
                organization=organization, source__isnull=False
            ).values_list("program", "source", "net")
        }
        span = Period(start=start, end=through, tz=tz, before=until)
        for row in (
            recent_revenue(organization)
            .filter(span.q("occurred_at"))
            .values("conversion__referral__program", "conversion__source")
            .annotate(total=Sum(signed_amount()))
        ):
            key = (row["conversion__referral__program"], row["conversion__source"])
            sums.setdefault(key, {})["recent"] = row["total"] or 0
        SourceValue.objects.bulk_create(
            [
                SourceValue(organization=organization, program_id=p, source_id=s, **v)
                for (p, s), v in sums.items()
            ],
            batch_size=5000,
        )
    FactState.objects.filter(organization=organization).update(
        values_through=through, values_until=until, recent_from=start
    )
    organization.__dict__.pop("_fact_state", None)


# Reading ------------------------------------------------------------------------------------


@dataclass
class Sums:
    """One group's figures over one span: customers whose span is over, those still buying,
    and the sum and sum of squares of their revenue over the span."""

    n: int = 0
    buying: int = 0
    total: Decimal = Decimal(0)
    squares: Decimal = Decimal(0)

    def add(self, n, buying, total, squares) -> None:
        self.n += n or 0
        self.buying += buying or 0
        self.total += total or 0
        self.squares += squares or 0


@dataclass
class Group:
    customers: int
    spans: dict[int, Sums]


def _boundaries(now: datetime, tz: str) -> dict[int, tuple[date, datetime]]:
    """Per span: the local day whose customers are partly over at ``now``, and the last
    start (included) whose span is over."""
    zone = ZoneInfo(tz)
    return {
        d: (timezone.localtime(now - timedelta(days=d), zone).date(), now - timedelta(days=d))
        for d in SPANS
    }


def span_groups(
    *, organization: Organization, period: Period | None, now: datetime, by_month: bool
) -> dict[tuple[str, bool], Group]:
    """(month "YYYY-MM" or "", referred) -> customers who started (in the period) and each
    span's sums, exactly as ``retention`` computes them from ``customer_spans``: the cohort
    rollups for the days wholly over or not, the facts for the one day per span between."""
    bounds = _boundaries(now, organization.timezone)
    params: dict[str, Any] = {"org": organization.pk}
    in_period = ""
    if period is not None:
        in_period = "AND {day} BETWEEN %(start)s AND %(end)s"
        params.update(start=period.start, end=period.end)
    for d, (day, cutoff) in bounds.items():
        params[f"b{d}"], params[f"c{d}"] = day, cutoff
    params["bdays"] = sorted({day for day, _ in bounds.values()})

    def key(column: str) -> str:
        return f"to_char({column}, 'YYYY-MM')" if by_month else "''"

    whole = ", ".join(
        f"sum(customers) FILTER (WHERE day < %(b{d})s), "
        f"sum(buying_{d}) FILTER (WHERE day < %(b{d})s), "
        f"sum(revenue_{d}) FILTER (WHERE day < %(b{d})s), "
        f"sum(squares_{d}) FILTER (WHERE day < %(b{d})s)"
        for d in SPANS
    )
    partial = ", ".join(
        f"count(*) FILTER (WHERE {over}), "
        f"count(*) FILTER (WHERE {over} AND again_{d}), "
        f"sum(revenue_{d}) FILTER (WHERE {over}), "
        f"sum(revenue_{d} * revenue_{d}) FILTER (WHERE {over})"
        for d in SPANS
        for over in [f"start_day = %(b{d})s AND started_at <= %(c{d})s"]
    )
    groups: dict[tuple[str, bool], Group] = {}
    with connections[DB].cursor() as cursor:
        cursor.execute(
            f"""SELECT {key("day")}, referred, sum(customers), {whole}
            FROM analytics_cohortrollup
            WHERE organization_id = %(org)s AND day IS NOT NULL {in_period.format(day="day")}
            GROUP BY 1, 2""",  # noqa: S608 - our own columns and spans, values as parameters
            params,
        )
        for row in cursor.fetchall():
            group = Group(int(row[2]), {d: Sums() for d in SPANS})
            for i, d in enumerate(SPANS):
                group.spans[d].add(*row[3 + 4 * i : 7 + 4 * i])
            groups[(row[0], row[1])] = group
        cursor.execute(
            f"""SELECT {key("start_day")}, referred, {partial}
            FROM analytics_customerfact
            WHERE organization_id = %(org)s AND start_day = ANY(%(bdays)s)
            {in_period.format(day="start_day")}
            GROUP BY 1, 2""",  # noqa: S608 - our own columns and spans, values as parameters
            params,
        )
        for row in cursor.fetchall():
            # The rollups count every customer of the day (same transaction as the facts).
            group = groups.setdefault((row[0], row[1]), Group(0, {d: Sums() for d in SPANS}))
            for i, d in enumerate(SPANS):
                group.spans[d].add(*row[2 + 4 * i : 6 + 4 * i])
    return groups


def retention_by_source(
    *, organization: Organization, now: datetime, program_id: int | None, days: int = 365
) -> dict[int | None, tuple[int, int]]:
    """Per source that won them (None: none): the referred customers (of the program) whose
    ``days`` span is over, and how many of them still buy."""
    cutoff = now - timedelta(days=days)
    params: dict[str, Any] = {
        "org": organization.pk,
        "cutoff": cutoff,
        # Implied by started_at <= cutoff (start_day is its local day): lets a young book
        # read its few customers a year old by customerfact_start (1M: 60 ms -> 12 ms).
        "cutoff_day": timezone.localtime(cutoff, ZoneInfo(organization.timezone)).date(),
    }
    program = ""
    if program_id:
        program, params["program"] = "AND program_id = %(program)s", program_id
    with connections[DB].cursor() as cursor:
        cursor.execute(
            f"""SELECT source_id, count(*),
                       count(*) FILTER (WHERE again_{int(days)})
            FROM analytics_customerfact
            WHERE organization_id = %(org)s AND referred AND start_day <= %(cutoff_day)s
              AND started_at <= %(cutoff)s {program}
            GROUP BY source_id""",  # noqa: S608 - our own columns and spans, values as parameters
            params,
        )
        return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}


def customer_totals(*, organization: Organization) -> dict[bool, tuple[int, int, Decimal]]:
    """referred -> (customers, customers who bought, net revenue of all their purchases)."""
    with connections[DB].cursor() as cursor:
        cursor.execute(
            """SELECT referred, sum(customers),
                      coalesce(sum(customers) FILTER (WHERE day IS NOT NULL), 0), sum(revenue)
            FROM analytics_cohortrollup WHERE organization_id = %s GROUP BY referred""",
            [organization.pk],
        )
        return {row[0]: (int(row[1]), int(row[2]), row[3]) for row in cursor.fetchall()}
