"""Reads for rewards and credit."""

from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.utils import timezone

from accounts.models import Organization

from .models import CreditAccount, CreditLot, LedgerEntry, Reward


def credit_balance(*, account: CreditAccount) -> Decimal:
    """The balance: the sum of the account's ledger entries."""
    total = LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0.00")


def open_lots(*, account: CreditAccount) -> QuerySet[CreditLot]:
    return CreditLot.objects.filter(
        account=account, remaining__gt=0, expired_at__isnull=True, expires_at__gt=timezone.now()
    ).order_by("expires_at")


def reward_list(*, organization: Organization, status: str = "") -> QuerySet[Reward]:
    qs = Reward.objects.for_organization(organization).select_related(
        "source", "customer", "rule", "conversion"
    )
    if status:
        qs = qs.filter(status=status)
    return qs


def credits_issued_total(*, organization: Organization) -> Decimal:
    total = LedgerEntry.objects.filter(
        organization=organization, kind=LedgerEntry.Kind.GRANT
    ).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0.00")
