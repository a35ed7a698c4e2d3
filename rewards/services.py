"""
The rules of rewards: which conversion earns what, for whom, and how credit moves.

Every write here is idempotent. A reward is unique per (rule, conversion); a credit grant
is unique per reward; a redemption is unique per order id. A task delivered twice, or a
worker that dies and is retried, finds the work done and does nothing more.
"""

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Customer, Organization, ReferralSource, User
from referrals.models import Conversion, Program, Referral

from .models import CreditAccount, CreditLot, LedgerEntry, Reward, RewardRule

CENT = Decimal("0.01")
ZERO = Decimal("0")

TRIGGERS_FOR_KIND = {
    Conversion.Kind.SIGNUP: {RewardRule.Trigger.SIGNUP},
    Conversion.Kind.PURCHASE: {
        RewardRule.Trigger.FIRST_PURCHASE,
        RewardRule.Trigger.EVERY_PURCHASE,
    },
    Conversion.Kind.ADVOCACY: {RewardRule.Trigger.ADVOCACY},
}


# Rules ----------------------------------------------------------------------------------


def rule_create(*, program: Program, **fields) -> RewardRule:
    fields.setdefault("currency", program.organization.currency)
    rule = RewardRule(organization_id=program.organization_id, program=program, **fields)
    rule.full_clean()
    rule.save()
    return rule


def _money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _tier_for(rule: RewardRule, source: ReferralSource) -> dict | None:
    if not rule.tiers:
        return None
    if rule.tier_basis == "value":
        sent = (
            Conversion.objects.filter(
                referral__source=source,
                referral__program=rule.program,
                kind=Conversion.Kind.PURCHASE,
            ).aggregate(total=Sum("amount"))["total"]
            or ZERO
        )
        key = "min_value"
    else:
        sent = Referral.objects.filter(
            source=source, program=rule.program, status=Referral.Status.CONVERTED
        ).count()
        key = "min_referrals"
    best = None
    for tier in rule.tiers:
        threshold = Decimal(str(tier.get(key, tier.get("min_referrals", 0))))
        if sent >= threshold and (best is None or threshold >= best[0]):
            best = (threshold, tier)
    return best[1] if best else None


def reward_amount(*, rule: RewardRule, conversion: Conversion) -> Decimal:
    """What ``rule`` pays for ``conversion``: formula, tier, per-reward cap, lifetime cap."""
    amount_fixed, percent = rule.amount, rule.percent
    tier = _tier_for(rule, conversion.referral.source)
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
            Reward.objects.filter(rule=rule, conversion__referral=conversion.referral)
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
    """Issue what every matching rule pays for a conversion. Safe to call any number of times."""
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
    if referral.flagged or referral.status == Referral.Status.REJECTED:
        return []
    if conversion.kind == Conversion.Kind.REFUND:
        reward_void_for_refund(conversion=conversion)
        return []
    issued = []
    rules = RewardRule.objects.filter(program_id=referral.program_id, active=True).select_related(
        "program__organization"
    )
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
        existing = Reward.objects.filter(rule=rule, conversion=conversion).first()
        if existing is not None:
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
                    **beneficiary,
                )
        except IntegrityError:
            return None  # issued by a concurrent delivery of the same task
        if not rule.hold_days:
            reward_approve(reward=reward, actor=None)
    return reward


@transaction.atomic
def reward_approve(*, reward: Reward, actor: User | None) -> Reward:
    """Approve a pending reward; account credit is granted at once (fulfilled)."""
    reward = Reward.objects.select_for_update(of=("self",)).select_related("rule").get(pk=reward.pk)
    if reward.status != Reward.Status.PENDING:
        return reward
    reward.status = Reward.Status.APPROVED
    reward.approved_at = timezone.now()
    reward.save(update_fields=["status", "approved_at"])
    if reward.reward_kind == RewardRule.Kind.CREDIT:
        lifetime = reward.rule.credit_lifetime_days if reward.rule else 365
        account = credit_account_for(
            organization_id=reward.organization_id, source=reward.source, customer=reward.customer
        )
        credit_grant(
            account=account,
            amount=reward.amount,
            expires_at=timezone.now() + timedelta(days=lifetime),
            idempotency_key=f"reward:{reward.pk}",
            reward=reward,
        )
        reward.status = Reward.Status.FULFILLED
        reward.fulfilled_at = timezone.now()
        reward.save(update_fields=["status", "fulfilled_at"])
    return reward


def release_held_rewards(*, now=None) -> int:
    """Approve every pending reward whose hold has ended. Returns how many."""
    now = now or timezone.now()
    ids = list(
        Reward.objects.filter(status=Reward.Status.PENDING, hold_until__lte=now).values_list(
            "pk", flat=True
        )
    )
    for pk in ids:
        reward_approve(reward=Reward(pk=pk), actor=None)
    return len(ids)


@transaction.atomic
def reward_void(*, reward: Reward, reason: str, actor: User | None) -> Reward:
    reward = Reward.objects.select_for_update().get(pk=reward.pk)
    if reward.status == Reward.Status.VOID:
        return reward
    if not reason.strip():
        raise ValidationError({"reason": "Say why the reward is voided."})
    if reward.status == Reward.Status.FULFILLED and reward.reward_kind == RewardRule.Kind.CREDIT:
        credit_clawback(reward=reward)
    reward.status = Reward.Status.VOID
    reward.void_reason = reason.strip()[:200]
    reward.save(update_fields=["status", "void_reason"])
    return reward


def reward_void_for_refund(*, conversion: Conversion) -> None:
    """A refund voids the rewards its purchase earned (all purchases if none is named)."""
    purchases = Conversion.objects.filter(
        referral=conversion.referral, kind=Conversion.Kind.PURCHASE
    )
    if conversion.refund_of_id:
        purchases = purchases.filter(pk=conversion.refund_of_id)
    for reward in Reward.objects.filter(conversion__in=purchases).exclude(
        status=Reward.Status.VOID
    ):
        reward_void(reward=reward, reason=f"Refund {conversion.external_id}", actor=None)


def reward_grant_manual(
    *,
    organization: Organization,
    source: ReferralSource,
    amount: Decimal,
    note: str,
    actor: User | None,
    credit_lifetime_days: int = 365,
) -> Reward:
    """A reward given by hand, e.g. for an insider's contribution."""
    if source.organization_id != organization.id:
        raise ValidationError({"source": "Unknown source."})
    amount = Decimal(amount)
    if amount <= 0:
        raise ValidationError({"amount": "The amount must be above zero."})
    with transaction.atomic():
        reward = Reward.objects.create(
            organization=organization,
            source=source,
            amount=_money(amount),
            currency=organization.currency,
            note=note[:300],
            created_by=actor,
        )
        account = credit_account_for(organization_id=organization.id, source=source, customer=None)
        credit_grant(
            account=account,
            amount=reward.amount,
            expires_at=timezone.now() + timedelta(days=credit_lifetime_days),
            idempotency_key=f"reward:{reward.pk}",
            reward=reward,
        )
        Reward.objects.filter(pk=reward.pk).update(
            status=Reward.Status.FULFILLED, approved_at=timezone.now(), fulfilled_at=timezone.now()
        )
    reward.refresh_from_db()
    return reward


# The credit ledger ------------------------------------------------------------------------


def credit_account_for(
    *, organization_id: int, source: ReferralSource | None, customer: Customer | None
) -> CreditAccount:
    holder = {"source": source} if source is not None else {"customer": customer}
    currency = Organization.objects.values_list("currency", flat=True).get(pk=organization_id)
    try:
        with transaction.atomic():
            account, _ = CreditAccount.objects.get_or_create(
                **holder, defaults={"organization_id": organization_id, "currency": currency}
            )
    except IntegrityError:
        account = CreditAccount.objects.get(**holder)
    return account


def credit_grant(
    *,
    account: CreditAccount,
    amount: Decimal,
    expires_at,
    idempotency_key: str,
    reward: Reward | None = None,
) -> CreditLot:
    """Open a lot of credit. The same key twice returns the first lot."""
    existing = CreditLot.objects.filter(
        account=account,
        entries__idempotency_key=idempotency_key,
        entries__kind=LedgerEntry.Kind.GRANT,
    ).first()
    if existing is not None:
        return existing
    amount = _money(amount)
    if amount <= 0:
        raise ValidationError({"amount": "A grant must be above zero."})
    with transaction.atomic():
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
            kind=LedgerEntry.Kind.GRANT,
            amount=amount,
            idempotency_key=idempotency_key,
            reference=f"reward {reward.pk}" if reward else "",
        )
    return lot


def _consume(
    *,
    account: CreditAccount,
    amount: Decimal,
    kind: str,
    idempotency_key: str,
    reference: str,
    lots=None,
) -> Decimal:
    """Take up to ``amount`` from the account's open lots, first to expire first.

    The caller holds the account's row lock. Returns what was taken.
    """
    now = timezone.now()
    if lots is None:
        lots = (
            CreditLot.objects.select_for_update()
            .filter(account=account, remaining__gt=0, expired_at__isnull=True, expires_at__gt=now)
            .order_by("expires_at", "id")
        )
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
    """Spend credit on an order, once per order id. Never takes the balance below zero."""
    amount = _money(amount)
    if amount <= 0:
        raise ValidationError({"amount": "Redeem an amount above zero."})
    order_id = (order_id or "").strip()
    if not order_id:
        raise ValidationError({"order_id": "A redemption needs the order id."})
    # The account row lock serializes redemptions of one account across transactions.
    account = CreditAccount.objects.select_for_update().get(pk=account.pk)
    key = f"redeem:{order_id}"
    done = LedgerEntry.objects.filter(account=account, idempotency_key=key).aggregate(
        t=Sum("amount")
    )["t"]
    if done is not None:
        return -done
    from .selectors import credit_balance

    balance = credit_balance(account=account)
    if amount > balance:
        raise ValidationError(
            {"amount": f"Only {balance} {account.currency} of credit is available."}
        )
    return _consume(
        account=account,
        amount=amount,
        kind=LedgerEntry.Kind.REDEEM,
        idempotency_key=key,
        reference=f"order {order_id}",
    )


def credit_clawback(*, reward: Reward) -> Decimal:
    """Take back what is left of a reward's credit. Spent credit is not taken below zero."""
    lot = CreditLot.objects.select_for_update().filter(reward=reward).first()
    if lot is None:
        return ZERO
    account = CreditAccount.objects.select_for_update().get(pk=lot.account_id)
    key = f"clawback:{reward.pk}"
    if LedgerEntry.objects.filter(lot=lot, idempotency_key=key).exists():
        return ZERO
    # Take the reward's own lot first, then any other credit, up to the reward's amount.
    taken = _consume(
        account=account,
        amount=min(lot.remaining, reward.amount),
        kind=LedgerEntry.Kind.CLAWBACK,
        idempotency_key=key,
        reference=f"reward {reward.pk}",
        lots=[lot] if lot.remaining > 0 else [],
    )
    if taken < reward.amount:
        taken += _consume(
            account=account,
            amount=reward.amount - taken,
            kind=LedgerEntry.Kind.CLAWBACK,
            idempotency_key=key,
            reference=f"reward {reward.pk}",
        )
    return taken


def expire_credit_lots(*, now=None, batch_size: int = 5000) -> int:
    """Expire every lot past its date, in set-based batches. Returns how many lots expired.

    Each batch is one INSERT ... SELECT writing the expiry entries and one UPDATE closing the
    lots, inside one transaction, so a lot is either expired with its entry or not at all.
    """
    from django.db import connection

    now = now or timezone.now()
    total = 0
    entry_table = LedgerEntry._meta.db_table
    lot_table = CreditLot._meta.db_table
    while True:
        with transaction.atomic():
            # Lock the batch (skipping lots a redemption holds right now: the next run
            # takes them), so the entry written is exactly what the lot had left.
            ids = list(
                CreditLot.objects.select_for_update(skip_locked=True)
                .filter(expired_at__isnull=True, remaining__gt=0, expires_at__lte=now)
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                break
            placeholders = ",".join(["%s"] * len(ids))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {entry_table} "  # noqa: S608 - table names are our own
                    "(organization_id, account_id, lot_id, kind, amount, idempotency_key, "
                    "reference, at) "
                    "SELECT organization_id, account_id, id, %s, -remaining, %s, '', %s "
                    f"FROM {lot_table} WHERE id IN ({placeholders}) AND expired_at IS NULL "
                    "AND remaining > 0",
                    [LedgerEntry.Kind.EXPIRE, "expire", now, *ids],
                )
                cursor.execute(
                    f"UPDATE {lot_table} SET remaining = 0, expired_at = %s "  # noqa: S608
                    f"WHERE id IN ({placeholders}) AND expired_at IS NULL",
                    [now, *ids],
                )
            total += len(ids)
    return total
