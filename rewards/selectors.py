"""Reads for rewards, credit and payouts. List selectors fetch their relations up front, so
a page of any size costs the same few queries."""

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Count,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Round

from accounts.models import Customer, Organization, ReferralSource
from core.money import MoneyField, cents
from referrals.models import Program, Referral

from .models import (
    PAID_OUT_KINDS,
    CreditAccount,
    CreditLot,
    LedgerEntry,
    Payout,
    PayoutBalanceEntry,
    PayoutDetails,
    Reward,
    RewardEvent,
    RewardRule,
    reward_cost_sum,
)

ZERO = Decimal("0.00")
MONEY = MoneyField()


def credit_balance(*, account: CreditAccount) -> Decimal:
    """The balance: the sum of the account's ledger entries."""
    total = LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"]
    return cents(total)


def credit_available(*, account: CreditAccount) -> Decimal:
    """What can be spent now: the balance less lots past their date the expiry task has not
    closed yet."""
    total = open_lots(account=account).aggregate(total=Sum("remaining"))["total"]
    return cents(total)


def payout_balance(*, account: CreditAccount) -> Decimal:
    """Money owed to the holder outside credit; negative when the holder owes a debt."""
    total = PayoutBalanceEntry.objects.filter(account=account).aggregate(total=Sum("amount"))
    return cents(total["total"])


def open_lots(*, account: CreditAccount) -> QuerySet[CreditLot]:
    return CreditLot.objects.filter(account=account).open().order_by("expires_at", "id")


def reward_list(*, organization: Organization, status: str = "") -> QuerySet[Reward]:
    qs = Reward.objects.for_organization(organization).select_related(
        "source", "customer", "rule", "conversion"
    )
    if status:
        qs = qs.filter(status=status)
    return qs


def reward_get(*, organization: Organization, pk: int) -> Reward | None:
    return (
        Reward.objects.for_organization(organization)
        .select_related(
            "source", "customer", "rule", "conversion__purchase", "payout", "lot", "created_by"
        )
        .prefetch_related(Prefetch("events", queryset=RewardEvent.objects.select_related("actor")))
        .filter(pk=pk)
        .first()
    )


def _sum_of(model, field: str = "amount", **filters) -> Coalesce:
    """The accounts' sum of ``field``, to the cent: rounded in SQL, since SQLite sums money as
    floats (entries that cancel out came back as -1.8e-14, shown as "-€0.00 owed")."""
    return Coalesce(
        Subquery(
            model.objects.filter(account=OuterRef("pk"), **filters)
            .order_by()
            .values("account")
            .annotate(total=Round(Sum(field), 2))
            .values("total"),
            output_field=MONEY,
        ),
        Value(ZERO),
        output_field=MONEY,
    )


def account_list(*, organization: Organization, holder: str = "") -> QuerySet[CreditAccount]:
    """Every account with its credit balance, payout balance and next expiry, in one query."""
    next_expiry = Subquery(
        CreditLot.objects.filter(account=OuterRef("pk"))
        .open()
        .order_by("expires_at")
        .values("expires_at")[:1]
    )
    qs = (
        CreditAccount.objects.for_organization(organization)
        .select_related("source", "customer")
        .annotate(
            credit=_sum_of(LedgerEntry),
            owed=_sum_of(PayoutBalanceEntry),
            next_expiry=next_expiry,
        )
        .order_by("-created_at", "-id")
    )
    if holder == "source":
        qs = qs.filter(source__isnull=False)
    elif holder == "customer":
        qs = qs.filter(customer__isnull=False)
    return qs


def account_get(*, organization: Organization, pk: int) -> CreditAccount | None:
    return (
        CreditAccount.objects.for_organization(organization)
        .select_related("source", "customer")
        .filter(pk=pk)
        .first()
    )


def account_lots(*, account: CreditAccount) -> QuerySet[CreditLot]:
    return CreditLot.objects.filter(account=account).order_by("expires_at", "id")


def account_entries(*, account: CreditAccount) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(account=account).order_by("-at", "-id")


def account_balance_entries(*, account: CreditAccount) -> QuerySet[PayoutBalanceEntry]:
    return PayoutBalanceEntry.objects.filter(account=account).order_by("-at", "-id")


def payout_list(*, organization: Organization, status: str = "") -> QuerySet[Payout]:
    qs = Payout.objects.for_organization(organization).select_related("source")
    if status:
        qs = qs.filter(status=status)
    return qs


def bank_transfers_awaiting(*, organization: Organization) -> QuerySet[Payout]:
    """Bank transfers handed to finance and not yet confirmed paid: the CSV's rows."""
    return (
        Payout.objects.for_organization(organization)
        .filter(method=Payout.Method.BANK_TRANSFER, status=Payout.Status.PROCESSING)
        .exclude(provider_reference="")
        .select_related("source")
        .order_by("created_at", "id")
    )


def credits_issued_total(*, organization: Organization) -> Decimal:
    total = LedgerEntry.objects.filter(
        organization=organization, kind=LedgerEntry.Kind.GRANT
    ).aggregate(total=Sum("amount"))["total"]
    return cents(total)


def programs_with_rules(*, organization: Organization) -> QuerySet[Program]:
    """Programs with their active reward rules fetched up front (``program.active_rules``)."""
    return Program.objects.for_organization(organization).prefetch_related(
        Prefetch(
            "reward_rules",
            queryset=RewardRule.objects.filter(active=True).order_by("created_at", "id"),
            to_attr="active_rules",
        )
    )


def credit_account_of(
    *, source: ReferralSource | None = None, customer: Customer | None = None
) -> CreditAccount | None:
    """The holder's account if it has one (reading never opens an account)."""
    if source is not None:
        return CreditAccount.objects.filter(source=source).first()
    return CreditAccount.objects.filter(customer=customer).first()


def payout_details_of(*, source: ReferralSource) -> PayoutDetails | None:
    """How the source asked to be paid, if it said so in its portal."""
    return PayoutDetails.objects.filter(source=source).first()


def default_payout_method(*, source: ReferralSource) -> str:
    """The method the source chose in its portal; else gift card when every unpaid reward
    was promised as one (and there is an email); else a bank transfer."""
    details = payout_details_of(source=source)
    if details is not None:
        return details.method
    kinds = set(
        Reward.objects.filter(
            source=source,
            status=Reward.Status.APPROVED,
            reward_kind__in=PAID_OUT_KINDS,
            payout__isnull=True,
        ).values_list("reward_kind", flat=True)
    )
    if kinds == {RewardRule.Kind.GIFT_CARD} and source.email:
        return Payout.Method.GIFT_CARD
    return Payout.Method.BANK_TRANSFER


@dataclass(frozen=True)
class PayoutPreviewRow:
    source: ReferralSource
    amount: Decimal
    currency: str
    method: str

    @property
    def method_label(self) -> str:
        return Payout.Method(self.method).label


@dataclass(frozen=True)
class PayoutPreview:
    rows: list[PayoutPreviewRow]
    total: Decimal
    currency: str

    @property
    def fingerprint(self) -> str:
        """Changes when anything the batch would pay changes: who, how much, how."""
        text = "|".join(f"{r.source.pk}:{r.amount}:{r.method}" for r in self.rows)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def source_ids(self) -> list[int]:
        return [row.source.pk for row in self.rows]


def payout_batch_preview(*, organization: Organization, method: str = "") -> PayoutPreview:
    """What a payout batch would pay now: every source with a positive payout balance."""
    balances = (
        PayoutBalanceEntry.objects.filter(organization=organization, account__source__isnull=False)
        .values("account__source_id")
        .annotate(balance=Round(Sum("amount"), 2))
        .filter(balance__gt=0)
        .order_by("account__source_id")
    )
    owed = {row["account__source_id"]: cents(row["balance"]) for row in balances}
    sources = ReferralSource.objects.filter(pk__in=owed).order_by("name", "pk")
    rows = [
        PayoutPreviewRow(
            source=source,
            amount=owed[source.pk],
            currency=organization.currency,
            method=method or default_payout_method(source=source),
        )
        for source in sources
    ]
    return PayoutPreview(rows, cents(sum((r.amount for r in rows), ZERO)), organization.currency)


@dataclass(frozen=True)
class PayoutTotals:
    """How many payouts a filtered list holds, what they pay (paid or on their way) and
    what failed: a failed payout paid nothing, and a retry pays it under the same row."""

    count: int
    amount: Decimal
    failed: Decimal


def payout_totals(queryset: QuerySet[Payout]) -> PayoutTotals:
    failed = Q(status=Payout.Status.FAILED)
    result = queryset.order_by().aggregate(
        payouts=Count("pk"),
        paying=Sum("amount", filter=~failed),
        not_paid=Sum("amount", filter=failed),
    )
    return PayoutTotals(result["payouts"], cents(result["paying"]), cents(result["not_paid"]))


@dataclass(frozen=True)
class RewardTotals:
    """How many rewards a filtered list holds, what they are worth (``amount``: the reward
    cost, as the analytics count it) and what was issued before voids and refunds."""

    count: int
    amount: Decimal
    issued: Decimal


def reward_totals(queryset: QuerySet[Reward]) -> RewardTotals:
    """The totals of a filtered list of rewards. ``amount`` is ``reward_cost_sum()``, the
    aggregate behind ``Reward.objects.cost()`` and the analytics' reward cost: voided rewards
    count for nothing, and what partial refunds took back is off."""
    result = queryset.order_by().aggregate(
        rewards=Count("pk"), cost=reward_cost_sum(), issued_total=Sum("amount")
    )
    return RewardTotals(result["rewards"], cents(result["cost"]), cents(result["issued_total"]))


@dataclass(frozen=True)
class SourceEarnings:
    """What a source has earned, by where it stands: ``pending`` (held for the refund
    window or review), ``approved`` (earned, not yet paid or granted), ``paid`` (paid out
    or granted as credit), ``payable`` (its payout balance: what it may ask for now, never
    below zero) and ``debt`` (what it owes when its payout balance is below zero: a reward
    taken back after it was paid; its next rewards settle it first)."""

    pending: Decimal
    approved: Decimal
    paid: Decimal
    payable: Decimal
    currency: str
    debt: Decimal = ZERO


def source_earnings(*, source: ReferralSource, account: CreditAccount | None) -> SourceEarnings:
    value = F("amount") - F("taken_back")
    totals = Reward.objects.filter(source=source).aggregate(
        pending=Sum(value, filter=Q(status=Reward.Status.PENDING)),
        approved=Sum(value, filter=Q(status=Reward.Status.APPROVED)),
        paid=Sum(value, filter=Q(status=Reward.Status.FULFILLED)),
    )
    balance = payout_balance(account=account) if account is not None else ZERO
    return SourceEarnings(
        pending=cents(totals["pending"]),
        approved=cents(totals["approved"]),
        paid=cents(totals["paid"]),
        payable=max(balance, ZERO),
        currency=account.currency if account is not None else source.organization.currency,
        debt=max(-balance, ZERO),
    )


def source_referrals(*, source: ReferralSource) -> QuerySet[Referral]:
    """The source's referrals, newest first, each with ``reward_total`` (what it brought
    the source, voided rewards left out) and ``reward_status`` (of its latest reward)."""
    rewards = Reward.objects.filter(source=source, conversion__referral=OuterRef("pk")).exclude(
        status=Reward.Status.VOID
    )
    return (
        Referral.objects.filter(source=source)
        .select_related("program")
        .annotate(
            reward_total=Coalesce(
                Subquery(
                    rewards.order_by()
                    .values("conversion__referral")
                    .annotate(total=Sum(F("amount") - F("taken_back")))
                    .values("total"),
                    output_field=MONEY,
                ),
                Value(ZERO),
                output_field=MONEY,
            ),
            reward_status=Subquery(rewards.order_by("-created_at", "-id").values("status")[:1]),
        )
        .order_by("-created_at", "-id")
    )


def source_payouts(*, source: ReferralSource) -> QuerySet[Payout]:
    return Payout.objects.filter(source=source).order_by("-created_at", "-id")


def payout_methods() -> list[tuple[str, str]]:
    """The ways a source may be paid (each has a provider in ``rewards.providers``)."""
    return list(Payout.Method.choices)
