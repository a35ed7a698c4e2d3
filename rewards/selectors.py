"""Reads for rewards, credit and payouts. List selectors fetch their relations up front, so
a page of any size costs the same few queries."""

from decimal import Decimal

from django.db.models import DecimalField, OuterRef, Prefetch, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import Organization
from core.money import cents

from .models import (
    CreditAccount,
    CreditLot,
    LedgerEntry,
    Payout,
    PayoutBalanceEntry,
    Reward,
    RewardEvent,
)

ZERO = Decimal("0.00")
MONEY = DecimalField(max_digits=14, decimal_places=2)


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


def _sum_of(model, field: str = "amount", **filters) -> Subquery:
    return Coalesce(
        Subquery(
            model.objects.filter(account=OuterRef("pk"), **filters)
            .order_by()
            .values("account")
            .annotate(total=Sum(field))
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
