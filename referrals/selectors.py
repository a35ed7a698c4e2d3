"""Reads for programs, links, referrals, purchases and the figures credited to a source.

What a source is credited with is defined once, on the models: ``Purchase.objects.credited()``
(attributed to a referral neither rejected nor waiting in review) and ``.net_revenue()``
(purchases minus refunds). Every page, export and task reads it through here or analytics.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import (
    Count,
    DecimalField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from accounts.models import Organization, ReferralSource
from core.money import cents

from .models import (
    Click,
    Conversion,
    Program,
    Purchase,
    Referral,
    ReferralLink,
    signed_amount,
)

MONEY = DecimalField(max_digits=14, decimal_places=2)


def _count_of(model, **outer):
    """A correlated COUNT subquery: no join fan-out between two one-to-many relations."""
    # COUNT(*), not COUNT(id): the count then reads only the index on the outer key.
    rows = model.objects.filter(**outer).order_by().values(*outer).annotate(n=Count("*"))
    return Coalesce(Subquery(rows.values("n")[:1]), 0)


def _count_up_to(model, cap: int) -> RawSQL:
    """A correlated count of the program's rows that stops at ``cap + 1``: through the
    program's index, at most that many entries are read, however big the program."""
    table = connection.ops.quote_name(model._meta.db_table)
    program = connection.ops.quote_name(Program._meta.db_table)
    return RawSQL(  # noqa: S611 - table names from our models, the cap a parameter
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} t"  # noqa: S608 - our own tables
        f" WHERE t.program_id = {program}.id LIMIT %s) capped",
        [cap + 1],
        output_field=IntegerField(),
    )


def program_list(*, organization: Organization, cap: int | None = None) -> QuerySet[Program]:
    """Programs with their links and referrals counted; with ``cap``, counted up to
    ``cap + 1`` only (a list page: "more than 10,000" reads as well, and costs nothing)."""
    if cap is not None:
        counts = {
            "link_count": _count_up_to(ReferralLink, cap),
            "referral_count": _count_up_to(Referral, cap),
        }
    else:
        counts = {
            "link_count": _count_of(ReferralLink, program=OuterRef("pk")),
            "referral_count": _count_of(Referral, program=OuterRef("pk")),
        }
    return Program.objects.for_organization(organization).annotate(**counts)


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


def referral_conversions(*, referral: Referral) -> QuerySet[Conversion]:
    """A referral's conversions with their purchase and rewards (for its page)."""
    return referral.conversions.select_related(
        "organization", "purchase", "purchase__refund_of"
    ).prefetch_related("rewards")


# What a source is credited with -----------------------------------------------------------


def source_revenue() -> Coalesce:
    """A subquery for ``ReferralSource.objects.annotate(revenue=...)``: the net revenue
    credited to each source (0.00 when none), in one query for any number of sources."""
    rows = (
        Purchase.objects.credited()
        .filter(conversion__source=OuterRef("pk"))
        .order_by()
        .values("conversion__source")
        .annotate(total=Sum(signed_amount()))
        .values("total")
    )
    return Coalesce(Subquery(rows, output_field=MONEY), cents(0), output_field=MONEY)


def sources_with_revenue(*, organization: Organization) -> QuerySet[ReferralSource]:
    """Every source of the organization, each with ``revenue``: the net revenue credited."""
    return ReferralSource.objects.for_organization(organization).annotate(revenue=source_revenue())


@dataclass(frozen=True)
class SourceTotals:
    referrals: int
    customers_won: int
    purchases: int  # purchases credited, of customers it won and by advocacy
    revenue: Decimal  # net revenue credited: those purchases minus their refunds
    advocacy_conversions: int
    advocacy_revenue: Decimal  # the part of revenue bought by existing customers it moved
    contributions: int
    contribution_value: Decimal


def source_totals(*, source: ReferralSource) -> SourceTotals:
    referrals = Referral.objects.filter(source=source).aggregate(
        total=Count("*"),
        won=Count("status", filter=Q(status=Referral.Status.CONVERTED)),
    )
    advocacy = Purchase.ADVOCACY
    bought = Q(kind=Purchase.Kind.PURCHASE)
    money = Purchase.objects.credited_to(source).aggregate(
        purchases=Count("pk", filter=bought),
        revenue=Sum(signed_amount()),
        advocacy=Count("pk", filter=bought & advocacy),
        advocacy_revenue=Sum(signed_amount(), filter=advocacy),
    )
    contributions = source.contributions.aggregate(total=Count("id"), value=Sum("value"))
    return SourceTotals(
        referrals=referrals["total"],
        customers_won=referrals["won"],
        purchases=money["purchases"],
        revenue=cents(money["revenue"]),
        advocacy_conversions=money["advocacy"],
        advocacy_revenue=cents(money["advocacy_revenue"]),
        contributions=contributions["total"],
        contribution_value=cents(contributions["value"]),
    )


def source_conversions(*, source: ReferralSource) -> QuerySet[Conversion]:
    """Every conversion credited to the source, counting or not (for its history)."""
    return (
        Conversion.objects.filter(source=source)
        .select_related("organization", "referral", "customer", "purchase")
        .order_by("-occurred_at", "-id")
    )


def source_links(*, source: ReferralSource) -> QuerySet[ReferralLink]:
    return (
        ReferralLink.objects.filter(source=source)
        .select_related("program")
        .annotate(click_count=_count_of(Click, link=OuterRef("pk")))
        .order_by("program__name")
    )


def source_referrals(*, source: ReferralSource) -> QuerySet[Referral]:
    return (
        Referral.objects.filter(source=source)
        .select_related("program", "friend")
        .order_by("-created_at", "-id")
    )


def program_for_sharing(*, organization: Organization, source_kind: str) -> Program | None:
    """The program a source of this kind shares by default: the oldest active one open to it."""
    for program in Program.objects.for_organization(organization).active().order_by("created_at"):
        if source_kind in (program.allowed_source_kinds or []):
            return program
    return None


def event_ids_recorded(*, organization: Organization, ids) -> set[str]:
    """Which of these event ids the organization has recorded (a purchase or a conversion).

    One probe of each unique index per id (a lateral subquery PostgreSQL cannot turn into a
    scan), whatever the tables' size or statistics: a bulk of 1,000 new ids costs about 2
    ms. Written as ``external_id IN (...)`` (or ``EXISTS``), PostgreSQL expected a match for
    every id and scanned all the organization's purchases and conversions instead: 30 to 170
    ms at 130,000 of each, growing with the tables."""
    ids = list(ids)
    if not ids:
        return set()
    if connection.vendor != "postgresql":  # bin/dev's SQLite: no unnest, no LATERAL
        return set(
            Purchase.objects.filter(organization=organization, external_id__in=ids)
            .order_by()
            .values_list("external_id", flat=True)
            .union(
                Conversion.objects.filter(organization=organization, external_id__in=ids)
                .order_by()
                .values_list("external_id", flat=True)
            )
        )
    purchase, conversion = Purchase._meta.db_table, Conversion._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT i.id FROM unnest(%s::varchar[]) AS i(id) CROSS JOIN LATERAL ("  # noqa: S608 - table names from the models
            f"(SELECT 1 FROM {purchase} p WHERE p.organization_id = %s AND p.external_id = i.id "
            f"LIMIT 1) UNION ALL (SELECT 1 FROM {conversion} c "
            f"WHERE c.organization_id = %s AND c.external_id = i.id LIMIT 1) LIMIT 1) AS found",
            [ids, organization.pk, organization.pk],
        )
        return {row[0] for row in cursor.fetchall()}
