"""Reads for accounts, always scoped to one organization."""

import zoneinfo
from collections.abc import Iterator
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.utils import timezone

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


def customer_find(
    *, organization: Organization, email: str = "", external_id: str = "", lock: bool = False
) -> Customer | None:
    """The customer the business's id names; else, by email, the first seen with it.

    With an id, the email finds only a customer the business has not given an id yet (known
    only by email), whom the caller then gives this id: a customer with another id is
    someone else (a joint account, a family address, an unverified email), never merged
    into this one, who is then new. Without an id, the email names the first seen with it.
    ``lock`` locks the row found (``select_for_update``)."""
    qs = Customer.objects.for_organization(organization)
    if lock:
        qs = qs.select_for_update()
    email, external_id = (email or "").strip(), (external_id or "").strip()
    customer = qs.filter(external_id=external_id).first() if external_id else None
    if customer is None and email:
        by_email = qs.filter(email__iexact=email)
        if external_id:
            by_email = by_email.filter(external_id="")
        customer = by_email.order_by("first_seen_at", "pk").first()
    return customer


def customer_list(*, organization: Organization, query: str = "") -> QuerySet[Customer]:
    qs = Customer.objects.for_organization(organization)
    if query:
        qs = qs.filter(
            Q(name__icontains=query) | Q(email__icontains=query) | Q(external_id__icontains=query)
        )
    return qs


# A source's history: its links, referrals and what is credited to it are read through
# ``referrals.selectors``, which owns them; its insider contributions are read here.


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
