"""
Reads for the dashboard: counts, rates and money, for one organization.

Every function takes the organization and an optional period, and never writes. Revenue has
one definition, on the models (``Purchase.objects.credited().net_revenue()``: purchases minus
refunds, attributed to referrals neither rejected nor waiting in review), and every table
here sums the same rows, so the overview, the source page, the by-kind and top-sources
tables and the CSV export agree on every source's figure.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    Count,
    DecimalField,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Customer, Organization, ReferralSource, SourceKind
from core.money import cents
from referrals.models import Click, Purchase, Referral, signed_amount
from referrals.selectors import source_revenue
from rewards.models import LedgerEntry, Reward

from . import facts, report, rollups
from .db import DB
from .period import Filters, Period
from .report import roi_multiple

ZERO = Decimal("0.00")
#: The all-time period: every day a row can fall on.
ALL_TIME_START = date(1900, 1, 1)
ALL_TIME_END = date(9999, 12, 30)


@dataclass(frozen=True)
class Overview:
    clicks: int
    referrals: int
    signups: int
    converted: int
    purchases: int  # credited to a source
    revenue: Decimal  # net revenue credited to sources
    other_revenue: Decimal  # net revenue no source is credited with
    reward_cost: Decimal
    credits_issued: Decimal
    pending_review: int

    @property
    def conversion_rate(self) -> Decimal | None:
        """Share of referrals that became customers."""
        if not self.referrals:
            return None
        return (Decimal(self.converted) * 100 / self.referrals).quantize(Decimal("0.1"))

    gross_margin: Decimal = Decimal("1")

    @property
    def roi(self) -> Decimal | None:
        """(revenue x gross margin - reward cost) / reward cost, as a multiple to the
        hundredth (the report's figure, rounded once); None before any reward was paid."""
        multiple = roi_multiple(
            revenue=self.revenue, cost=self.reward_cost, gross_margin=self.gross_margin
        )
        return None if multiple is None else multiple.quantize(Decimal("0.01"))


def _period(qs, field: str, since: datetime | None, until: datetime | None):
    if since:
        qs = qs.filter(**{f"{field}__gte": since})
    if until:
        qs = qs.filter(**{f"{field}__lt": until})
    return qs


def overview(
    *, organization: Organization, since: datetime | None = None, until: datetime | None = None
) -> Overview:
    clicks = _period(Click.objects.filter(organization=organization), "at", since, until).count()
    referrals = Referral.objects.filter(organization=organization)
    referral_counts = _period(referrals, "created_at", since, until).aggregate(
        total=Count("id"),
        review=Count("id", filter=Q(flagged=True) & ~Q(status=Referral.Status.REJECTED)),
    )
    # Each step counted in the period it happened, as the dashboard's report counts it
    # (``report.volumes``): a friend referred last month and won this month is won this month.
    signups = _period(referrals.filter(signed_up_at__isnull=False), "signed_up_at", since, until)
    won = _period(referrals.won(), "converted_at", since, until)
    money = Purchase.objects.filter(organization=organization).between(since, until).revenue_split()
    reward_cost = _period(
        Reward.objects.filter(organization=organization), "created_at", since, until
    ).cost()
    credits = _period(
        LedgerEntry.objects.filter(organization=organization, kind=LedgerEntry.Kind.GRANT),
        "at",
        since,
        until,
    ).aggregate(total=Sum("amount"))["total"]
    return Overview(
        clicks=clicks,
        referrals=referral_counts["total"],
        signups=signups.count(),
        converted=won.count(),
        purchases=money["credited_purchases"],
        revenue=money["credited"],
        other_revenue=money["not_credited"],
        reward_cost=reward_cost,
        credits_issued=cents(credits),
        pending_review=referral_counts["review"],
        gross_margin=organization.gross_margin,
    )


def all_time(organization: Organization) -> Period:
    """Every day there is, in the organization's time zone: the period of the overview's
    all-time figures, read like any other period (whole days from the rollups)."""
    return Period(start=ALL_TIME_START, end=ALL_TIME_END, tz=organization.timezone)


def overview_all_time(*, organization: Organization) -> Overview:
    """The overview's all-time tiles: the figures of the analytics pages (``report``) over
    every day there is, so each tile is the sum of what the pages show period by period."""
    periods = [all_time(organization)]
    v = report.volumes(organization=organization, periods=periods)[0][None]
    r = report.revenues(organization=organization, periods=periods, won_value=False)[0][None]
    c = report.reward_costs(organization=organization, periods=periods, debt=False)[0][None]
    other = report.uncredited_revenues(organization=organization, periods=periods)[0]
    review = (
        Referral.objects.using(DB)
        .filter(organization=organization, flagged=True)
        .exclude(status=Referral.Status.REJECTED)
        .count()
    )
    return Overview(
        clicks=v.clicks,
        referrals=v.referrals,
        signups=v.signups,
        converted=v.customers_won,
        purchases=v.purchases,
        revenue=r.net_revenue,
        other_revenue=other.get(None, ZERO),
        reward_cost=c.cost,
        credits_issued=c.credit_granted,
        pending_review=review,
        gross_margin=organization.gross_margin,
    )


def monthly_series(*, organization: Organization, months: int = 12, now=None) -> dict:
    """Clicks, referrals and customers won per local month, for the overview chart: this
    month and the ``months - 1`` before it (from the first with anything in it), the
    series page's buckets."""
    today = timezone.localtime(now or timezone.now(), ZoneInfo(organization.timezone)).date()
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    period = Period(start=first, end=today, tz=organization.timezone)
    per_month = report.volume(organization=organization, period=period, by="month")
    labels, month = [], first
    while month <= today:
        labels.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    busy = [m for m in labels if m in per_month]
    labels = labels[labels.index(busy[0]) :] if busy else []
    vols = [per_month.get(m) or report.Volume() for m in labels]
    return {
        "labels": [m.strftime("%Y-%m") for m in labels],
        "clicks": [v.clicks for v in vols],
        "referrals": [v.referrals for v in vols],
        "converted": [v.customers_won for v in vols],
    }


def by_source_kind(*, organization: Organization) -> list[dict]:
    """Referrals, customers won and net revenue credited, per kind of source, all time (the
    report's figures by kind)."""
    periods = [all_time(organization)]
    volumes = report.volumes(organization=organization, periods=periods, by="kind")[0]
    revenues = report.revenues(
        organization=organization, periods=periods, by="kind", won_value=False
    )[0]
    labels = dict(SourceKind.choices)
    result = []
    for kind in set(volumes) | set(revenues):
        v = volumes.get(kind) or report.Volume()
        revenue = (revenues.get(kind) or report.Revenue()).net_revenue
        if kind is None or not (v.referrals or v.customers_won or revenue):
            continue
        result.append(
            {
                "kind": kind,
                "label": labels.get(kind, kind),
                "referrals": v.referrals,
                "converted": v.customers_won,
                "revenue": revenue,
            }
        )
    return sorted(result, key=lambda r: (-r["revenue"], r["label"]))


def top_sources(*, organization: Organization, limit: int = 10) -> list[ReferralSource]:
    """The sources credited with the most net revenue, all time (those credited with any),
    each with ``revenue``, ``referral_count`` and ``won_count`` as the report reads them.

    With rollups of every day, the database ranks the sources by their rolled-up revenue,
    and only candidates' figures are read: the top ``limit`` plus one for each source that
    today's rows (those from the rollups' cut on) take revenue from, and the sources today's
    rows add to that could reach the ``limit``-th. Why that is enough: every source not fetched
    is below the last fetched, R, rolled up; at least ``limit`` fetched ones lose nothing
    today, so stay at or above R; and a source not fetched that gains ``g`` today reaches at
    most R + g, a candidate only when that is at least the ``limit``-th fetched total."""
    every_day = all_time(organization)
    chosen = report.NO_FILTERS
    cut = rollups.cut(organization)
    after = every_day.cut(cut)[1] if cut else None
    today: dict[int, Decimal] = {}
    if after is not None:
        tail = report.revenues(
            organization=organization, periods=[after], by="source", won_value=False
        )[0]
        today = {pk: r.net_revenue for pk, r in tail.items() if pk is not None and r.net_revenue}
    losing = sum(1 for gain in today.values() if gain < 0)
    top = (
        rollups.ranked_sources(organization=organization, column="net", limit=limit + losing)
        if cut
        else None
    )
    if top is not None:
        rolled = dict(top)
        if len(top) < limit + losing:
            bar = None  # every source with rolled-up revenue is fetched
        else:
            totals = sorted((total + today.get(pk, 0) for pk, total in top), reverse=True)
            bar = top[-1][1], totals[limit - 1]
        rising = [
            pk
            for pk, gain in today.items()
            if pk not in rolled and gain > 0 and (bar is None or bar[0] + gain >= bar[1])
        ]
        if not rolled and not rising:
            return []
        chosen = Filters(source_ids=tuple(sorted({*rolled, *rising})))
    periods = [every_day]
    revenues = report.revenues(
        organization=organization, periods=periods, filters=chosen, by="source", won_value=False
    )[0]
    credited = {pk: r.net_revenue for pk, r in revenues.items() if pk is not None and r.net_revenue}
    found = (
        ReferralSource.objects.using(DB)
        .filter(organization=organization, pk__in=list(credited))
        .only("pk", "name", "kind")
    )
    ranked = sorted(found, key=lambda s: (-credited[s.pk], s.name, s.pk))[:limit]
    if not ranked:
        return []
    volumes = report.volumes(
        organization=organization,
        periods=periods,
        filters=Filters(source_ids=tuple(s.pk for s in ranked)),
        by="source",
    )[0]
    for source in ranked:
        v = volumes.get(source.pk) or report.Volume()
        source.revenue = credited[source.pk]  # type: ignore[attr-defined]
        source.referral_count = v.referrals  # type: ignore[attr-defined]
        source.won_count = v.customers_won  # type: ignore[attr-defined]
    return ranked


def source_stats(
    *, organization: Organization, since: datetime | None = None, until: datetime | None = None
):
    """Per source: referrals, signups, customers won, purchases and revenue credited (net of
    refunds) in the period, one row per source, each number a subquery of its own. Revenue
    is the one definition (``Purchase.objects.credited()``) every page uses."""
    of_source = Referral.objects.filter(organization=organization, source=OuterRef("pk"))
    referrals = _period(of_source, "created_at", since, until).order_by()
    # Signups and customers won in the period they happened, as the dashboard counts them.
    signups = _period(
        of_source.filter(signed_up_at__isnull=False), "signed_up_at", since, until
    ).order_by()
    won = _period(of_source.won(), "converted_at", since, until).order_by()
    credited = (
        Purchase.objects.filter(organization=organization)
        .credited()
        .filter(conversion__source=OuterRef("pk"))
        .between(since, until)
        .order_by()
    )
    money = DecimalField(max_digits=14, decimal_places=2)

    def count(qs, **filters):
        rows = qs.filter(**filters).annotate(key=Value(1)).values("key")
        rows = rows.annotate(n=Count("pk")).values("n")[:1]
        return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))

    def total(qs, amount, **filters):
        rows = qs.filter(**filters).annotate(key=Value(1)).values("key")
        rows = rows.annotate(n=Sum(amount)).values("n")[:1]
        return Coalesce(Subquery(rows, output_field=money), Value(ZERO), output_field=money)

    return (
        ReferralSource.objects.filter(organization=organization)
        .annotate(
            referral_count=count(referrals),
            signup_count=count(signups),
            converted_count=count(won),
            purchase_count=count(credited, kind=Purchase.Kind.PURCHASE),
            purchases_total=total(credited, "amount", kind=Purchase.Kind.PURCHASE),
            refunds_total=total(credited, "amount", kind=Purchase.Kind.REFUND),
        )
        .annotate(revenue=F("purchases_total") - F("refunds_total"))
    )


def source_table(*, organization: Organization):
    """Every source with its figures, one query: referrals, customers won, net revenue."""
    return (
        ReferralSource.objects.for_organization(organization)
        .annotate(
            revenue=source_revenue(),
            referral_count=_count(Referral, "source"),
            won_count=_count(Referral, "source", status=Referral.Status.CONVERTED),
        )
        .order_by("name", "pk")
    )


def _count(model, field: str, **filters):
    rows = (
        model.objects.filter(**{field: OuterRef("pk")}, **filters)
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows), 0)


SOURCE_EXPORT_COLUMNS = ["source", "kind", "email", "referrals", "customers_won", "net_revenue"]


def source_export_rows(*, organization: Organization) -> Iterator[list]:
    """The header, then every source with its figures (the CSV of the sources table)."""
    yield SOURCE_EXPORT_COLUMNS
    for source in source_table(organization=organization).iterator(chunk_size=2000):
        yield [
            source.name,
            source.kind,
            source.email,
            source.referral_count,
            source.won_count,
            cents(source.revenue),
        ]


@dataclass(frozen=True)
class CustomerGroup:
    customers: int
    buyers: int
    revenue: Decimal  # net revenue of all their purchases, credited or not

    @property
    def revenue_per_customer(self) -> Decimal | None:
        return cents(self.revenue / self.customers) if self.customers else None


def customers_compared(*, organization: Organization) -> dict[str, CustomerGroup]:
    """Referred customers next to the others: how many, how many bought, what they spent.

    Every purchase of every customer counts here, credited to a source or not: the
    customers nobody referred are the baseline referred customers are compared with.
    From the cohort rollups when the customer facts are built (``facts``), as fresh as
    their last refresh.
    """
    if facts.state(organization) is not None:
        totals = facts.customer_totals(organization=organization)
        return {
            key: CustomerGroup(
                customers=totals.get(referred, (0, 0, None))[0],
                buyers=totals.get(referred, (0, 0, None))[1],
                revenue=cents(totals.get(referred, (0, 0, None))[2]),
            )
            for key, referred in (("referred", True), ("other", False))
        }
    customers = Customer.objects.filter(organization=organization).aggregate(
        referred=Count("pk", filter=Q(is_referred=True)),
        other=Count("pk", filter=Q(is_referred=False)),
    )
    spent: dict[bool, Any] = {
        row["customer__is_referred"]: row
        for row in Purchase.objects.filter(organization=organization)
        .values("customer__is_referred")
        .annotate(
            buyers=Count("customer", distinct=True, filter=Q(kind=Purchase.Kind.PURCHASE)),
            revenue=Sum(signed_amount()),
        )
    }
    return {
        key: CustomerGroup(
            customers=customers[key],
            buyers=spent.get(referred, {}).get("buyers", 0),
            revenue=cents(spent.get(referred, {}).get("revenue")),
        )
        for key, referred in (("referred", True), ("other", False))
    }
