"""
Reads for the dashboard: counts, rates and money, for one organization.

Every function takes the organization and an optional period, and never writes.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

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
from django.db.models.functions import Coalesce, TruncMonth

from accounts.models import Organization, ReferralSource, SourceKind
from core.money import cents
from referrals.models import Click, Conversion, Referral
from rewards.models import LedgerEntry, Reward

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Overview:
    clicks: int
    referrals: int
    signups: int
    converted: int
    purchases: int
    revenue: Decimal
    reward_cost: Decimal
    credits_issued: Decimal
    pending_review: int

    @property
    def conversion_rate(self) -> Decimal | None:
        """Share of referrals that became customers."""
        if not self.referrals:
            return None
        return (Decimal(self.converted) * 100 / self.referrals).quantize(Decimal("0.1"))

    @property
    def roi(self) -> Decimal | None:
        """(revenue - reward cost) / reward cost; None before any reward was paid."""
        if not self.reward_cost:
            return None
        return ((self.revenue - self.reward_cost) / self.reward_cost).quantize(Decimal("0.01"))


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
    referral_counts = _period(
        Referral.objects.filter(organization=organization), "created_at", since, until
    ).aggregate(
        total=Count("id"),
        signups=Count("id", filter=Q(signed_up_at__isnull=False)),
        converted=Count("id", filter=Q(status=Referral.Status.CONVERTED)),
        review=Count("id", filter=Q(flagged=True) & ~Q(status=Referral.Status.REJECTED)),
    )
    money = _period(
        Conversion.objects.filter(organization=organization), "occurred_at", since, until
    ).aggregate(
        purchases=Count("id", filter=Q(kind=Conversion.Kind.PURCHASE)),
        revenue=Sum("amount", filter=Q(kind=Conversion.Kind.PURCHASE)),
        refunds=Sum("amount", filter=Q(kind=Conversion.Kind.REFUND)),
    )
    reward_cost = (
        _period(Reward.objects.filter(organization=organization), "created_at", since, until)
        .exclude(status=Reward.Status.VOID)
        .aggregate(total=Sum("amount"))["total"]
    )
    credits = _period(
        LedgerEntry.objects.filter(organization=organization, kind=LedgerEntry.Kind.GRANT),
        "at",
        since,
        until,
    ).aggregate(total=Sum("amount"))["total"]
    return Overview(
        clicks=clicks,
        referrals=referral_counts["total"],
        signups=referral_counts["signups"],
        converted=referral_counts["converted"],
        purchases=money["purchases"],
        revenue=cents(money["revenue"]) - cents(money["refunds"]),
        reward_cost=cents(reward_cost),
        credits_issued=cents(credits),
        pending_review=referral_counts["review"],
    )


def monthly_series(*, organization: Organization, months: int = 12) -> dict:
    """Clicks, referrals and conversions per month, for the overview chart."""

    def per_month(qs, field):
        rows = qs.annotate(month=TruncMonth(field)).values("month").annotate(n=Count("id"))
        return {row["month"].strftime("%Y-%m"): row["n"] for row in rows if row["month"]}

    clicks = per_month(Click.objects.filter(organization=organization), "at")
    referrals = per_month(Referral.objects.filter(organization=organization), "created_at")
    converted = per_month(
        Referral.objects.filter(organization=organization, converted_at__isnull=False),
        "converted_at",
    )
    labels = sorted(set(clicks) | set(referrals) | set(converted))[-months:]
    return {
        "labels": labels,
        "clicks": [clicks.get(m, 0) for m in labels],
        "referrals": [referrals.get(m, 0) for m in labels],
        "converted": [converted.get(m, 0) for m in labels],
    }


def by_source_kind(*, organization: Organization) -> list[dict]:
    """Referrals, customers won and revenue per kind of source."""
    rows = (
        Referral.objects.filter(organization=organization)
        .values("source__kind")
        .annotate(
            referrals=Count("id"),
            converted=Count("id", filter=Q(status=Referral.Status.CONVERTED)),
        )
    )
    revenue = dict(
        Conversion.objects.filter(organization=organization, kind=Conversion.Kind.PURCHASE)
        .values("referral__source__kind")
        .annotate(total=Sum("amount"))
        .values_list("referral__source__kind", "total")
    )
    labels = dict(SourceKind.choices)
    result = []
    for row in rows:
        kind = row["source__kind"]
        result.append(
            {
                "kind": kind,
                "label": labels.get(kind, kind),
                "referrals": row["referrals"],
                "converted": row["converted"],
                "revenue": cents(revenue.get(kind)),
            }
        )
    return sorted(result, key=lambda r: r["revenue"], reverse=True)


def top_sources(*, organization: Organization, limit: int = 10):
    return (
        ReferralSource.objects.filter(organization=organization)
        .annotate(
            revenue=Sum(
                "referrals__conversions__amount",
                filter=Q(referrals__conversions__kind=Conversion.Kind.PURCHASE),
            ),
        )
        .filter(revenue__isnull=False)
        .order_by("-revenue")[:limit]
    )


def source_stats(
    *, organization: Organization, since: datetime | None = None, until: datetime | None = None
):
    """Per source: referrals, signups, customers won, purchases and revenue (purchases less
    refunds) in the period, one row per source, each number a subquery of its own."""
    referrals = _period(
        Referral.objects.filter(organization=organization, source=OuterRef("pk")),
        "created_at",
        since,
        until,
    ).order_by()
    conversions = _period(
        Conversion.objects.filter(organization=organization, referral__source=OuterRef("pk")),
        "occurred_at",
        since,
        until,
    ).order_by()

    def count(qs, **filters):
        rows = qs.filter(**filters).annotate(key=Value(1)).values("key")
        rows = rows.annotate(n=Count("pk")).values("n")[:1]
        return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))

    def total(qs, **filters):
        rows = qs.filter(**filters).annotate(key=Value(1)).values("key")
        rows = rows.annotate(n=Sum("amount")).values("n")[:1]
        money = DecimalField(max_digits=14, decimal_places=2)
        return Coalesce(Subquery(rows, output_field=money), Value(ZERO), output_field=money)

    return (
        ReferralSource.objects.filter(organization=organization)
        .annotate(
            referral_count=count(referrals),
            signup_count=count(referrals, signed_up_at__isnull=False),
            converted_count=count(referrals, status=Referral.Status.CONVERTED),
            purchase_count=count(conversions, kind=Conversion.Kind.PURCHASE),
            purchases_total=total(conversions, kind=Conversion.Kind.PURCHASE),
            refunds_total=total(conversions, kind=Conversion.Kind.REFUND),
        )
        .annotate(revenue=F("purchases_total") - F("refunds_total"))
    )
