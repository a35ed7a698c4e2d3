"""Reads for programs, links and referrals."""

from django.db.models import Count, QuerySet

from accounts.models import Organization

from .models import Program, Referral, ReferralLink


def program_list(*, organization: Organization) -> QuerySet[Program]:
    return Program.objects.for_organization(organization).annotate(
        link_count=Count("links", distinct=True), referral_count=Count("referrals", distinct=True)
    )


def link_list(*, program: Program) -> QuerySet[ReferralLink]:
    return (
        ReferralLink.objects.filter(program=program)
        .select_related("source")
        .annotate(click_count=Count("clicks"))
        .order_by("source__name")
    )


def referral_list(
    *, organization: Organization, status: str = "", flagged: bool | None = None
) -> QuerySet[Referral]:
    qs = Referral.objects.for_organization(organization).select_related(
        "program", "source", "friend"
    )
    if status:
        qs = qs.filter(status=status)
    if flagged is not None:
        qs = qs.filter(flagged=flagged)
    return qs


def review_queue(*, organization: Organization) -> QuerySet[Referral]:
    return referral_list(organization=organization, flagged=True).exclude(
        status=Referral.Status.REJECTED
    )
