"""Retention and value of referred customers against the others, by cohort.

A customer's *start* is their first purchase (refunds aside); a cohort is the customers who
started in one calendar month of the organization's time zone. For a span of N days:

- *still buying after N days*: the customer bought again (a purchase, not a refund) N days
  or more after their start;
- *revenue over N days*: their net revenue (every purchase minus refunds, credited to a
  source or not) in the N days from their start.

A customer counts in a span only once it is over (start + N days is in the past), so young
customers never pull a figure down; ``n`` is always the number of customers behind it.
*Referred* is ``Customer.is_referred`` (a referral won them). The comparison is reported with
95% intervals (Wilson for shares, the normal approximation for means, see ``stats``) and
flagged "sample too small to tell" when either side has fewer than ``MIN_SAMPLE`` customers.

``customer_spans`` is the definition, on the raw rows; with the customer facts built
(``facts``), ``cohorts`` and ``referred_vs_other`` read the same sums from the cohort
rollups and the facts instead (a test checks they are equal), and ``ANALYTICS_ROLLUPS=0``
reads the rows.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import DateTimeField, Exists, ExpressionWrapper, OuterRef, Subquery, Sum
from django.utils import timezone

from accounts.models import Customer, Organization
from core.money import MoneyField, cents
from referrals.models import Purchase, Referral, signed_amount

from . import facts
from .db import DB
from .period import Period
from .stats import Interval, Sample, mean_difference, mean_interval, share_difference, wilson

SPANS = facts.SPANS
#: Below this many customers on either side, a comparison says "sample too small to tell".
MIN_SAMPLE = 30
MONEY = MoneyField()


@dataclass(frozen=True)
class CustomerSpan:
    customer_id: int
    referred: bool
    started_at: datetime
    source_id: int | None  # the source of the referral that won the customer
    program_id: int | None
    still_buying: dict[int, bool | None]  # None: the span is not over yet
    revenue: dict[int, Decimal | None]


def _after(days: int):
    return ExpressionWrapper(
        OuterRef("started_at") + timedelta(days=days), output_field=DateTimeField()
    )


def customer_spans(
    *,
    organization: Organization,
    period: Period | None = None,
    now: datetime | None = None,
    referred_only: bool = False,
    spans: tuple[int, ...] = SPANS,
) -> list[CustomerSpan]:
    """Every customer who started in the period (all, without one) with the facts of each
    span (of ``spans`` only, when a reader needs fewer)."""
    now = now or timezone.now()
    purchases = Purchase.objects.using(DB).filter(customer=OuterRef("pk")).order_by()
    first = purchases.purchases().order_by("occurred_at").values("occurred_at")[:1]
    won = Referral.objects.using(DB).filter(friend=OuterRef("pk")).won().order_by("converted_at")
    customers = (
        Customer.objects.using(DB)
        .filter(organization=organization)
        .annotate(started_at=Subquery(first))
        .filter(started_at__isnull=False)
    )
    if referred_only:
        customers = customers.filter(is_referred=True)
    if period is not None:
        customers = customers.filter(period.q("started_at"))
    annotations = {
        "won_source": Subquery(won.values("source")[:1]),
        "won_program": Subquery(won.values("program")[:1]),
    }
    for days in spans:
        annotations[f"again_{days}"] = Exists(
            purchases.purchases().filter(occurred_at__gte=_after(days))
        )
        annotations[f"revenue_{days}"] = Subquery(
            purchases.filter(occurred_at__lt=_after(days))
            .values("customer")
            .annotate(total=Sum(signed_amount()))
            .values("total"),
            output_field=MONEY,
        )
    rows = (
        customers.annotate(**annotations)
        .order_by("started_at", "pk")
        .values("pk", "is_referred", "started_at", *annotations)
    )
    result = []
    for row in rows:
        over = {days: row["started_at"] + timedelta(days=days) <= now for days in spans}
        result.append(
            CustomerSpan(
                customer_id=row["pk"],
                referred=row["is_referred"],
                started_at=row["started_at"],
                source_id=row["won_source"],
                program_id=row["won_program"],
                still_buying={d: row[f"again_{d}"] if over[d] else None for d in spans},
                revenue={d: cents(row[f"revenue_{d}"]) if over[d] else None for d in spans},
            )
        )
    return result


# Aggregates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupSpan:
    """One group (referred or not) over one span."""

    n: int  # customers whose span is over
    still_buying: int
    share: Interval | None  # fractions of 1
    revenue: Sample
    revenue_interval: Interval | None

    @classmethod
    def of(cls, rows: list[CustomerSpan], days: int) -> "GroupSpan":
        over = [r for r in rows if r.still_buying[days] is not None]
        buying = sum(1 for r in over if r.still_buying[days])
        return cls.from_sample(buying, Sample.of([r.revenue[days] or Decimal(0) for r in over]))

    @classmethod
    def from_sample(cls, still_buying: int, sample: Sample) -> "GroupSpan":
        """From the sums alone (``sample.n`` customers, ``still_buying`` of them)."""
        n = sample.n
        return cls(n, still_buying, wilson(still_buying, n), sample, mean_interval(sample))

    @classmethod
    def from_sums(cls, sums: "facts.Sums") -> "GroupSpan":
        return cls.from_sample(sums.buying, Sample(sums.n, sums.total, sums.squares))

    @property
    def revenue_per_customer(self) -> Decimal | None:
        return cents(self.revenue.mean) if self.n else None


@dataclass(frozen=True)
class SpanComparison:
    days: int
    referred: GroupSpan
    other: GroupSpan
    share_difference: Interval | None  # referred - other, fractions of 1
    revenue_difference: Interval | None  # referred - other, per customer

    @property
    def too_small(self) -> bool:
        return self.referred.n < MIN_SAMPLE or self.other.n < MIN_SAMPLE


def compare(rows: list[CustomerSpan]) -> list[SpanComparison]:
    referred = [r for r in rows if r.referred]
    other = [r for r in rows if not r.referred]
    return _compared(
        {d: GroupSpan.of(referred, d) for d in SPANS}, {d: GroupSpan.of(other, d) for d in SPANS}
    )


def _compared(referred: dict[int, GroupSpan], other: dict[int, GroupSpan]) -> list[SpanComparison]:
    result = []
    for days in SPANS:
        a, b = referred[days], other[days]
        result.append(
            SpanComparison(
                days=days,
                referred=a,
                other=b,
                share_difference=share_difference(a.still_buying, a.n, b.still_buying, b.n),
                revenue_difference=mean_difference(a.revenue, b.revenue),
            )
        )
    return result


def referred_vs_other(
    *, organization: Organization, period: Period | None = None, now: datetime | None = None
) -> list[SpanComparison]:
    """Referred customers against the others who started in the period, span by span
    (from the customer facts when they are built, see ``facts``)."""
    if _from_facts(organization, period):
        groups = facts.span_groups(
            organization=organization, period=period, now=now or timezone.now(), by_month=False
        )
        a, b = (_spans_of(groups.get(("", referred))) for referred in (True, False))
        return _compared(a, b)
    return compare(customer_spans(organization=organization, period=period, now=now))


def _from_facts(organization: Organization, period: Period | None) -> bool:
    """Whether the customer facts answer (built, and the period in the organization's
    time zone, the one their start days are in)."""
    if facts.state(organization) is None:
        return False
    return period is None or period.tz == organization.timezone


def _spans_of(group: "facts.Group | None") -> dict[int, GroupSpan]:
    if group is None:
        return {d: GroupSpan.from_sample(0, Sample()) for d in SPANS}
    return {d: GroupSpan.from_sums(group.spans[d]) for d in SPANS}


@dataclass(frozen=True)
class Cohort:
    month: str  # "2026-03", in the organization's time zone
    customers: dict[str, int]  # "referred" / "other" -> customers who started that month
    spans: dict[str, dict[int, GroupSpan]] = field(default_factory=dict)


def cohorts(
    *, organization: Organization, period: Period | None = None, now: datetime | None = None
) -> list[Cohort]:
    """Month by month: how many customers started, and each group's spans."""
    if _from_facts(organization, period):
        groups = facts.span_groups(
            organization=organization, period=period, now=now or timezone.now(), by_month=True
        )
        months = sorted({month for month, _ in groups})
        named = {"referred": True, "other": False}
        return [
            Cohort(
                month=month,
                customers={
                    k: (g.customers if (g := groups.get((month, r))) else 0)
                    for k, r in named.items()
                },
                spans={k: _spans_of(groups.get((month, r))) for k, r in named.items()},
            )
            for month in months
        ]
    tz = ZoneInfo(organization.timezone)
    by_month: dict[str, list[CustomerSpan]] = {}
    for row in customer_spans(organization=organization, period=period, now=now):
        by_month.setdefault(timezone.localtime(row.started_at, tz).strftime("%Y-%m"), []).append(
            row
        )
    result = []
    for month, rows in sorted(by_month.items()):
        groups = {
            "referred": [r for r in rows if r.referred],
            "other": [r for r in rows if not r.referred],
        }
        result.append(
            Cohort(
                month=month,
                customers={k: len(v) for k, v in groups.items()},
                spans={k: {d: GroupSpan.of(v, d) for d in SPANS} for k, v in groups.items()},
            )
        )
    return result
