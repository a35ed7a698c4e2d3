"""Reads for programs, links and referrals."""

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from accounts.models import Organization

from .models import Click, Program, Referral, ReferralLink


def _count_of(model, **outer):
    """A correlated COUNT subquery: no join fan-out between two one-to-many relations."""
    rows = model.objects.filter(**outer).order_by().values(*outer).annotate(n=Count("pk"))
    return Coalesce(Subquery(rows.values("n")[:1]), 0)


def program_list(*, organization: Organization) -> QuerySet[Program]:
    return Program.objects.for_organization(organization).annotate(
        link_count=_count_of(ReferralLink, program=OuterRef("pk")),
        referral_count=_count_of(Referral, program=OuterRef("pk")),
    )


def link_list(*, program: Program) -> QuerySet[ReferralLink]:
    return (
        ReferralLink.objects.filter(program=program)
        .select_related("source")
        .annotate(click_count=_count_of(Click, link=OuterRef("pk")))
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


def program_for_sharing(*, organization: Organization, source_kind: str) -> Program | None:
    """The program a source of this kind shares by default: the oldest active one open to it."""
    for program in Program.objects.for_organization(organization).active().order_by("created_at"):
        if source_kind in (program.allowed_source_kinds or []):
            return program
    return None
