"""Reads for accounts, always scoped to one organization."""

from django.db.models import Q, QuerySet

from .models import Customer, Membership, Organization, ReferralSource


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
