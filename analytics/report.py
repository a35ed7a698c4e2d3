"""What the referral programs did in a period: volume, funnel, revenue, reward cost and ROI.

Each figure is read once, here, for one period and filters, and optionally grouped by source
or by kind of source, so a total and the rows of its table are the same sums. Every number
builds on the one definition the models give it:

- revenue: ``Purchase.CREDITED`` rows summed with ``signed_amount()`` (purchases minus
  refunds, on referrals neither rejected nor waiting in review), the same as
  ``Purchase.objects.credited().net_revenue()``;
- reward cost: ``reward_cost_sum()``, the aggregate behind ``Reward.objects.cost()`` (rewards
  to both sides not voided, less what partial refunds took back);
- advocacy: ``Purchase.ADVOCACY``; customers won: ``Referral.objects.won()``.

Dates: events count in the period they happened in (a click when clicked, a referral when
left, a signup when signed up, a customer when won, a purchase or refund when it occurred,
a reward when issued, credit when it expired, a payout when paid).
"""

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from accounts.models import InsiderContribution, Organization, ReferralSource
from core.money import cents
from referrals.models import Channel, Click, Purchase, Referral, signed_amount
from rewards.models import LedgerEntry, Payout, PayoutBalanceEntry, Reward, reward_cost_sum

from .db import DB
from .period import Filters, Period

ZERO = Decimal("0.00")
NO_FILTERS = Filters()

# Grouping: the path from each kind of row to its source ("by source") or the source's kind.
# Rewards reach their source through their conversion, or (given by hand) directly.
GROUPS = {"source": "_id", "kind": "__kind"}


def rate(numerator, denominator) -> Decimal | None:
    """A percentage to one decimal; None (shown "n/a") when the denominator is zero."""
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.1"))


def _grouped(qs, key, **aggregates) -> dict[Any, dict]:
    """``{None: totals}`` when ``key`` is None, else ``{key value: totals}`` per group."""
    if key is None:
        return {None: qs.aggregate(**aggregates)}
    rows = qs.order_by().annotate(_key=key).values("_key").annotate(**aggregates)
    return {row.pop("_key"): row for row in rows}


def _key(by: str | None, path: str):
    return None if by is None else F(f"{path}{GROUPS[by]}")


def _reward_filters(filters: Filters, prefix: str = "") -> Q:
    """Rewards of the chosen program and source: through the conversion they pay for, or the
    source they were given to by hand (such a reward belongs to no program)."""
    q = Q()
    if filters.program_id:
        q &= Q(**{f"{prefix}conversion__referral__program_id": filters.program_id})
    for value, suffix in ((filters.source_id, "_id"), (filters.source_kind, "__kind")):
        if value:
            q &= Q(**{f"{prefix}conversion__source{suffix}": value}) | Q(
                **{f"{prefix}conversion__isnull": True, f"{prefix}source{suffix}": value}
            )
    return q


def _reward_key(by: str | None, prefix: str = ""):
    if by is None:
        return None
    suffix = GROUPS[by]
    return Coalesce(f"{prefix}conversion__source{suffix}", f"{prefix}source{suffix}")


# Volume -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Volume:
    clicks: int = 0
    referrals: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    signups: int = 0
    customers_won: int = 0
    purchases: int = 0  # purchases credited to a source (refunds aside)


def volume(
    *,
    organization: Organization,
    period: Period,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> dict[Any, Volume]:
    clicks = _grouped(
        Click.objects.using(DB)
        .filter(organization=organization)
        .filter(period.q("at"), filters.q(program="link__program", source="link__source")),
        _key(by, "link__source"),
        n=Count("pk"),
    )
    referrals = (
        Referral.objects.using(DB)
        .filter(organization=organization)
        .filter(filters.q(program="program", source="source"))
    )
    created = _grouped(
        referrals.filter(period.q("created_at")),
        _key(by, "source"),
        n=Count("pk"),
        **{c: Count("pk", filter=Q(channel=c)) for c in Channel.values},
    )
    signups = _grouped(
        referrals.filter(period.q("signed_up_at")), _key(by, "source"), n=Count("pk")
    )
    won = _grouped(
        referrals.won().filter(period.q("converted_at")), _key(by, "source"), n=Count("pk")
    )
    purchases = _grouped(
        Purchase.objects.using(DB)
        .filter(organization=organization)
        .credited()
        .purchases()
        .filter(period.q("occurred_at"))
        .filter(filters.q(program="conversion__referral__program", source="conversion__source")),
        _key(by, "conversion__source"),
        n=Count("pk"),
    )
    keys = set(clicks) | set(created) | set(signups) | set(won) | set(purchases)
    if by is None:
        keys = {None}
    result = {}
    for key in keys:
        row = created.get(key) or {}
        result[key] = Volume(
            clicks=(clicks.get(key) or {}).get("n") or 0,
            referrals=row.get("n") or 0,
            by_channel={c: row.get(c) or 0 for c in Channel.values},
            signups=(signups.get(key) or {}).get("n") or 0,
            customers_won=(won.get(key) or {}).get("n") or 0,
            purchases=(purchases.get(key) or {}).get("n") or 0,
        )
    return result


# Funnel -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    """Each step as a percentage of the one before; None when there was nothing before."""

    click_to_referral: Decimal | None
    referral_to_signup: Decimal | None
    signup_to_customer: Decimal | None
    referral_to_customer: Decimal | None

    @classmethod
    def of(cls, v: Volume) -> "Funnel":
        return cls(
            click_to_referral=rate(v.referrals, v.clicks),
            referral_to_signup=rate(v.signups, v.referrals),
            signup_to_customer=rate(v.customers_won, v.signups),
            referral_to_customer=rate(v.customers_won, v.referrals),
        )


# Revenue ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Revenue:
    net_revenue: Decimal = ZERO  # credited purchases minus refunds, in the period
    advocacy_revenue: Decimal = ZERO  # the part bought by existing customers a source moved
    new_business: Decimal = ZERO  # the part from customers won in the period
    growth: Decimal = ZERO  # the rest: relationships begun before the period, and advocacy
    contribution_value: Decimal = ZERO  # what staff valued insiders' contributions at (apart)
    customers_won: int = 0
    value_of_customers_won: Decimal = ZERO  # their net revenue to date, the whole relationship

    @property
    def referral_revenue(self) -> Decimal:
        """Net revenue of the customers sources referred (advocacy aside)."""
        return self.net_revenue - self.advocacy_revenue

    @property
    def value_per_customer_won(self) -> Decimal | None:
        if not self.customers_won:
            return None
        return cents(self.value_of_customers_won / self.customers_won)


def revenue(
    *,
    organization: Organization,
    period: Period,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> dict[Any, Revenue]:
    credited = (
        Purchase.objects.using(DB)
        .filter(organization=organization)
        .credited()
        .filter(filters.q(program="conversion__referral__program", source="conversion__source"))
    )
    not_advocacy = ~Purchase.ADVOCACY
    won_in_period = period.q("conversion__referral__converted_at") & not_advocacy
    money = _grouped(
        credited.filter(period.q("occurred_at")),
        _key(by, "conversion__source"),
        net=Sum(signed_amount()),
        advocacy=Sum(signed_amount(), filter=Purchase.ADVOCACY),
        new=Sum(signed_amount(), filter=won_in_period),
    )
    # The customers won in the period, and everything they bought to date.
    value = _grouped(
        credited.filter(won_in_period), _key(by, "conversion__source"), total=Sum(signed_amount())
    )
    won = _grouped(
        Referral.objects.using(DB)
        .filter(organization=organization)
        .won()
        .filter(period.q("converted_at"), filters.q(program="program", source="source")),
        _key(by, "source"),
        n=Count("pk"),
    )
    contributions = _grouped(
        InsiderContribution.objects.using(DB)
        .filter(organization=organization)
        .filter(period.q_date("occurred_on"), filters.q(program=None, source="source")),
        _key(by, "source"),
        total=Sum("value"),
    )
    keys = {None} if by is None else set(money) | set(value) | set(won) | set(contributions)
    result = {}
    for key in keys:
        row = money.get(key) or {}
        net = cents(row.get("net"))
        new = cents(row.get("new"))
        result[key] = Revenue(
            net_revenue=net,
            advocacy_revenue=cents(row.get("advocacy")),
            new_business=new,
            growth=net - new,
            contribution_value=cents((contributions.get(key) or {}).get("total")),
            customers_won=(won.get(key) or {}).get("n") or 0,
            value_of_customers_won=cents((value.get(key) or {}).get("total")),
        )
    return result


# Reward cost --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardCost:
    cost: Decimal = ZERO  # both sides, net of voids and clawbacks (Reward.objects.cost())
    referrer_cost: Decimal = ZERO
    friend_cost: Decimal = ZERO
    issued: Decimal = ZERO  # every reward issued, at its amount
    voided: Decimal = ZERO  # of which voided
    taken_back: Decimal = ZERO  # of which clawed back from rewards kept (partial refunds)
    unrecovered_debt: Decimal = ZERO  # owed by holders at the end of the period
    breakage: Decimal = ZERO  # credit that expired unused in the period
    cash_paid: Decimal = ZERO  # payouts paid in the period


def reward_cost(
    *,
    organization: Organization,
    period: Period,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> dict[Any, RewardCost]:
    rewards = (
        Reward.objects.using(DB)
        .filter(organization=organization)
        .filter(period.q("created_at"), _reward_filters(filters))
    )
    void = Q(status=Reward.Status.VOID)
    costs = _grouped(
        rewards,
        _reward_key(by),
        cost=reward_cost_sum(),
        referrer=Sum(F("amount") - F("taken_back"), filter=~void & Q(source__isnull=False)),
        issued=Sum("amount"),
        voided=Sum("amount", filter=void),
        taken_back=Sum("taken_back", filter=~void),
    )
    breakage = _grouped(
        LedgerEntry.objects.using(DB)
        .filter(organization=organization, kind=LedgerEntry.Kind.EXPIRE)
        .filter(period.q("at"), _reward_filters(filters, "lot__reward__")),
        _reward_key(by, "lot__reward__"),
        total=Sum("amount"),
    )
    paid = _grouped(
        Payout.objects.using(DB)
        .filter(organization=organization, status=Payout.Status.PAID)
        .filter(period.q("paid_at"), filters.q(program=None, source="source")),
        _key(by, "source"),
        total=Sum("amount"),
    )
    debt = _debt(organization=organization, period=period, filters=filters, by=by)
    keys = {None} if by is None else set(costs) | set(breakage) | set(paid) | set(debt)
    result = {}
    for key in keys:
        row = costs.get(key) or {}
        cost = cents(row.get("cost"))
        referrer = cents(row.get("referrer"))
        result[key] = RewardCost(
            cost=cost,
            referrer_cost=referrer,
            friend_cost=cost - referrer,
            issued=cents(row.get("issued")),
            voided=cents(row.get("voided")),
            taken_back=cents(row.get("taken_back")),
            unrecovered_debt=debt.get(key, ZERO),
            breakage=-cents((breakage.get(key) or {}).get("total")),
            cash_paid=cents((paid.get(key) or {}).get("total")),
        )
    return result


def _debt(*, organization, period: Period, filters: Filters, by: str | None) -> dict:
    """What holders owed the business at the end of the period: clawbacks credit could not
    cover, less what later credit or payouts settled (each account's payout balance, where it
    is negative). A debt belongs to a holder, not to a program."""
    entries = (
        PayoutBalanceEntry.objects.using(DB)
        .filter(organization=organization, at__lt=period.until)
        .filter(filters.q(program=None, source="account__source"))
        .order_by()
    )
    fields = ["account"]
    if by is not None:
        entries = entries.annotate(_key=F(f"account__source{GROUPS[by]}"))
        fields.append("_key")
    rows = entries.values(*fields).annotate(balance=Sum("amount")).filter(balance__lt=0)
    totals: dict[Any, Decimal] = {}
    for row in rows:
        key = row.get("_key") if by is not None else None
        totals[key] = totals.get(key, ZERO) - cents(row["balance"])
    return totals


# ROI and the whole report -------------------------------------------------------------------


def roi(*, revenue: Decimal, cost: Decimal, gross_margin: Decimal) -> Decimal | None:
    """(net revenue x gross margin - reward cost) / reward cost, as a percentage to one
    decimal; None (shown "n/a") when nothing was spent on rewards."""
    if not cost:
        return None
    return ((revenue * gross_margin - cost) * 100 / cost).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class Figures:
    volume: Volume
    funnel: Funnel
    revenue: Revenue
    cost: RewardCost
    roi: Decimal | None

    def as_dict(self) -> dict:
        return {
            "volume": asdict(self.volume),
            "funnel": asdict(self.funnel),
            "revenue": asdict(self.revenue),
            "cost": asdict(self.cost),
            "roi": self.roi,
        }


@dataclass(frozen=True)
class Report:
    """The figures of a period beside those of the period before it."""

    period: Period
    previous_period: Period
    current: Figures
    previous: Figures


def figures(
    *, organization: Organization, period: Period, filters: Filters = NO_FILTERS
) -> Figures:
    v = volume(organization=organization, period=period, filters=filters)[None]
    r = revenue(organization=organization, period=period, filters=filters)[None]
    c = reward_cost(organization=organization, period=period, filters=filters)[None]
    return Figures(
        volume=v,
        funnel=Funnel.of(v),
        revenue=r,
        cost=c,
        roi=roi(revenue=r.net_revenue, cost=c.cost, gross_margin=organization.gross_margin),
    )


def report(*, organization: Organization, period: Period, filters: Filters = NO_FILTERS) -> Report:
    previous = period.previous()
    return Report(
        period=period,
        previous_period=previous,
        current=figures(organization=organization, period=period, filters=filters),
        previous=figures(organization=organization, period=previous, filters=filters),
    )


# Per source ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRow:
    source_id: int
    name: str
    kind: str
    kind_label: str
    volume: Volume
    revenue: Revenue
    cost: RewardCost
    roi: Decimal | None


def source_rows(
    *, organization: Organization, period: Period, filters: Filters = NO_FILTERS
) -> list[SourceRow]:
    """Every source of the organization (those the filters leave) with its figures of the
    period, ranked by the value of the customers it won (then by name)."""
    volumes = volume(organization=organization, period=period, filters=filters, by="source")
    revenues = revenue(organization=organization, period=period, filters=filters, by="source")
    costs = reward_cost(organization=organization, period=period, filters=filters, by="source")
    sources = ReferralSource.objects.using(DB).filter(organization=organization)
    if filters.source_id:
        sources = sources.filter(pk=filters.source_id)
    if filters.source_kind:
        sources = sources.filter(kind=filters.source_kind)
    rows = []
    for source in sources.only("pk", "name", "kind").order_by("name", "pk"):
        r = revenues.get(source.pk, Revenue())
        c = costs.get(source.pk, RewardCost())
        rows.append(
            SourceRow(
                source_id=source.pk,
                name=source.name,
                kind=source.kind,
                kind_label=source.get_kind_display(),
                volume=volumes.get(source.pk, Volume(by_channel=dict.fromkeys(Channel.values, 0))),
                revenue=r,
                cost=c,
                roi=roi(revenue=r.net_revenue, cost=c.cost, gross_margin=organization.gross_margin),
            )
        )
    rows.sort(key=lambda row: -row.revenue.value_of_customers_won)
    return rows
