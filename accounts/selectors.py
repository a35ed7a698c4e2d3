"""Reads for accounts, always scoped to one organization."""

import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.apps import apps
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from core.money import cents

from . import imports
from .models import (
    CsvImport,
    Customer,
    InsiderContribution,
    Membership,
    Organization,
    ReferralSource,
    User,
)

ZERO = Decimal("0.00")


def member_list(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.for_organization(organization).select_related("user")


def source_list(
    *, organization: Organization, kind: str = "", query: str = "", active: bool | None = None
) -> QuerySet[ReferralSource]:
    qs = ReferralSource.objects.for_organization(organization)
    if kind:
        qs = qs.filter(kind=kind)
    if query:
        qs = qs.filter(
            Q(name__icontains=query) | Q(email__icontains=query) | Q(company__icontains=query)
        )
    if active is not None:
        qs = qs.filter(active=active)
    return qs


def customer_list(*, organization: Organization, query: str = "") -> QuerySet[Customer]:
    qs = Customer.objects.for_organization(organization)
    if query:
        qs = qs.filter(
            Q(name__icontains=query) | Q(email__icontains=query) | Q(external_id__icontains=query)
        )
    return qs


# A source's history -----------------------------------------------------------------------
#
# The links, referrals and conversions of a source live in the referrals app, which depends
# on this one and not the other way round; so they are reached through the reverse relations
# and the model registry (by label), never by importing ``referrals``.


def _conversion_model():
    return apps.get_model("referrals", "Conversion")


@dataclass(frozen=True)
class SourceTotals:
    referrals: int
    customers_won: int
    purchases: int
    revenue: Decimal  # purchases minus refunds of the customers it referred
    advocacy_conversions: int
    advocacy_revenue: Decimal  # more bought by existing customers because of it
    contributions: int
    contribution_value: Decimal


def source_credited_conversions(*, source: ReferralSource) -> QuerySet:
    """Conversions that count for the source: not on rejected or held referrals."""
    return (
        _conversion_model()
        .objects.filter(organization_id=source.organization_id, referral__source=source)
        .exclude(referral__status="rejected")
        .exclude(referral__flagged=True)
    )


def source_conversions(*, source: ReferralSource) -> QuerySet:
    """Every conversion on the source's referrals, credited or not (for its history)."""
    return (
        _conversion_model()
        .objects.filter(organization_id=source.organization_id, referral__source=source)
        .select_related("referral", "customer")
        .order_by("-occurred_at", "-id")
    )


def source_totals(*, source: ReferralSource) -> SourceTotals:
    referrals = source.referrals.aggregate(
        total=Count("id"), won=Count("id", filter=Q(status="converted"))
    )
    money = source_credited_conversions(source=source).aggregate(
        purchases=Count("id", filter=Q(kind="purchase")),
        revenue=Sum("amount", filter=Q(kind="purchase")),
        refunds=Sum("amount", filter=Q(kind="refund")),
        advocacy=Count("id", filter=Q(kind="advocacy")),
        advocacy_revenue=Sum("amount", filter=Q(kind="advocacy")),
    )
    contributions = source.contributions.aggregate(total=Count("id"), value=Sum("value"))
    return SourceTotals(
        referrals=referrals["total"],
        customers_won=referrals["won"],
        purchases=money["purchases"],
        revenue=cents(money["revenue"]) - cents(money["refunds"]),
        advocacy_conversions=money["advocacy"],
        advocacy_revenue=cents(money["advocacy_revenue"]),
        contributions=contributions["total"],
        contribution_value=cents(contributions["value"]),
    )


def source_links(*, source: ReferralSource) -> QuerySet:
    return (
        source.links.select_related("program")
        .annotate(click_count=Count("clicks"))
        .order_by("program__name")
    )


def source_referrals(*, source: ReferralSource) -> QuerySet:
    return source.referrals.select_related("program", "friend").order_by("-created_at", "-id")


def contribution_list(*, source: ReferralSource) -> QuerySet[InsiderContribution]:
    # "reward" is the rewards app's one-to-one back to the contribution (rewarded or not).
    return source.contributions.select_related("created_by", "reward")


# CSV exports ----------------------------------------------------------------------------

CUSTOMER_EXPORT_COLUMNS = imports.CUSTOMER_COLUMNS + ["status", "referred", "first_seen_at"]
SOURCE_EXPORT_COLUMNS = imports.SOURCE_COLUMNS + ["created_at"]


def _local(organization: Organization):
    tz = zoneinfo.ZoneInfo(organization.timezone)
    return lambda value: timezone.localtime(value, tz).isoformat(timespec="seconds")


def customer_export_rows(*, organization: Organization, query: str = "") -> Iterator[list[str]]:
    """The header, then every customer of the organization (matching ``query``)."""
    local = _local(organization)
    yield CUSTOMER_EXPORT_COLUMNS
    customers = customer_list(organization=organization, query=query).order_by("pk")
    for c in customers.iterator(chunk_size=2000):
        yield [
            c.external_id,
            c.email,
            c.name,
            c.phone,
            c.status,
            "yes" if c.is_referred else "no",
            local(c.first_seen_at),
        ]


def source_export_rows(
    *, organization: Organization, kind: str = "", query: str = "", active: bool | None = None
) -> Iterator[list[str]]:
    """The header, then every source of the organization (matching the list's filters)."""
    local = _local(organization)
    yield SOURCE_EXPORT_COLUMNS
    sources = (
        source_list(organization=organization, kind=kind, query=query, active=active)
        .select_related("customer")
        .order_by("pk")
    )
    for s in sources.iterator(chunk_size=2000):
        yield [
            s.kind,
            s.name,
            s.email,
            s.company,
            s.customer.external_id if s.customer else "",
            "yes" if s.active else "no",
            local(s.created_at),
        ]


# CSV imports ----------------------------------------------------------------------------


def csv_import_pending(*, organization: Organization, user: User, kind: str) -> QuerySet:
    """The uploads a member may preview and confirm: their own, in their organization."""
    return CsvImport.objects.for_organization(organization).filter(created_by=user, kind=kind)


def csv_import_preview(*, csv_import: CsvImport) -> imports.ImportPreview:
    return imports.preview(
        organization=csv_import.organization, kind=csv_import.kind, text=csv_import.content
    )
