"""
The rules of rewards: which conversion earns what, for whom, and how the money moves.

Every write here is idempotent. A reward is unique per (rule, conversion); a credit grant
is unique per key; a redemption is unique per order id; a payout is unique per
idempotency key. A task delivered twice, or a worker that dies and is retried, finds the
work done and does nothing more.

Locks are always taken in the same order, so two writers never wait on each other in a
circle: the holder's account row first (``CreditAccount``: it serializes every movement
of one holder's money), then the reward or payout row, then credit lots.
"""

import hashlib
import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from itertools import groupby

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, Sum
from django.db.models.functions import Round
from django.utils import timezone

from accounts.models import Customer, InsiderContribution, Organization, ReferralSource, User
from accounts.money import cents as _money
from referrals.models import Conversion, Program, Referral

from .models import (
    PAID_OUT_KINDS,
    CreditAccount,
    CreditLot,
    CreditReminder,
    LedgerEntry,
    Payout,
    PayoutBalanceEntry,
    Reward,
    RewardEvent,
    RewardRule,
    TierBasis,
)

log = logging.getLogger(__name__)

ZERO = Decimal("0")
REMINDER_DAYS = (7, 1)  # expiry reminders, in days before a lot expires

TRIGGERS_FOR_KIND = {
    Conversion.Kind.SIGNUP: {RewardRule.Trigger.SIGNUP},
    Conversion.Kind.PURCHASE: {
        RewardRule.Trigger.FIRST_PURCHASE,
        RewardRule.Trigger.EVERY_PURCHASE,
    },
    Conversion.Kind.ADVOCACY: {RewardRule.Trigger.ADVOCACY},
}


def _send_task_on_commit(name: str, *args) -> None:
    """Queue a Celery task once the current transaction commits (at once outside one)."""
    from config.celery import app

    transaction.on_commit(lambda: app.send_task(name, args=list(args)))


def _setting(name: str, default):
    return getattr(settings, name, default)


# Rules ----------------------------------------------------------------------------------


def rule_create(*, program: Program, **fields) -> RewardRule:
    """Add a reward rule to a program. Invalid rules raise ValidationError, nothing saved."""
    if not fields.get("currency"):
        fields["currency"] = program.organization.currency
    if fields.get("tiers") is None:
        fields["tiers"] = []
    if not fields.get("tier_basis"):
        fields["tier_basis"] = TierBasis.COUNT
    rule = RewardRule(organization_id=program.organization_id, program=program, **fields)
    rule.full_clean()
    rule.save()
    return rule


def _sent_by_source(rule: RewardRule, source: ReferralSource) -> Decimal:
    """How much the source has sent to the rule's program: customers, or their value."""
    if rule.tier_basis == TierBasis.VALUE:
        totals = Conversion.objects.filter(
            referral__source=source, referral__program_id=rule.program_id
        ).aggregate(
            bought=Sum("amount", filter=Q(kind=Conversion.Kind.PURCHASE)),
            refunded=Sum("amount", filter=Q(kind=Conversion.Kind.REFUND)),
        )
        return (totals["bought"] or ZERO) - (totals["refunded"] or ZERO)
    count = Referral.objects.filter(
        source=source, program_id=rule.program_id, status=Referral.Status.CONVERTED
    ).count()
    return Decimal(count)


def tier_for(*, rule: RewardRule, source: ReferralSource) -> dict | None:
    """The highest tier the source has reached, or None (the rule's own rate applies)."""
    if not rule.tiers:
        return None
    key = "min_value" if rule.tier_basis == TierBasis.VALUE else "min_referrals"
    sent = _sent_by_source(rule, source)
    best = None
    for tier in rule.tiers:
        threshold = Decimal(str(tier[key]))
        if sent >= threshold and (best is None or threshold >= best[0]):
            best = (threshold, tier)
    return best[1] if best else None


def reward_amount(*, rule: RewardRule, conversion: Conversion) -> Decimal:
    """What ``rule`` pays for ``conversion``: formula, tier, per-reward cap, lifetime cap.

    The lifetime cap is per friend (per referral): what the rule already paid for this
    friend, voided rewards excepted, counts against it.
    """
    amount_fixed, percent = rule.amount, rule.percent
    tier = tier_for(rule=rule, source=conversion.referral.source)
    if tier:
        amount_fixed = Decimal(str(tier.get("amount", amount_fixed)))
        percent = Decimal(str(tier.get("percent", percent)))
    if rule.formula == RewardRule.Formula.FIXED:
        value = amount_fixed
    else:
        value = conversion.amount * percent / Decimal(100)
    if rule.cap is not None:
        value = min(value, rule.cap)
    if rule.lifetime_cap is not None:
        paid = (
            Reward.objects.filter(rule=rule, conversion__referral_id=conversion.referral_id)
            .exclude(status=Reward.Status.VOID)
            .aggregate(total=Sum("amount"))["total"]
            or ZERO
        )
        value = min(value, max(rule.lifetime_cap - paid, ZERO))
    return max(_money(value), ZERO)


def _rule_applies(rule: RewardRule, conversion: Conversion) -> bool:
    if rule.trigger not in TRIGGERS_FOR_KIND.get(conversion.kind, set()):
        return False
    # A first-purchase rule pays once per friend: only on the purchase marked first.
    return rule.trigger != RewardRule.Trigger.FIRST_PURCHASE or conversion.is_first_purchase


def issue_rewards_for_conversion(*, conversion_id: int) -> list[Reward]:
    """Issue what every matching rule pays for a conversion. Safe to call any number of times.

    A refund voids instead what its purchase earned (see ``reward_void_for_refund``).
    """
    conversion = (
        Conversion.objects.select_related(
            "referral", "referral__source", "referral__program", "organization", "customer"
        )
        .filter(pk=conversion_id)
        .first()
    )
    if conversion is None:
        return []
    referral = conversion.referral
    if conversion.kind == Conversion.Kind.REFUND:
        reward_void_for_refund(conversion=conversion)
        return []
    if referral.flagged or referral.status == Referral.Status.REJECTED:
        return []
    issued = []
    rules = RewardRule.objects.filter(program_id=referral.program_id, active=True)
    for rule in rules:
        if not _rule_applies(rule, conversion):
            continue
        reward = _issue_one(rule=rule, conversion=conversion)
        if reward is not None:
            issued.append(reward)
    return issued


def _issue_one(*, rule: RewardRule, conversion: Conversion) -> Reward | None:
    referral = conversion.referral
    if rule.beneficiary == RewardRule.Beneficiary.REFERRER:
        beneficiary = {"source": referral.source}
    else:
        friend = conversion.customer or referral.friend
        if friend is None:
            return None
        beneficiary = {"customer": friend}
    with transaction.atomic():
        # One friend's rewards are issued one at a time, so the lifetime cap sees them all.
        Referral.objects.select_for_update().filter(pk=referral.pk).values_list("pk").first()
        if Reward.objects.filter(rule=rule, conversion=conversion).exists():
            return None
        amount = reward_amount(rule=rule, conversion=conversion)
        if amount <= 0:
            return None
        now = timezone.now()
        try:
            with transaction.atomic():
                reward = Reward.objects.create(
                    organization_id=rule.organization_id,
                    rule=rule,
                    conversion=conversion,
                    amount=amount,
                    currency=rule.currency,
                    reward_kind=rule.reward_kind,
                    hold_until=now + timedelta(days=rule.hold_days) if rule.hold_days else None,
                    created_at=now,
                    **beneficiary,
                )
        except IntegrityError:
            return None  # issued by a concurrent delivery of the same task
        _log(
            reward,
            from_status="",
            actor=None,
            label="rule",
            note=f"{rule} on {conversion.get_kind_display().lower()} {conversion.external_id}",
        )
        if not rule.hold_days:
            reward = reward_approve(reward=reward, actor=None, label="no hold")
    return reward


# The reward lifecycle: pending -> approved -> fulfilled | void ---------------------------


def _log(reward: Reward, *, from_status: str, actor: User | None, label: str, note: str = ""):
    RewardEvent.objects.create(
        organization_id=reward.organization_id,
        reward=reward,
        from_status=from_status,
        to_status=reward.status,
        actor=actor,
        actor_label=(actor.email if actor else label or "system")[:100],
        note=note[:300],
    )


def _lock_reward(reward_pk: int) -> tuple[CreditAccount, Reward]:
    """Lock the beneficiary's account, then the reward (the one lock order, see the top)."""
    holder = Reward.objects.values("organization_id", "source_id", "customer_id").get(pk=reward_pk)
    account = credit_account_for(
        organization_id=holder["organization_id"],
        source_id=holder["source_id"],
        customer_id=holder["customer_id"],
    )
    account = CreditAccount.objects.select_for_update().get(pk=account.pk)
    reward = (
        Reward.objects.select_for_update(of=("self",))
        .select_related("rule", "organization")
        .get(pk=reward_pk)
    )
    return account, reward


def coupon_code_for(reward: Reward) -> str:
    """A coupon code derived from the reward: the same reward always gets the same code."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"coupon:{reward.pk}".encode(), hashlib.sha256
    ).hexdigest()
    return f"ADV-{digest[:4]}-{digest[4:8]}".upper()


def reward_approve(
    *,
    reward: Reward,
    actor: User | None,
    label: str = "",
    credit_lifetime_days: int | None = None,
) -> Reward:
    """Approve a pending reward, and fulfil at once what needs no payout.

    Credit is granted (a lot that expires after the rule's credit lifetime) and a coupon
    gets its code: both are then fulfilled. Cash and gift cards are added to the source's
    payout balance and are fulfilled when the payout that carries them is paid.
    A reward that is no longer pending is returned unchanged.
    """
    reward, _ = _approve(reward.pk, actor, label, credit_lifetime_days)
    return reward


@transaction.atomic
def _approve(
    reward_pk: int, actor: User | None, label: str, credit_lifetime_days: int | None
) -> tuple[Reward, bool]:
    account, reward = _lock_reward(reward_pk)
    if reward.status != Reward.Status.PENDING:
        return reward, False
    now = timezone.now()
    reward.status = Reward.Status.APPROVED
    reward.approved_at = now
    reward.save(update_fields=["status", "approved_at"])
    _log(reward, from_status=Reward.Status.PENDING, actor=actor, label=label)
    if reward.reward_kind == RewardRule.Kind.CREDIT:
        lifetime = credit_lifetime_days or (
            reward.rule.credit_lifetime_days if reward.rule else 365
        )
        lot = credit_grant(
            account=account,
            amount=reward.amount,
            expires_at=now + timedelta(days=lifetime),
            idempotency_key=f"reward:{reward.pk}",
            reward=reward,
        )
        _fulfil(reward, note=f"Credit granted until {lot.expires_at:%Y-%m-%d %H:%M} UTC")
    elif reward.reward_kind == RewardRule.Kind.COUPON:
        reward.coupon_code = coupon_code_for(reward)
        reward.save(update_fields=["coupon_code"])
        _fulfil(reward, note="Coupon code issued")
    else:
        _balance_entry(
            account,
            kind=PayoutBalanceEntry.Kind.EARNED,
            amount=reward.amount,
            key=f"earned:reward:{reward.pk}",
            reward=reward,
        )
    _send_task_on_commit("rewards.send_reward_earned_email", reward.pk)
    return reward, True


def _fulfil(reward: Reward, *, note: str, actor: User | None = None, label: str = "") -> None:
    previous = reward.status
    reward.status = Reward.Status.FULFILLED
    reward.fulfilled_at = timezone.now()
    reward.save(update_fields=["status", "fulfilled_at"])
    _log(reward, from_status=previous, actor=actor, label=label or "system", note=note)


def release_held_rewards(*, now=None) -> int:
    """Approve every pending reward whose hold (refund window) has ended. Returns how many."""
    now = now or timezone.now()
    ids = list(
        Reward.objects.filter(status=Reward.Status.PENDING, hold_until__lte=now)
        .order_by("hold_until")
        .values_list("pk", flat=True)
    )
    released = 0
    for pk in ids:
        _, changed = _approve(pk, None, "hold ended", None)
        released += changed
    return released


@dataclass(frozen=True)
class Clawback:
    recovered: Decimal  # taken back from the holder's credit
    debt: Decimal  # what credit could not cover, now owed on the payout balance


@transaction.atomic
def reward_void(*, reward: Reward, reason: str, actor: User | None, label: str = "") -> Reward:
    """Void a reward, with a reason. What was already given is taken back, never edited away.

    - pending: nothing was given; the reward is just void.
    - credit, fulfilled: a clawback takes back what is left of its lot and, for what was
      spent, other credit of the holder; what credit cannot cover is written as a debt.
    - cash or gift card, approved or fulfilled: a negative entry on the payout balance
      (a debt when it was already paid out, deducted from the next payout).
    - coupon: the code stays issued; the event records the void for the business to act on.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the reward is voided."})
    account, reward = _lock_reward(reward.pk)
    if reward.status == Reward.Status.VOID:
        return reward
    previous = reward.status
    note = reason
    if previous == Reward.Status.FULFILLED and reward.reward_kind == RewardRule.Kind.CREDIT:
        clawback = _clawback_credit(account, reward)
        note += f" (credit clawed back: {clawback.recovered}"
        note += f", debt: {clawback.debt})" if clawback.debt else ")"
    elif reward.is_paid_out and previous != Reward.Status.PENDING:
        created = _balance_entry(
            account,
            kind=PayoutBalanceEntry.Kind.VOID,
            amount=-reward.amount,
            key=f"void:reward:{reward.pk}",
            reward=reward,
            note=reason,
        )
        if created and previous == Reward.Status.FULFILLED:
            note += " (already paid out: deducted from the next payout)"
    elif reward.reward_kind == RewardRule.Kind.COUPON and reward.coupon_code:
        note += f" (coupon {reward.coupon_code} was issued)"
    reward.status = Reward.Status.VOID
    reward.void_reason = reason[:200]
    reward.voided_at = timezone.now()
    reward.save(update_fields=["status", "void_reason", "voided_at"])
    _log(reward, from_status=previous, actor=actor, label=label, note=note)
    return reward


def reward_void_for_refund(*, conversion: Conversion) -> list[Reward]:
    """A refund voids the rewards its purchase earned (all purchases of the friend if the
    refund names none): inside the hold they were never given; after, they are clawed back.
    """
    purchases = Conversion.objects.filter(
        referral_id=conversion.referral_id, kind=Conversion.Kind.PURCHASE
    )
    if conversion.refund_of_id:
        purchases = purchases.filter(pk=conversion.refund_of_id)
    voided = []
    for pk in (
        Reward.objects.filter(conversion__in=purchases)
        .exclude(status=Reward.Status.VOID)
        .values_list("pk", flat=True)
    ):
        voided.append(
            reward_void(
                reward=Reward(pk=pk),
                reason=f"Refund {conversion.external_id}",
                actor=None,
                label="refund",
            )
        )
    return voided


MANUAL_KINDS = (RewardRule.Kind.CREDIT, RewardRule.Kind.CASH, RewardRule.Kind.GIFT_CARD)


def reward_grant_manual(
    *,
    organization: Organization,
    source: ReferralSource,
    amount: Decimal,
    note: str,
    actor: User | None,
    reward_kind: str = RewardRule.Kind.CREDIT,
    credit_lifetime_days: int = 365,
    contribution: InsiderContribution | None = None,
) -> Reward:
    """A reward given by hand, e.g. for an insider's contribution; approved at once."""
    errors = {}
    if source.organization_id != organization.id:
        errors["source"] = "Unknown source."
    if contribution is not None:
        if contribution.source_id != source.pk or contribution.organization_id != organization.id:
            errors["contribution"] = "This contribution is not the chosen source's."
        elif Reward.objects.filter(contribution=contribution).exists():
            errors["contribution"] = "This contribution has been rewarded already."
    amount = Decimal(amount)
    if amount <= 0:
        errors["amount"] = "The amount must be above zero."
    if reward_kind not in MANUAL_KINDS:
        errors["reward_kind"] = "A manual reward is credit, cash or a gift card."
    if not (note or "").strip():
        errors["note"] = "Say what the reward is for."
    if credit_lifetime_days is None or credit_lifetime_days < 1:
        errors["credit_lifetime_days"] = "Credit must last at least one day."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        reward = Reward.objects.create(
            organization=organization,
            source=source,
            amount=_money(amount),
            currency=organization.currency,
            reward_kind=reward_kind,
            note=note.strip()[:300],
            created_by=actor,
            contribution=contribution,
        )
        _log(reward, from_status="", actor=actor, label="", note=f"Manual: {reward.note}")
        reward = reward_approve(
            reward=reward, actor=actor, credit_lifetime_days=credit_lifetime_days
        )
    return reward


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
        .filter(
            account=account,
            remaining__gt=0,
            expired_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
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
                {"order_id": f"Order {order_id} already redeemed {-done} {account.currency}."}
            )
        return -done
    lots = _open_lots_for_update(account)
    available = sum((lot.remaining for lot in lots), ZERO)
    if amount > available:
        raise ValidationError(
            {"amount": f"Only {available} {account.currency} of credit is available."}
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
            {"amount": f"Only {available} {account.currency} of credit can be taken away."}
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


def _clawback_credit(account: CreditAccount, reward: Reward) -> Clawback:
    """Take a credit reward back. The caller holds the account lock.

    What is left of the reward's lot is taken from it; what the holder already spent is
    taken from their other credit, first to expire first; what that cannot cover becomes a
    debt on the payout balance. Credit that expired unused is not taken back: the holder
    never had the benefit of it.
    """
    lot = CreditLot.objects.select_for_update().filter(reward=reward).first()
    if lot is None:
        return Clawback(ZERO, ZERO)
    key = f"clawback:reward:{reward.pk}"
    if LedgerEntry.objects.filter(account=account, idempotency_key=key).exists():
        return Clawback(ZERO, ZERO)
    expired = -(
        lot.entries.filter(kind=LedgerEntry.Kind.EXPIRE).aggregate(total=Sum("amount"))["total"]
        or ZERO
    )
    spent = lot.amount - lot.remaining - expired
    recovered = _consume(
        account=account,
        amount=lot.remaining,
        kind=LedgerEntry.Kind.CLAWBACK,
        idempotency_key=key,
        reference=f"reward {reward.pk}",
        lots=[lot],
    )
    from_others = ZERO
    if spent > 0:
        from_others = _consume(
            account=account,
            amount=spent,
            kind=LedgerEntry.Kind.CLAWBACK,
            idempotency_key=key,
            reference=f"reward {reward.pk} (spent credit)",
        )
    debt = spent - from_others
    if debt > 0:
        _balance_entry(
            account,
            kind=PayoutBalanceEntry.Kind.DEBT,
            amount=-debt,
            key=f"debt:reward:{reward.pk}",
            reward=reward,
            note="Credit already spent when the reward was clawed back",
        )
    return Clawback(recovered + from_others, debt)


def expire_credit_lots(*, now=None, batch_size: int = 50_000) -> int:
    """Expire every lot past its date, set-based, one statement per batch. Returns how many.

    On PostgreSQL each batch is a single statement: it picks the batch (skipping lots a
    redemption holds right now: the next run takes them), closes the lots and writes their
    expiry entries, so a lot is either expired with its entry or not at all. Batches of
    50,000 were about a third faster than 10,000 in bench/bench_expire_lots.py, and hold
    their locks for a few seconds only on lots nobody can spend any more.
    """
    now = now or timezone.now()
    if connection.vendor == "postgresql":
        return _expire_postgresql(now, batch_size)
    return _expire_portable(now, batch_size)


_EXPIRE_SQL = """
WITH batch AS (
    SELECT id, organization_id, account_id, remaining FROM {lot}
    WHERE expired_at IS NULL AND remaining > 0 AND expires_at <= %(now)s
    ORDER BY expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), entries AS (
    INSERT INTO {entry}
        (organization_id, account_id, lot_id, kind, amount, idempotency_key, reference, at)
    SELECT organization_id, account_id, id, %(kind)s, -remaining, %(kind)s, '', %(now)s
    FROM batch
)
UPDATE {lot} SET remaining = 0, expired_at = %(now)s
WHERE id = ANY(ARRAY(SELECT id FROM batch))
"""
# ``id = ANY(ARRAY(...))`` makes the update a primary-key lookup of the batch; a join with
# the batch lets the planner hash the whole lot table once per batch.


def _expire_postgresql(now, batch_size: int) -> int:
    sql = _EXPIRE_SQL.format(lot=CreditLot._meta.db_table, entry=LedgerEntry._meta.db_table)
    params = {"now": now, "limit": batch_size, "kind": LedgerEntry.Kind.EXPIRE}
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            expired = cursor.rowcount
        total += expired
        if expired == 0:
            return total


def _expire_portable(now, batch_size: int) -> int:
    """The same for SQLite (the embedded development setup): three statements per batch."""
    entry_table = LedgerEntry._meta.db_table
    lot_table = CreditLot._meta.db_table
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                CreditLot.objects.select_for_update(skip_locked=True)
                .filter(expired_at__isnull=True, remaining__gt=0, expires_at__lte=now)
                .order_by("expires_at")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                return total
            placeholders = ",".join(["%s"] * len(ids))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {entry_table} "  # noqa: S608 - table names are our own
                    "(organization_id, account_id, lot_id, kind, amount, idempotency_key, "
                    "reference, at) "
                    "SELECT organization_id, account_id, id, %s, -remaining, %s, '', %s "
                    f"FROM {lot_table} WHERE id IN ({placeholders}) AND expired_at IS NULL "
                    "AND remaining > 0",
                    [LedgerEntry.Kind.EXPIRE, LedgerEntry.Kind.EXPIRE, now, *ids],
                )
                cursor.execute(
                    f"UPDATE {lot_table} SET remaining = 0, expired_at = %s "  # noqa: S608
                    f"WHERE id IN ({placeholders}) AND expired_at IS NULL",
                    [now, *ids],
                )
            total += len(ids)


# Expiry reminders -------------------------------------------------------------------------


def _due_for_reminder(now, days_before: int):
    """Open lots expiring within ``days_before`` days (and, for the early reminder, not yet
    within the next one's window), that have not had this reminder."""
    closer = [d for d in REMINDER_DAYS if d < days_before]
    qs = CreditLot.objects.filter(
        remaining__gt=0,
        expired_at__isnull=True,
        expires_at__gt=now,
        expires_at__lte=now + timedelta(days=days_before),
    ).exclude(reminders__days_before=days_before)
    if closer:
        qs = qs.filter(expires_at__gt=now + timedelta(days=max(closer)))
    return qs.select_related(
        "account", "account__source", "account__customer", "account__organization"
    ).order_by("account_id", "expires_at")


def send_expiry_reminders(*, now=None) -> int:
    """Email holders whose credit expires in 7 days, and again in 1 day: once each, ever.

    Each (lot, days_before) reminder is claimed by inserting its row, committed before the
    email is sent; the unique constraint makes a second claim fail, so a task delivered
    twice, or two workers running it at once, never send the same reminder twice. (The
    price: an email that fails after its claim is not retried.) Returns emails sent.
    """
    from .notifications import send_credit_expiring

    now = now or timezone.now()
    sent = 0
    for days_before in REMINDER_DAYS:
        lots = _due_for_reminder(now, days_before)
        for _account_id, group in groupby(lots.iterator(chunk_size=500), lambda x: x.account_id):
            group = list(group)
            account = group[0].account
            holder = account.holder
            if not getattr(holder, "email", ""):
                continue
            claimed = []
            for lot in group:
                try:
                    with transaction.atomic():
                        reminder = CreditReminder.objects.create(
                            organization_id=lot.organization_id,
                            lot=lot,
                            days_before=days_before,
                        )
                except IntegrityError:
                    continue  # claimed by another run: that run sends it
                claimed.append((lot, reminder))
            if not claimed:
                continue
            send_credit_expiring(account=account, lots=[lot for lot, _ in claimed])
            CreditReminder.objects.filter(pk__in=[r.pk for _, r in claimed]).update(
                sent_at=timezone.now()
            )
            sent += 1
    return sent


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


class PayoutRetry(Exception):
    """The provider failed; try again after ``countdown`` seconds."""

    def __init__(self, countdown: int, error: str):
        super().__init__(error)
        self.countdown = countdown


def payout_max_attempts() -> int:
    return int(_setting("REWARDS_PAYOUT_MAX_ATTEMPTS", 5))


def payout_backoff(attempts: int) -> int:
    """Seconds to wait before the next attempt: doubling from the base, at most a day."""
    base = int(_setting("REWARDS_PAYOUT_RETRY_BASE_SECONDS", 60))
    return min(base * 2 ** max(attempts - 1, 0), 24 * 3600)


def _default_method(source: ReferralSource) -> str:
    """Gift card when every unpaid reward was promised as one (and there is an email)."""
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


def payout_request(
    *,
    source: ReferralSource,
    method: str = "",
    idempotency_key: str = "",
    actor: User | None = None,
) -> Payout:
    """Pay a source its whole positive payout balance (approved cash and gift-card rewards,
    less payouts and debts). The same idempotency key again returns the first payout.

    The amount is reserved on the balance at once (a negative ``payout`` entry), and the
    approved rewards it carries are attached to it; ``rewards.process_payout`` pays it.
    """
    method = method or _default_method(source)
    if method not in Payout.Method.values:
        raise ValidationError({"method": "Unknown payout method."})
    if method == Payout.Method.GIFT_CARD and not source.email:
        raise ValidationError(
            {"method": "A gift card is sent by email, and this source has no email address."}
        )
    key = (idempotency_key or "").strip()[:200] or f"payout:{uuid.uuid4().hex}"
    existing = Payout.objects.filter(
        organization_id=source.organization_id, idempotency_key=key
    ).first()
    if existing is not None:
        return existing
    account = credit_account_for(organization_id=source.organization_id, source=source)
    with transaction.atomic():
        account = _lock_account(account.pk)
        existing = Payout.objects.filter(
            organization_id=source.organization_id, idempotency_key=key
        ).first()
        if existing is not None:
            return existing
        balance = _payout_balance(account)
        if balance <= 0:
            raise ValidationError(
                f"Nothing to pay: {source} has a payout balance of {balance} {account.currency}."
            )
        payout = Payout.objects.create(
            organization_id=source.organization_id,
            source=source,
            account=account,
            amount=balance,
            currency=account.currency,
            method=method,
            idempotency_key=key,
            requested_by=actor,
        )
        _balance_entry(
            account,
            kind=PayoutBalanceEntry.Kind.PAYOUT,
            amount=-balance,
            key=f"payout:{payout.pk}",
            payout=payout,
        )
        Reward.objects.filter(
            source=source,
            status=Reward.Status.APPROVED,
            reward_kind__in=PAID_OUT_KINDS,
            payout__isnull=True,
        ).update(payout=payout)
        _send_task_on_commit("rewards.process_payout", payout.pk)
    return payout


def sources_to_pay(*, organization: Organization) -> list[int]:
    """Ids of the organization's sources with a positive payout balance."""
    return list(
        PayoutBalanceEntry.objects.filter(organization=organization, account__source__isnull=False)
        .values("account__source_id")
        # Rounded to cents in SQL: SQLite (the embedded default) sums decimals as floats,
        # and a balance of 0 could otherwise come out as 5e-17 and ask for a 0.00 payout.
        .annotate(balance=Round(Sum("amount"), 2))
        .filter(balance__gt=0)
        .order_by("account__source_id")
        .values_list("account__source_id", flat=True)
    )


def payout_batch(
    *, organization: Organization, batch_key: str, method: str = "", actor: User | None = None
) -> list[Payout]:
    """Request a payout for every source with money owed. A batch key run twice pays once."""
    payouts = []
    for source in ReferralSource.objects.filter(pk__in=sources_to_pay(organization=organization)):
        try:
            payouts.append(
                payout_request(
                    source=source,
                    method=method,
                    idempotency_key=f"batch:{batch_key}:source:{source.pk}",
                    actor=actor,
                )
            )
        except ValidationError as error:
            log.warning("Payout batch %s skipped source %s: %s", batch_key, source.pk, error)
    return payouts


def _lock_payout(payout_pk: int) -> Payout:
    return (
        Payout.objects.select_for_update(of=("self",))
        .select_related("source", "organization", "account")
        .get(pk=payout_pk)
    )


def payout_process(*, payout_id: int) -> Payout:
    """Pay one payout through its provider: exactly once, however often this runs.

    1. Under the payout's row lock, mark it processing and count the attempt (committed).
    2. Call the provider with the payout's idempotency key, outside any lock: a provider
       called twice with one key pays once.
    3. Under the row lock again, record the result: paid (its rewards fulfilled), still
       processing (a manual bank transfer waits for finance), or the error. An error is
       retried with exponential backoff (``PayoutRetry``) until the attempts run out; then
       the payout is failed, shown in the dashboard, and staff may retry it.
    """
    from .payouts import get_provider

    with transaction.atomic():
        payout = _lock_payout(payout_id)
        if payout.status in (Payout.Status.PAID, Payout.Status.FAILED):
            return payout
        if payout.status == Payout.Status.PROCESSING and payout.provider_reference:
            return payout  # handed over; waits for confirmation (manual bank transfer)
        now = timezone.now()
        payout.status = Payout.Status.PROCESSING
        payout.attempts += 1
        payout.started_at = payout.started_at or now
        payout.updated_at = now
        payout.save(update_fields=["status", "attempts", "started_at", "updated_at"])
    try:
        result = get_provider(payout.method).pay(payout)
    except Exception as exc:  # noqa: BLE001 - any provider failure is recorded and retried
        log.warning("Payout %s attempt %s failed: %s", payout.pk, payout.attempts, exc)
        return _payout_failed_attempt(payout.pk, f"{type(exc).__name__}: {exc}")
    with transaction.atomic():
        payout = _lock_payout(payout_id)
        if payout.status == Payout.Status.PAID:
            return payout
        payout.provider_reference = result.reference[:200]
        payout.last_error = ""
        payout.updated_at = timezone.now()
        payout.save(update_fields=["provider_reference", "last_error", "updated_at"])
        if result.paid:
            _payout_paid(payout, actor=None, label=result.reference)
    return payout


def _payout_failed_attempt(payout_pk: int, error: str) -> Payout:
    with transaction.atomic():
        payout = _lock_payout(payout_pk)
        if payout.status != Payout.Status.PROCESSING:
            return payout
        now = timezone.now()
        payout.last_error = error[:500]
        payout.updated_at = now
        if payout.attempts >= payout_max_attempts():
            payout.status = Payout.Status.FAILED
            payout.failed_at = now
        payout.save(update_fields=["last_error", "status", "failed_at", "updated_at"])
    if payout.status == Payout.Status.FAILED:
        return payout
    raise PayoutRetry(payout_backoff(payout.attempts), error)


def _payout_paid(payout: Payout, *, actor: User | None, label: str) -> None:
    """Mark a locked payout paid and fulfil the rewards it carries."""
    payout.status = Payout.Status.PAID
    payout.paid_at = timezone.now()
    payout.updated_at = payout.paid_at
    payout.save(update_fields=["status", "paid_at", "updated_at"])
    for reward in Reward.objects.select_for_update().filter(
        payout=payout, status=Reward.Status.APPROVED
    ):
        _fulfil(
            reward,
            note=f"Paid by payout {payout.pk} ({payout.get_method_display().lower()})",
            actor=actor,
            label=label[:100],
        )
    if payout.method != Payout.Method.GIFT_CARD:  # the gift card's own email is the notice
        _send_task_on_commit("rewards.send_payout_sent_email", payout.pk)


@transaction.atomic
def payout_mark_paid(*, payout: Payout, actor: User | None, reference: str = "") -> Payout:
    """Finance confirms a manual bank transfer went out."""
    payout = _lock_payout(payout.pk)
    if payout.status == Payout.Status.PAID:
        return payout
    if payout.method != Payout.Method.BANK_TRANSFER or payout.status != Payout.Status.PROCESSING:
        raise ValidationError("Only a bank transfer being processed can be marked paid.")
    if reference.strip():
        payout.provider_reference = reference.strip()[:200]
        payout.save(update_fields=["provider_reference"])
    _payout_paid(payout, actor=actor, label="")
    return payout


@transaction.atomic
def payout_retry(*, payout: Payout, actor: User | None) -> Payout:
    """Try a failed payout again, with the same idempotency key (so never paid twice)."""
    payout = _lock_payout(payout.pk)
    if payout.status != Payout.Status.FAILED:
        raise ValidationError("Only a failed payout can be retried.")
    payout.status = Payout.Status.REQUESTED
    payout.attempts = 0
    payout.failed_at = None
    payout.updated_at = timezone.now()
    payout.save(update_fields=["status", "attempts", "failed_at", "updated_at"])
    _send_task_on_commit("rewards.process_payout", payout.pk)
    return payout


def payouts_to_resume(*, now=None) -> list[int]:
    """Payouts whose task may have been lost: requested for a while, or processing long
    after their last attempt (a manual bank transfer waiting for finance excepted)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=int(_setting("REWARDS_PAYOUT_STALE_SECONDS", 3600)))
    return list(
        Payout.objects.filter(
            Q(status=Payout.Status.REQUESTED, updated_at__lte=now - timedelta(minutes=5))
            | Q(status=Payout.Status.PROCESSING, provider_reference="", updated_at__lte=stale)
        ).values_list("pk", flat=True)
    )
