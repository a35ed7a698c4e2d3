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

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from itertools import islice
from typing import Any, overload
from zoneinfo import ZoneInfo

from django.db import connections
from django.db.models import Count, DateField, F, IntegerField, Q, Sum, Value
from django.db.models.functions import Coalesce, Trunc

from accounts.models import InsiderContribution, Organization, ReferralSource, SourceKind
from core.money import cents
from referrals.models import Channel, Click, Purchase, Referral, signed_amount
from rewards.models import LedgerEntry, Payout, PayoutBalanceEntry, Reward, reward_cost_sum

from .db import DB, in_code_points
from .period import Filters, Period

ZERO = Decimal("0.00")
NO_FILTERS = Filters()

# Grouping: the path from each kind of row to its source ("by source") or the source's kind.
# Rewards reach their source through their conversion, or (given by hand) directly.
GROUPS = {"source": "_id", "kind": "__kind"}
BUCKETS = ("day", "month")
#: "rollup": one group per program, source and local day, what ``rollups`` stores.
DATED = (*BUCKETS, "rollup")


def rate(numerator, denominator) -> Decimal | None:
    """A percentage to one decimal; None (shown "n/a") when the denominator is zero."""
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.1"))


#: While ``rollups.build`` writes rollups set-based, the reads grouped by "rollup" hand it
#: their queries (and the names of their sums) instead of running them (``collecting``).
_COLLECTOR: ContextVar[list | None] = ContextVar("analytics_rollup_queries", default=None)


@contextmanager
def collecting() -> Iterator[list]:
    """Within this block, the reads grouped by "rollup" return nothing and add their grouped
    querysets, with the names of their sums, to the list it gives."""
    queries: list = []
    token = _COLLECTOR.set(queries)
    try:
        yield queries
    finally:
        _COLLECTOR.reset(token)


def _grouped(qs, key, **aggregates) -> dict[Any, dict]:
    """``{None: totals}`` when ``key`` is None, else ``{key value: totals}`` per group (a
    tuple of values when ``key`` is a dict of expressions)."""
    if key is None:
        return {None: qs.aggregate(**aggregates)}
    if isinstance(key, dict):
        rows = qs.order_by().annotate(**key).values(*key).annotate(**aggregates)
        queries = _COLLECTOR.get()
        if queries is not None:
            queries.append((rows, list(aggregates)))
            return {}
        return {tuple(row.pop(k) for k in key): row for row in rows}
    rows = qs.order_by().annotate(_key=key).values("_key").annotate(**aggregates)
    return {row.pop("_key"): row for row in rows}


def _rollup_key(program, source, day) -> dict:
    return {"_program": program, "_source": source, "_day": day}


def _path(path: str | None):
    return Value(None, output_field=IntegerField()) if path is None else F(f"{path}_id")


def _key(by: str | None, path: str, date: str, period: Period, program: str | None = None):
    """What to group by: the source (``path`` leads to it), its kind, or the local day or
    month of the row's ``date`` (or all three for a rollup, ``program`` leading to it)."""
    if by is None:
        return None
    if by == "rollup":
        return _rollup_key(_path(program), _path(path), _key("day", path, date, period))
    if by in BUCKETS:
        return Trunc(date, by, output_field=DateField(), tzinfo=ZoneInfo(period.tz))
    return F(f"{path}{GROUPS[by]}")


def _contribution_key(by: str | None, period: Period):
    """Contributions carry a date, not an instant: it is already the local day."""
    if by == "day":
        return F("occurred_on")
    if by == "month":
        return Trunc("occurred_on", "month", output_field=DateField())
    if by == "rollup":
        return _rollup_key(_path(None), F("source_id"), F("occurred_on"))
    return _key(by, "source", "", period)


def _reward_filters(filters: Filters, prefix: str = "") -> Q:
    """Rewards of the chosen program and source: through the conversion they pay for, or the
    source they were given to by hand (such a reward belongs to no program)."""
    q = Q()
    if filters.program_id:
        q &= Q(**{f"{prefix}conversion__referral__program_id": filters.program_id})
    chosen = (
        (filters.source_id, "_id"),
        (filters.source_kind, "__kind"),
        (filters.source_ids, "_id__in"),
    )
    for value, suffix in chosen:
        if value:
            q &= Q(**{f"{prefix}conversion__source{suffix}": value}) | Q(
                **{f"{prefix}conversion__isnull": True, f"{prefix}source{suffix}": value}
            )
    return q


def _reward_key(by: str | None, date: str, period: Period, prefix: str = ""):
    if by is None or by in BUCKETS:
        return _key(by, "", date, period)
    if by == "rollup":
        return _rollup_key(
            F(f"{prefix}conversion__referral__program_id"),
            _reward_key("source", date, period, prefix),
            _key("day", "", date, period),
        )
    suffix = GROUPS[by]
    return Coalesce(f"{prefix}conversion__source{suffix}", f"{prefix}source{suffix}")


# Reading several periods at once ------------------------------------------------------------


def _read(
    qs,
    periods: Sequence[Period],
    by: str | None,
    path: str | Callable,
    measures: dict[str, tuple[str, Callable[[Q, Period], Any]]],
    days: bool = False,
    program: str | None = None,
    rollup: tuple[Organization, Filters, bool] | None = None,
) -> list[dict[Any, dict[str, Any]]]:
    """Each measure (name -> (date field, aggregate made from the period's condition)) for
    each period, grouped by ``by``: one query for all the periods (one per date field when
    grouping by day or month). ``days``: the date fields are dates, not instants.

    With ``rollup`` (the organization, the filters, and whether the program filter applies
    to these rows), what happened before the rollups' cut is read from them, and only what
    happened from it on (a few minutes) from the rows themselves: the same sums, added up."""
    if rollup is not None and by != "rollup":
        from . import rollups

        cut = rollups.cut(rollup[0])
        if cut is not None and set(measures) <= set(rollups.COLUMNS):
            heads, tails = zip(*(p.cut(cut) for p in periods), strict=True)
            results = rollups.read(
                organization=rollup[0],
                periods=heads,
                filters=rollup[1],
                by=by,
                names=list(measures),
                program_scoped=rollup[2],
            )
            todo = [(i, t) for i, t in enumerate(tails) if t is not None]
            if todo:
                raw = _read(qs, [t for _, t in todo], by, path, measures, days, program)
                for (i, _), part in zip(todo, raw, strict=True):
                    _add_rows(results[i], part)
            return _without_empty_groups(results, by)
    results: list[dict[Any, dict[str, Any]]] = [{} for _ in periods]
    batches: dict[str, dict] = {}
    for name, (date, make) in measures.items():
        batches.setdefault(date if by in DATED else "", {})[name] = (date, make)
    first, last = min(p.start for p in periods), max(p.end for p in periods)
    span = Period(
        start=first,
        end=last,
        tz=periods[0].tz,
        after=min(p.since for p in periods),
        before=max(p.until for p in periods),
    )
    for batch in batches.values():
        rows_in_span = Q()
        for date in {date for date, _ in batch.values()}:
            rows_in_span |= span.q_date(date) if days else span.q(date)
        aggregates = {
            f"{name}__{i}": make(period.q_date(date) if days else period.q(date), period)
            for i, period in enumerate(periods)
            for name, (date, make) in batch.items()
        }
        date = next(iter(batch.values()))[0]
        if days:
            key = _contribution_key(by, span)
        elif callable(path):
            key = path(by, date, span)
        else:
            key = _key(by, path, date, span, program)
        for k, row in _grouped(qs.filter(rows_in_span), key, **aggregates).items():
            for i in range(len(periods)):
                results[i].setdefault(k, {}).update({n: row[f"{n}__{i}"] for n in batch})
    return _without_empty_groups(results, by)


def _add_rows(into: dict[Any, dict], part: dict[Any, dict]) -> None:
    """Add the sums of ``part`` (the rows after the rollups) to those of ``into`` (the
    rollups'), group by group and name by name (a missing or None sum is 0)."""
    for key, row in part.items():
        sums = into.setdefault(key, {})
        for name, v in row.items():
            sums[name] = (sums.get(name) or 0) + (v or 0)


def _without_empty_groups(results: list[dict], by: str | None) -> list[dict]:
    """A group with nothing in a period is no group of it (a day of another period, a source
    with nothing but zeros): however the figures were read, the same groups remain."""
    if by is None:
        return results
    return [{k: row for k, row in part.items() if any(row.values())} for part in results]


def _count(extra: Q | None = None) -> Callable[[Q, Period], Count]:
    return lambda q, period: Count("pk", filter=q & extra if extra is not None else q)


def _sum(expression, extra: Q | None = None) -> Callable[[Q, Period], Sum]:
    return lambda q, period: Sum(expression, filter=q & extra if extra is not None else q)


# Volume -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Volume:
    clicks: int = 0
    referrals: int = 0
    by_channel: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Channel.values, 0))
    signups: int = 0
    customers_won: int = 0
    purchases: int = 0  # purchases credited to a source (refunds aside)


def volumes(
    *,
    organization: Organization,
    periods: Sequence[Period],
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> list[dict[Any, Volume]]:
    clicks = _read(
        Click.objects.using(DB)
        .filter(organization=organization)
        .filter(filters.q(program="link__program", source="link__source")),
        periods,
        by,
        "link__source",
        {"clicks": ("at", _count())},
        program="link__program",
        rollup=(organization, filters, True),
    )
    referrals = _read(
        Referral.objects.using(DB)
        .filter(organization=organization)
        .filter(filters.q(program="program", source="source")),
        periods,
        by,
        "source",
        {
            "referrals": ("created_at", _count()),
            **{c: ("created_at", _count(Q(channel=c))) for c in Channel.values},
            "signups": ("signed_up_at", _count()),
            "customers_won": ("converted_at", _count(Q(status=Referral.Status.CONVERTED))),
        },
        program="program",
        rollup=(organization, filters, True),
    )
    purchases = _read(
        Purchase.objects.using(DB)
        .filter(organization=organization)
        .credited()
        .purchases()
        .filter(filters.q(program="conversion__referral__program", source="conversion__source")),
        periods,
        by,
        "conversion__source",
        {"purchases": ("occurred_at", _count())},
        program="conversion__referral__program",
        rollup=(organization, filters, True),
    )
    result = []
    channels = Channel.values  # a property that builds its list at each call
    for i in range(len(periods)):
        keys = {None} if by is None else set(clicks[i]) | set(referrals[i]) | set(purchases[i])
        per_key = {}
        for key in keys:
            row = {**clicks[i].get(key, {}), **referrals[i].get(key, {})}
            row.update(purchases[i].get(key, {}))
            per_key[key] = Volume(
                clicks=row.get("clicks") or 0,
                referrals=row.get("referrals") or 0,
                by_channel={c: row.get(c) or 0 for c in channels},
                signups=row.get("signups") or 0,
                customers_won=row.get("customers_won") or 0,
                purchases=row.get("purchases") or 0,
            )
        result.append(per_key)
    return result


def volume(
    *,
    organization: Organization,
    period: Period,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> dict[Any, Volume]:
    return volumes(organization=organization, periods=[period], filters=filters, by=by)[0]


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


def revenues(
    *,
    organization: Organization,
    periods: Sequence[Period],
    filters: Filters = NO_FILTERS,
    by: str | None = None,
    won_value: bool = True,
) -> list[dict[Any, Revenue]]:
    """``won_value=False`` leaves out new business (growth is then all of net revenue) and the
    value of the customers won, the two figures that tie a purchase to its customer's win
    (``_won_rows``): for a reader that shows neither (the overview's all-time tiles)."""
    credited = _credited(organization, filters)
    won_at = WON_AT

    def new_business(q: Q, period: Period):
        """Bought in the period by customers won in the period (advocacy aside)."""
        return Sum(signed_amount(), filter=q & period.q(won_at) & ~Purchase.ADVOCACY)

    # New business and the value of the customers won tie two dates together (the purchase's
    # and the customer's win): read from the customers won in the period (``_won_rows``:
    # their rollups, ``WonRollup``, and today's rows), except day by day or month by month,
    # where new business falls on the day of the purchase.
    from . import rollups

    measures = {
        "net": ("occurred_at", _sum(signed_amount())),
        "advocacy": ("occurred_at", _sum(signed_amount(), Purchase.ADVOCACY)),
    }
    by_purchase_day = by in BUCKETS
    if won_value and by_purchase_day and rollups.cut(organization) is None:
        measures["new"] = ("occurred_at", new_business)
    money = _read(
        credited,
        periods,
        by,
        "conversion__source",
        measures,
        program="conversion__referral__program",
        rollup=(organization, filters, True),
    )
    new_rows: list[dict] = [{} for _ in periods]
    value_rows: list[dict] = [{} for _ in periods]
    if won_value and by != "rollup":
        # The customers won in the period, and everything they bought to date.
        won_measures = _won_measures(by_purchase_day)
        if by_purchase_day and "new" not in measures:
            new_rows = _read(
                credited, periods, by, "conversion__source", {"new": ("occurred_at", new_business)}
            )
        value_rows = _won_rows(
            organization, credited, periods, filters, by, won_measures, by_purchase_day
        )
    won = (
        _read(
            Referral.objects.using(DB)
            .filter(organization=organization)
            .won()
            .filter(filters.q(program="program", source="source")),
            periods,
            by,
            "source",
            {"customers_won": ("converted_at", _count())},
            program="program",
            rollup=(organization, filters, True),
        )
        if by != "rollup"  # a rollup keeps the customers won of the volume
        else [{} for _ in periods]
    )
    contributions = _read(
        InsiderContribution.objects.using(DB)
        .filter(organization=organization)
        .filter(filters.q(program=None, source="source")),
        periods,
        by,
        "source",
        {"contributions": ("occurred_on", _sum("value"))},
        days=True,
        rollup=(organization, filters, False),
    )
    result = []
    for i in range(len(periods)):
        parts = (money[i], new_rows[i], value_rows[i], won[i], contributions[i])
        keys = {None} if by is None else set().union(*parts)
        per_key = {}
        for key in keys:
            row: dict[str, Any] = {}
            for part in parts:
                row.update(part.get(key, {}))
            net, new = cents(row.get("net")), cents(row.get("new"))
            per_key[key] = Revenue(
                net_revenue=net,
                advocacy_revenue=cents(row.get("advocacy")),
                new_business=new,
                growth=net - new,
                contribution_value=cents(row.get("contributions")),
                customers_won=row.get("customers_won") or 0,
                value_of_customers_won=cents(row.get("value")),
            )
        result.append(per_key)
    return result


WON_AT = "conversion__referral__converted_at"


def _new_business_of_the_won(q: Q, period: Period):
    """Bought in the period (advocacy aside) by the customers won in it (``q``: won in it)."""
    return Sum(signed_amount(), filter=q & period.q("occurred_at") & ~Purchase.ADVOCACY)


def _won_measures(by_purchase_day: bool) -> dict:
    """The customers won in the period: everything they bought to date ("value"), and the
    part they bought in the period ("new", except day by day or month by month)."""
    measures = {"value": (WON_AT, _sum(signed_amount(), ~Purchase.ADVOCACY))}
    if not by_purchase_day:
        measures["new"] = (WON_AT, _new_business_of_the_won)
    return measures


def _credited(organization: Organization, filters: Filters):
    """The purchases and refunds credited to a source (the one definition), of the filters."""
    return (
        Purchase.objects.using(DB)
        .filter(organization=organization)
        .credited()
        .filter(filters.q(program="conversion__referral__program", source="conversion__source"))
    )


def _won_rows(organization, credited, periods, filters, by, measures, by_purchase_day):
    """``measures`` ("value", and "new" unless by day or month) of the customers won in each
    period: from ``WonRollup`` for the purchases before the rollups' cut and the rows from it
    on, added up; from the rows alone without those rollups."""
    from . import rollups

    cut = rollups.cut(organization)
    heads = (
        None
        if cut is None or by_purchase_day
        else rollups.won_sums(
            organization=organization, periods=periods, filters=filters, by=by, names=list(measures)
        )
    )
    if heads is None:
        return _read(credited, periods, by, "conversion__source", measures)
    tails = _won_since(cut, credited, periods, by, measures)
    for head, tail in zip(heads, tails, strict=True):
        _add_rows(head, tail)
    return _without_empty_groups(heads, by)


def _won_since(cut, credited, periods, by, measures) -> list[dict[Any, dict[str, Any]]]:
    """``measures`` of the customers won in each period, from the purchases since the
    rollups' ``cut`` alone (what ``WonRollup`` does not hold yet)."""
    return _read(credited.filter(occurred_at__gte=cut), periods, by, "conversion__source", measures)


def revenue(
    *,
    organization: Organization,
    period: Period,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
    won_value: bool = True,
) -> dict[Any, Revenue]:
    return revenues(
        organization=organization, periods=[period], filters=filters, by=by, won_value=won_value
    )[0]


#: Purchases no source is credited with: the complement of ``Purchase.CREDITED`` (no
#: conversion, or one on a referral rejected or waiting in review).
NOT_CREDITED = (
    Q(conversion__isnull=True)
    | Q(conversion__referral__flagged=True)
    | Q(conversion__referral__status=Referral.Status.REJECTED)
)


def uncredited_revenues(
    *, organization: Organization, periods: Sequence[Period], by: str | None = None
) -> list[dict[Any, Decimal]]:
    """Net revenue (purchases minus refunds) no source is credited with, in each period: of
    customers nobody referred, outside every window, or on referrals rejected or in review.
    It belongs to no program and no source, so it has no filters and no groups but the day
    and the month (a rollup keeps it on the row of no program and no source)."""
    if by not in (None, *DATED):
        raise ValueError("Uncredited revenue has no source and no kind of source.")
    rows = _read(
        Purchase.objects.using(DB).filter(organization=organization).filter(NOT_CREDITED),
        periods,
        by,
        lambda by, date, period: (
            _rollup_key(_path(None), _path(None), _key("day", "", date, period))
            if by == "rollup"
            else _key(by, "", date, period)
        ),
        {"uncredited": ("occurred_at", _sum(signed_amount()))},
        rollup=(organization, NO_FILTERS, False),
    )
    return [{key: cents(row.get("uncredited")) for key, row in part.items()} for part in rows]


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
    credit_granted: Decimal = ZERO  # credit granted on the ledger in the period
    cash_paid: Decimal = ZERO  # payouts paid in the period


def reward_costs(
    *,
    organization: Organization,
    periods: Sequence[Period],
    filters: Filters = NO_FILTERS,
    by: str | None = None,
    debt: bool = True,
) -> list[dict[Any, RewardCost]]:
    """``debt=False`` leaves out the unrecovered debt (a balance at an instant, read from the
    rows): for a reader that does not show it."""
    void = Q(status=Reward.Status.VOID)
    costs = _read(
        Reward.objects.using(DB).filter(organization=organization).filter(_reward_filters(filters)),
        periods,
        by,
        _reward_key,
        {
            "cost": ("created_at", lambda q, period: reward_cost_sum(q)),
            "referrer": ("created_at", lambda q, p: reward_cost_sum(q & Q(source__isnull=False))),
            "issued": ("created_at", _sum("amount")),
            "voided": ("created_at", _sum("amount", void)),
            "taken_back": ("created_at", _sum("taken_back", ~void)),
        },
        rollup=(organization, filters, True),
    )
    expire, grant = LedgerEntry.Kind.EXPIRE, LedgerEntry.Kind.GRANT
    breakage = _read(
        LedgerEntry.objects.using(DB)
        .filter(organization=organization, kind__in=[expire, grant])
        .filter(_reward_filters(filters, "lot__reward__")),
        periods,
        by,
        lambda by, date, period: _reward_key(by, date, period, "lot__reward__"),
        {
            "expired": ("at", _sum("amount", Q(kind=expire))),
            "granted": ("at", _sum("amount", Q(kind=grant))),
        },
        rollup=(organization, filters, True),
    )
    paid = _read(
        Payout.objects.using(DB)
        .filter(organization=organization, status=Payout.Status.PAID)
        .filter(filters.q(program=None, source="source")),
        periods,
        by,
        "source",
        {"paid": ("paid_at", _sum("amount"))},
        rollup=(organization, filters, False),
    )
    debts = (
        _debts(organization=organization, periods=periods, filters=filters, by=by)
        if debt
        else [{} for _ in periods]
    )
    result = []
    for i in range(len(periods)):
        parts = (costs[i], breakage[i], paid[i])
        keys = {None} if by is None else set().union(*parts, debts[i])
        per_key = {}
        for key in keys:
            row: dict[str, Any] = {}
            for part in parts:
                row.update(part.get(key, {}))
            cost, referrer = cents(row.get("cost")), cents(row.get("referrer"))
            per_key[key] = RewardCost(
                cost=cost,
                referrer_cost=referrer,
                friend_cost=cost - referrer,
                issued=cents(row.get("issued")),
                voided=cents(row.get("voided")),
                taken_back=cents(row.get("taken_back")),
                unrecovered_debt=debts[i].get(key, ZERO),
                breakage=-cents(row.get("expired")),
                credit_granted=cents(row.get("granted")),
                cash_paid=cents(row.get("paid")),
            )
        result.append(per_key)
    return result


def reward_cost(
    *,
    organization: Organization,
    period: Period,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> dict[Any, RewardCost]:
    return reward_costs(organization=organization, periods=[period], filters=filters, by=by)[0]


def _debts(
    *, organization, periods: Sequence[Period], filters: Filters, by: str | None
) -> list[dict]:
    """What holders owed the business at the end of each period: clawbacks credit could not
    cover, less what later credit or payouts settled (each account's payout balance, where it
    is negative). A debt belongs to a holder, not to a program, and is a balance at an
    instant: it has no figure per day or month."""
    if by in DATED:
        return [{} for _ in periods]
    from . import rollups

    current = rollups.state(organization)
    if current is not None and current.balances_at is not None:
        return [
            _debts_from_snapshot(organization, current.balances_at, p.until, filters, by)
            for p in periods
        ]
    entries = (
        PayoutBalanceEntry.objects.using(DB)
        .filter(organization=organization, at__lt=max(p.until for p in periods))
        .filter(filters.q(program=None, source="account__source"))
        .order_by()
    )
    fields = ["account"]
    if by is not None:
        entries = entries.annotate(_key=F(f"account__source{GROUPS[by]}"))
        fields.append("_key")
    balances = {f"b{i}": Sum("amount", filter=Q(at__lt=p.until)) for i, p in enumerate(periods)}
    totals: list[dict[Any, Decimal]] = [{} for _ in periods]
    for row in entries.values(*fields).annotate(**balances):
        key = row.get("_key") if by is not None else None
        for i in range(len(periods)):
            balance = cents(row[f"b{i}"])
            if balance < 0:
                totals[i][key] = totals[i].get(key, ZERO) - balance
    return totals


def _debts_from_snapshot(organization, snapshot_at, at, filters: Filters, by: str | None) -> dict:
    """The debts of ``_debts`` at the instant ``at`` from the payout balances at
    ``snapshot_at`` (``BalanceSnapshot``, written with the rollups) moved by the entries
    between the two instants: the accounts those entries touch are summed here one by one,
    every other account's debt is its snapshot's, summed in the database."""
    from .models import BalanceSnapshot

    key_of = {None: None, "source": "source_id", "kind": "source__kind"}[by]
    snapshot = (
        BalanceSnapshot.objects.using(DB)
        .filter(organization=organization)
        .filter(filters.q(program=None, source="source"))
        .order_by()
    )
    entries = (
        PayoutBalanceEntry.objects.using(DB)
        .filter(organization=organization)
        .filter(filters.q(program=None, source="account__source"))
        .order_by()
    )
    accounts: list[int] = []
    if at >= snapshot_at:
        entries, sign = entries.filter(at__gte=snapshot_at, at__lt=at), 1
    else:
        # Back in time: only an account that has owed by the snapshot can have owed
        # earlier (its lowest balance), so the entries of the others are not read.
        # Read once a request (the organization object) for each filter.
        known = organization.__dict__.setdefault("_accounts_that_owed", {})
        if filters not in known:
            owed = snapshot.filter(Q(lowest__lt=0) | Q(lowest__isnull=True))
            known[filters] = list(owed.values_list("account_id", flat=True))
        accounts = known[filters]
        entries = entries.filter(at__gte=at, at__lt=snapshot_at, account_id__in=accounts)
        sign = -1
    key_field = f"account__{key_of}" if key_of else None
    grouped = entries.values("account", *([key_field] if key_field else [])).annotate(
        _moved=Sum("amount")
    )
    moved: list[tuple] = []
    if sign > 0 or accounts:
        sql, params = grouped.query.get_compiler(using=DB).as_sql()
        key_column = 'e."account__' + key_of + '"' if key_of else "NULL"
        # Only the touched accounts whose debt moves: owing at the snapshot, or at ``at``.
        with connections[DB].cursor() as cursor:
            cursor.execute(
                f'SELECT {key_column}, COALESCE(s."balance", 0), e."_moved" FROM ({sql}) e '  # noqa: S608 - Django's SQL
                f'LEFT JOIN "{BalanceSnapshot._meta.db_table}" s ON s."organization_id" = %s '
                f'AND s."account_id" = e."account" WHERE COALESCE(s."balance", 0) < 0 '
                f'OR COALESCE(s."balance", 0) + %s * e."_moved" < 0',
                [*params, organization.pk, sign],
            )
            moved = cursor.fetchall()
    totals: dict[Any, Decimal] = {}
    group = F(key_of) if key_of else Value(None, output_field=IntegerField())
    owing = snapshot.filter(balance__lt=0).annotate(_key=group)
    for row in owing.values("_key").annotate(owed=Sum("balance")):
        totals[row["_key"]] = totals.get(row["_key"], ZERO) - cents(row["owed"])
    # The accounts the entries touch: their debt in the snapshot out, their debt now in.
    for key, before, change in moved:
        was_, balance = cents(before), cents(before + sign * change)
        owed = (-balance if balance < 0 else ZERO) - (-was_ if was_ < 0 else ZERO)
        if owed:
            totals[key] = totals.get(key, ZERO) + owed
    return {key: total for key, total in totals.items() if total}


# ROI and the whole report -------------------------------------------------------------------


def roi_multiple(*, revenue: Decimal, cost: Decimal, gross_margin: Decimal) -> Decimal | None:
    """(net revenue x gross margin - reward cost) / reward cost, unrounded; None when
    nothing was spent on rewards."""
    if not cost:
        return None
    return (revenue * gross_margin - cost) / cost


def roi(*, revenue: Decimal, cost: Decimal, gross_margin: Decimal) -> Decimal | None:
    """``roi_multiple`` as a percentage to one decimal; None (shown "n/a") when nothing was
    spent on rewards."""
    multiple = roi_multiple(revenue=revenue, cost=cost, gross_margin=gross_margin)
    return None if multiple is None else (multiple * 100).quantize(Decimal("0.1"))


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


ALL_PARTS = ("volume", "revenue", "cost")


def figures_for(
    *,
    organization: Organization,
    periods: Sequence[Period],
    filters: Filters = NO_FILTERS,
    parts: Sequence[str] = ALL_PARTS,
) -> list[Figures]:
    """The figures of each period, every kind of row read once for all of them. A page that
    shows only some ``parts`` reads only those (the others are left empty, and ROI too when
    revenue or cost is not read)."""
    n = len(periods)
    vs = (
        volumes(organization=organization, periods=periods, filters=filters)
        if "volume" in parts
        else [{None: Volume()}] * n
    )
    rs = (
        revenues(organization=organization, periods=periods, filters=filters)
        if "revenue" in parts
        else [{None: Revenue()}] * n
    )
    cs = (
        reward_costs(organization=organization, periods=periods, filters=filters)
        if "cost" in parts
        else [{None: RewardCost()}] * n
    )
    result = []
    for v, r, c in zip(vs, rs, cs, strict=True):
        v, r, c = v[None], r[None], c[None]
        result.append(
            Figures(
                volume=v,
                funnel=Funnel.of(v),
                revenue=r,
                cost=c,
                roi=roi(revenue=r.net_revenue, cost=c.cost, gross_margin=organization.gross_margin)
                if "revenue" in parts and "cost" in parts
                else None,
            )
        )
    return result


def figures(
    *, organization: Organization, period: Period, filters: Filters = NO_FILTERS
) -> Figures:
    return figures_for(organization=organization, periods=[period], filters=filters)[0]


def report(
    *,
    organization: Organization,
    period: Period,
    filters: Filters = NO_FILTERS,
    parts: Sequence[str] = ALL_PARTS,
) -> Report:
    previous = period.previous()
    current, before = figures_for(
        organization=organization, periods=[period, previous], filters=filters, parts=parts
    )
    return Report(period=period, previous_period=previous, current=current, previous=before)


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


def _sources(organization: Organization, filters: Filters):
    """The sources the filters leave (plain queryset: callers pick their columns)."""
    sources = ReferralSource.objects.using(DB).filter(organization=organization)
    if filters.source_id:
        sources = sources.filter(pk=filters.source_id)
    if filters.source_ids:
        sources = sources.filter(pk__in=filters.source_ids)
    if filters.source_kind:
        sources = sources.filter(kind=filters.source_kind)
    return sources


def _by_name(sources):
    """Sources by name in code-point order (``in_code_points``), then id."""
    return sources.order_by(in_code_points("name"), "pk")


def _ranked_by_won_value(
    organization: Organization,
    period: Period,
    filters: Filters,
    first: int,
    whole: Callable[[], dict] | None = None,
) -> Iterator[tuple[int, Decimal]]:
    """The sources with value (``_won_value_by_source`` above zero) and that value, highest
    first then by id, as they are consumed: ranked in the database a chunk at a time
    (``first`` ranks, then twice as many each time) where the rollups of the customers won
    are built, so a page that shows ten of 50,000 sources does not read 50,000.

    The sources today's rows (those from the rollups' cut on) touch are ranked apart, on
    their rolled-up value plus the rows': every other source's value is its rolled-up one,
    so their order is the database's, and the two orders merge. Without those rollups every
    source's value is read (``whole``: the caller's, when it keeps it)."""
    from . import rollups

    cut = rollups.cut(organization)
    if cut is None or not rollups.won_built(organization):
        value_of = whole() if whole else _won_value_by_source(organization, period, filters)
        yield from sorted(
            ((key, value) for key, value in value_of.items() if value > 0),
            key=lambda item: (-item[1], item[0]),
        )
        return
    measures = {"value": _won_measures(by_purchase_day=False)["value"]}
    rows = _won_since(cut, _credited(organization, filters), [period], "source", measures)[0]
    touched = {key: cents(row.get("value")) for key, row in rows.items() if key is not None}
    if touched:
        rolled = rollups.won_sums(
            organization=organization,
            periods=[period],
            filters=replace(filters, source_ids=tuple(sorted(touched))),
            by="source",
            names=["value"],
        )
        for key, row in (rolled[0] if rolled else {}).items():
            touched[key] += cents(row.get("value"))
    pending = sorted((k for k, v in touched.items() if v > 0), key=lambda k: (-touched[k], k))
    offset, chunk = 0, max(first, 1)
    while True:
        ranked = rollups.won_ranked(
            organization=organization,
            period=period,
            filters=filters,
            leave_out=touched,
            limit=chunk,
            offset=offset,
        )
        offset += len(ranked)
        for key, value in ranked:
            value = cents(value)
            while pending and (-touched[pending[0]], pending[0]) < (-value, key):
                done = pending.pop(0)
                yield done, touched[done]
            yield key, value
        if len(ranked) < chunk:
            break
        chunk *= 2
    yield from ((key, touched[key]) for key in pending)


def _won_value_by_source(organization: Organization, period: Period, filters: Filters) -> dict:
    """Per source, the value of the customers won in the period (``Revenue``'s
    ``value_of_customers_won``), from that figure's own reads (``_won_rows``) alone."""
    measures = {"value": _won_measures(by_purchase_day=False)["value"]}
    values = _won_rows(
        organization,
        _credited(organization, filters),
        [period],
        filters,
        "source",
        measures,
        by_purchase_day=False,
    )[0]
    return {key: cents(row.get("value")) for key, row in values.items() if key is not None}


class RankedSourceIds(Sequence[int]):
    """The ids of every source ``source_rows`` gives, in its order (the value of the
    customers won in the period, highest first, then name), from that value alone: a page
    of the ranking reads the figures of its own sources (``source_rows`` with their ids),
    not every source's. The sources with value lead, ranked in the database as far as a
    page needs (``_ranked_by_won_value``); a page among them reads neither the others nor
    their names (50,000 names sorted were a fifth of the page's time)."""

    def __init__(self, organization: Organization, period: Period, filters: Filters):
        self._organization, self._period, self._filters = organization, period, filters
        self._sources = _sources(organization, filters)
        self._seen: list[tuple[int, Decimal]] = []
        self._more: Iterator[tuple[int, Decimal]] | None = None

    def _leading(self, stop: int) -> list[int] | None:
        """The first ``stop`` or more sources with value, in order (by name where values
        tie), or None when fewer than ``stop`` have value."""
        seen = self._seen
        if self._more is None:
            self._more = _ranked_by_won_value(
                self._organization,
                self._period,
                self._filters,
                first=stop + 1,
                whole=lambda: self._value_of,
            )
        # Up to ``stop``, then on while the value ties with the ``stop``-th: a tie is ordered
        # by name, so its sources come whole.
        while len(seen) < stop or seen[-1][1] == seen[stop - 1][1]:
            following = next(self._more, None)
            if following is None:
                break
            seen.append(following)
        if len(seen) < stop:
            return None
        tied = {v for v, n in Counter(v for _, v in seen).items() if n > 1}
        names: dict[int, str] = {}
        if tied:
            names = dict(
                self._sources.filter(pk__in=[pk for pk, v in seen if v in tied])
                .order_by()
                .values_list("pk", "name")
            )
        seen.sort(key=lambda item: (-item[1], names.get(item[0], ""), item[0]))
        return [pk for pk, _ in seen]

    @cached_property
    def _value_of(self) -> dict:
        return _won_value_by_source(self._organization, self._period, self._filters)

    @cached_property
    def _all(self) -> list[int]:
        value_of = self._value_of
        ids = list(_by_name(self._sources).values_list("pk", flat=True))
        ids.sort(key=lambda pk: -value_of.get(pk, ZERO))  # stable: by name within a value
        return ids

    @cached_property
    def _count(self) -> int:
        return self._sources.count()

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> list[int]: ...
    def __getitem__(self, index):
        if isinstance(index, slice) and index.step in (None, 1):
            start, stop, _ = index.indices(len(self))
            leading = self._leading(stop) if stop > 0 else []
            if leading is not None:
                return leading[start:stop]
        return self._all[index]


def ranked_source_ids(
    *, organization: Organization, period: Period, filters: Filters = NO_FILTERS
) -> RankedSourceIds:
    """Every source's id in ``source_rows``' order, read as a page needs them."""
    return RankedSourceIds(organization, period, filters)


def source_rows(
    *, organization: Organization, period: Period, filters: Filters = NO_FILTERS
) -> list[SourceRow]:
    """Every source of the organization (those the filters leave) with its figures of the
    period, ranked by the value of the customers it won (then by name)."""
    volumes = volume(organization=organization, period=period, filters=filters, by="source")
    revenues = revenue(organization=organization, period=period, filters=filters, by="source")
    costs = reward_cost(organization=organization, period=period, filters=filters, by="source")
    sources = _sources(organization, filters)
    rows = []
    labels = dict(SourceKind.choices)
    nothing, no_revenue, no_cost = Volume(), Revenue(), RewardCost()  # frozen: shared
    # Plain tuples, not model instances: an organization may have 50,000 sources.
    for pk, name, kind in _by_name(sources).values_list("pk", "name", "kind"):
        r = revenues.get(pk, no_revenue)
        c = costs.get(pk, no_cost)
        rows.append(
            SourceRow(
                source_id=pk,
                name=name,
                kind=kind,
                kind_label=labels.get(kind, kind),
                volume=volumes.get(pk, nothing),
                revenue=r,
                cost=c,
                roi=roi(revenue=r.net_revenue, cost=c.cost, gross_margin=organization.gross_margin),
            )
        )
    rows.sort(key=lambda row: -row.revenue.value_of_customers_won)
    return rows


def top_sources_by_value(
    *, organization: Organization, period: Period, filters: Filters = NO_FILTERS, limit: int = 5
) -> list[dict]:
    """The sources whose customers won in the period are worth the most to date (their whole
    relationship, advocacy aside), with how many they won; ties by id.

    Ranked on the value alone (``_won_rows``: the rollups of the customers won and today's
    rows), then the whole figures read for the leaders only, a few at a time, until
    ``limit`` of them have won a customer in the period: not every source's figures of the
    period (50,000 sources' daily rows at a million customers). A source with value but no
    customer won in the period (credited by another source's referral) is passed over, as
    one with no value is ranked after the rest: when the valued ones run out, every
    source's figures are read."""
    ranked_ids = (
        key for key, _ in _ranked_by_won_value(organization, period, filters, first=2 * limit)
    )
    leaders: list[tuple[int, Revenue]] = []
    while len(leaders) < limit:
        chunk = list(islice(ranked_ids, 2 * limit))
        if not chunk:
            break
        chosen = replace(filters, source_ids=tuple(chunk))
        per_source = revenue(organization=organization, period=period, filters=chosen, by="source")
        found = [(key, per_source.get(key, Revenue())) for key in chunk]
        leaders += [(key, r) for key, r in found if r.customers_won]
    if len(leaders) < limit:
        per_source = revenue(organization=organization, period=period, filters=filters, by="source")
        leaders = sorted(
            ((key, r) for key, r in per_source.items() if key is not None and r.customers_won),
            key=lambda item: (-item[1].value_of_customers_won, item[0]),
        )
    leaders = leaders[:limit]
    names = dict(
        ReferralSource.objects.using(DB)
        .filter(organization=organization, pk__in=[key for key, _ in leaders])
        .values_list("pk", "name")
    )
    return [{"source_id": key, "name": names[key], "revenue": r} for key, r in leaders]
