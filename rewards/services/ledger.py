"""The credit ledger: lots that expire, append-only entries, redemptions first-to-expire
first, clawbacks, and the payout balance (what a holder is owed in cash, or owes).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Customer, Organization, ReferralSource, User
from core.money import ZERO, format_money
from core.money import cents as _money

from ..models import (
    CreditAccount,
    CreditLot,
    LedgerEntry,
    Payout,
    PayoutBalanceEntry,
    Reward,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clawback:
    recovered: Decimal  # taken back from the holder's credit
    debt: Decimal  # what credit could not cover, now owed on the payout balance


# The credit ledger ------------------------------------------------------------------------


def credit_account_for(
    *,
    organization_id: int,
    source: ReferralSource | None = None,
    customer: Customer | None = None,
    source_id: int | None = None,
    customer_id: int | None = None,
) -> CreditAccount:
    """The holder's account, created on first use."""
    source_id = source.pk if source is not None else source_id
    customer_id = customer.pk if customer is not None else customer_id
    holder = {"source_id": source_id} if source_id else {"customer_id": customer_id}
    account = CreditAccount.objects.filter(**holder).first()
    if account is not None:
        return account
    currency = Organization.objects.values_list("currency", flat=True).get(pk=organization_id)
    try:
        with transaction.atomic():
            account, _ = CreditAccount.objects.get_or_create(
                **holder, defaults={"organization_id": organization_id, "currency": currency}
            )
    except IntegrityError:
        account = CreditAccount.objects.get(**holder)
    return account


def _lock_account(account_pk: int) -> CreditAccount:
    return CreditAccount.objects.select_for_update().get(pk=account_pk)


@transaction.atomic
def credit_grant(
    *,
    account: CreditAccount,
    amount: Decimal,
    expires_at,
    idempotency_key: str,
    reward: Reward | None = None,
) -> CreditLot:
    """Open a lot of credit. The same key twice returns the first lot.

    A holder who owes a debt (see ``PayoutBalanceEntry``) settles it from the new lot first.
    """
    amount = _money(amount)
    if amount <= 0:
        raise ValidationError({"amount": "A grant must be above zero."})
    account = _lock_account(account.pk)
    existing = CreditLot.objects.filter(
        account=account,
        entries__idempotency_key=idempotency_key,
        entries__kind=LedgerEntry.Kind.GRANT,
    ).first()
    if existing is not None:
        return existing
    lot = _open_lot(
        account,
        amount=amount,
        expires_at=expires_at,
        kind=LedgerEntry.Kind.GRANT,
        idempotency_key=idempotency_key,
        reference=f"reward {reward.pk}" if reward else idempotency_key[:200],
        reward=reward,
    )
    _settle_debt_from_lot(account, lot)
    return lot


def _open_lot(
    account: CreditAccount,
    *,
    amount: Decimal,
    expires_at,
    kind: str,
    idempotency_key: str,
    reference: str,
    reward: Reward | None = None,
) -> CreditLot:
    """A new lot and the positive entry that opens it. The caller holds the account lock."""
    lot = CreditLot.objects.create(
        organization_id=account.organization_id,
        account=account,
        reward=reward,
        amount=amount,
        remaining=amount,
        expires_at=expires_at,
    )
    LedgerEntry.objects.create(
        organization_id=account.organization_id,
        account=account,
        lot=lot,
        kind=kind,
        amount=amount,
        idempotency_key=idempotency_key,
        reference=reference,
    )
    return lot


def _open_lots_for_update(account: CreditAccount) -> list[CreditLot]:
    return list(
        CreditLot.objects.select_for_update()
        .filter(account=account)
        .open()
        .order_by("expires_at", "id")
    )


def _consume(
    *,
    account: CreditAccount,
    amount: Decimal,
    kind: str,
    idempotency_key: str,
    reference: str,
    lots: list[CreditLot] | None = None,
) -> Decimal:
    """Take up to ``amount`` from the lots (default: the open ones, first to expire first).

    The caller holds the account's row lock; the lots are locked too. Returns what was taken.
    """
    if lots is None:
        lots = _open_lots_for_update(account)
    left = amount
    for lot in lots:
        if left <= 0:
            break
        take = min(lot.remaining, left)
        if take <= 0:
            continue
        lot.remaining -= take
        lot.save(update_fields=["remaining"])
        LedgerEntry.objects.create(
            organization_id=account.organization_id,
            account=account,
            lot=lot,
            kind=kind,
            amount=-take,
            idempotency_key=idempotency_key,
            reference=reference,
        )
        left -= take
    return amount - left


@transaction.atomic
def credit_redeem(*, account: CreditAccount, amount: Decimal, order_id: str) -> Decimal:
    """Spend credit on an order, once per order id. Never takes the balance below zero.

    The account row lock serializes redemptions of one account across transactions, so two
    orders racing for the same credit cannot both have it. The same order id again returns
    what the first redemption took, and debits nothing more.
    """
    amount = _money(amount)
    if amount <= 0:
        raise ValidationError({"amount": "Redeem an amount above zero."})
    order_id = (order_id or "").strip()
    if not order_id:
        raise ValidationError({"order_id": "A redemption needs the order id."})
    account = _lock_account(account.pk)
    key = f"redeem:{order_id}"
    done = LedgerEntry.objects.filter(account=account, idempotency_key=key).aggregate(
        total=Sum("amount")
    )["total"]
    if done is not None:
        if -done != amount:
            raise ValidationError(
                {
                    "order_id": f"Order {order_id} already redeemed "
                    f"{format_money(-done, account.currency)}."
                }
            )
        return -done
    lots = _open_lots_for_update(account)
    available = sum((lot.remaining for lot in lots), ZERO)
    if amount > available:
        raise ValidationError(
            {"amount": f"Only {format_money(available, account.currency)} of credit is available."}
        )
    return _consume(
        account=account,
        amount=amount,
        kind=LedgerEntry.Kind.REDEEM,
        idempotency_key=key,
        reference=f"order {order_id}",
        lots=lots,
    )


@transaction.atomic
def credit_adjust(
    *,
    account: CreditAccount,
    amount: Decimal,
    note: str,
    idempotency_key: str,
    actor: User | None,
    lifetime_days: int = 365,
) -> Decimal:
    """A staff correction: add credit (a lot of its own) or take some away, with a reason.

    Written as ``adjustment`` entries, never as an edit; a negative adjustment takes the
    lots first to expire first and cannot take the balance below zero. The same key again
    changes nothing. Returns the amount moved (negative when taken).
    """
    amount = _money(amount)
    note = (note or "").strip()
    if not amount:
        raise ValidationError({"amount": "An adjustment is above or below zero."})
    if not note:
        raise ValidationError({"note": "Say why the credit is adjusted."})
    key = f"adjust:{(idempotency_key or '').strip()[:150]}"
    if not idempotency_key:
        raise ValidationError("An adjustment needs an idempotency key.")
    account = _lock_account(account.pk)
    done = LedgerEntry.objects.filter(account=account, idempotency_key=key).aggregate(
        total=Sum("amount")
    )["total"]
    if done is not None:
        return done
    reference = f"{actor.email if actor else 'system'}: {note}"[:200]
    if amount > 0:
        _open_lot(
            account,
            amount=amount,
            expires_at=timezone.now() + timedelta(days=lifetime_days),
            kind=LedgerEntry.Kind.ADJUSTMENT,
            idempotency_key=key,
            reference=reference,
        )
        return amount
    lots = _open_lots_for_update(account)
    available = sum((lot.remaining for lot in lots), ZERO)
    if -amount > available:
        raise ValidationError(
            {
                "amount": f"Only {format_money(available, account.currency)} of credit "
                "can be taken away."
            }
        )
    taken = _consume(
        account=account,
        amount=-amount,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        idempotency_key=key,
        reference=reference,
        lots=lots,
    )
    return -taken


def _reward_keys(prefix: str, reward: Reward) -> Q:
    """The idempotency keys of one reward's take-backs: "clawback:reward:7" (in full) and
    "clawback:reward:7:refund:12" (a partial refund's share)."""
    base = f"{prefix}:reward:{reward.pk}"
    return Q(idempotency_key=base) | Q(idempotency_key__startswith=f"{base}:")


def _credit_still_held(account: CreditAccount, reward: Reward, lot: CreditLot) -> Decimal:
    """What of a credit reward its holder still has the benefit of: its lot, less what
    expired unused, less what was taken back before (from credit, or as a debt)."""
    expired = lot.entries.filter(kind=LedgerEntry.Kind.EXPIRE).aggregate(total=Sum("amount"))
    taken = LedgerEntry.objects.filter(account=account).filter(_reward_keys("clawback", reward))
    debts = PayoutBalanceEntry.objects.filter(account=account).filter(_reward_keys("debt", reward))
    held = (
        lot.amount
        + (expired["total"] or ZERO)
        + (taken.aggregate(total=Sum("amount"))["total"] or ZERO)
        + (debts.aggregate(total=Sum("amount"))["total"] or ZERO)
    )
    return max(held, ZERO)


def _clawback_credit(
    account: CreditAccount, reward: Reward, *, amount: Decimal | None = None, key_suffix: str = ""
) -> Clawback:
    """Take a credit reward back: all its holder still has the benefit of, or ``amount`` of
    it (a partial refund's share). The caller holds the account lock.

    Taken from what is left of the reward's lot first; what the holder already spent is
    taken from their other credit, first to expire first; what that cannot cover becomes a
    debt on the payout balance. Credit that expired unused is not taken back: the holder
    never had the benefit of it. Each take-back has its own key, so it is written once.
    """
    lot = CreditLot.objects.select_for_update().filter(reward=reward).first()
    if lot is None:
        return Clawback(ZERO, ZERO)
    suffix = f":{key_suffix}" if key_suffix else ""
    key = f"clawback:reward:{reward.pk}{suffix}"
    debt_key = f"debt:reward:{reward.pk}{suffix}"
    if (
        LedgerEntry.objects.filter(account=account, idempotency_key=key).exists()
        or PayoutBalanceEntry.objects.filter(account=account, idempotency_key=debt_key).exists()
    ):
        return Clawback(ZERO, ZERO)
    held = _credit_still_held(account, reward, lot)
    amount = held if amount is None else min(_money(amount), held)
    if amount <= 0:
        return Clawback(ZERO, ZERO)
    recovered = _consume(
        account=account,
        amount=min(amount, lot.remaining),
        kind=LedgerEntry.Kind.CLAWBACK,
        idempotency_key=key,
        reference=f"reward {reward.pk}",
        lots=[lot],
    )
    from_others = ZERO
    if amount > recovered:
        from_others = _consume(
            account=account,
            amount=amount - recovered,
            kind=LedgerEntry.Kind.CLAWBACK,
            idempotency_key=key,
            reference=f"reward {reward.pk} (spent credit)",
        )
    debt = amount - recovered - from_others
    if debt > 0:
        _balance_entry(
            account,
            kind=PayoutBalanceEntry.Kind.DEBT,
            amount=-debt,
            key=debt_key,
            reward=reward,
            note="Credit already spent when the reward was clawed back",
        )
    return Clawback(recovered + from_others, debt)


# The payout balance -------------------------------------------------------------------------


def _balance_entry(
    account: CreditAccount,
    *,
    kind: str,
    amount: Decimal,
    key: str,
    reward: Reward | None = None,
    payout: Payout | None = None,
    note: str = "",
) -> bool:
    """Append to the holder's payout balance, once per key. Returns whether it was written."""
    if PayoutBalanceEntry.objects.filter(account=account, idempotency_key=key).exists():
        return False
    PayoutBalanceEntry.objects.create(
        organization_id=account.organization_id,
        account=account,
        kind=kind,
        amount=amount,
        idempotency_key=key,
        reward=reward,
        payout=payout,
        note=note[:300],
    )
    return True


def _payout_balance(account: CreditAccount) -> Decimal:
    total = PayoutBalanceEntry.objects.filter(account=account).aggregate(total=Sum("amount"))
    return _money(total["total"] or ZERO)


def _settle_debt_from_lot(account: CreditAccount, lot: CreditLot) -> Decimal:
    """A holder in debt settles it from new credit first. The caller holds the account lock."""
    debt = -_payout_balance(account)
    if debt <= 0:
        return ZERO
    key = f"settle:lot:{lot.pk}"
    settled = _consume(
        account=account,
        amount=min(debt, lot.remaining),
        kind=LedgerEntry.Kind.CLAWBACK,
        idempotency_key=key,
        reference="debt settlement",
        lots=[lot],
    )
    if settled > 0:
        _balance_entry(
            account,
            kind=PayoutBalanceEntry.Kind.SETTLEMENT,
            amount=settled,
            key=key,
            note=f"Settled from credit lot {lot.pk}",
        )
    return settled


# Payouts ------------------------------------------------------------------------------------
