"""A reward's life: issued for a conversion (pending), approved after its hold, fulfilled
(credit granted or payout balance owed), or voided and clawed back.
"""

import logging
import zoneinfo
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Customer, InsiderContribution, Organization, ReferralSource, User
from core.money import cents as _money
from core.signing import digest
from core.tasks import enqueue_on_commit
from core.validators import MAX_CREDIT_LIFETIME_DAYS
from referrals.models import Conversion, Purchase, Referral

from .. import webhooks
from ..models import (
    CreditAccount,
    PayoutBalanceEntry,
    Reward,
    RewardEvent,
    RewardRule,
)
from .ledger import _balance_entry, _clawback_credit, credit_account_for, credit_grant
from .rules import _rule_applies, reward_amount

log = logging.getLogger(__name__)


def issue_rewards_for_conversion(*, conversion_id: int) -> list[Reward]:
    """Issue what every matching rule pays for a conversion. Safe to call any number of times.

    A refund takes back instead what its order earned (see ``reward_void_for_refund``). A
    purchase already (partly) refunded when its rewards are issued (the refund's task ran
    first, or the referral waited in review) has them taken back at once, in proportion,
    also when they were issued by an earlier delivery of the task.
    """
    conversion = (
        Conversion.objects.select_related(
            "referral",
            "referral__source",
            "referral__program",
            "organization",
            "customer",
            "purchase",
            "purchase__refund_of",
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
    if not referral.is_credited:
        return []
    issued = []
    failed: list[Exception] = []
    rules = RewardRule.objects.filter(program_id=referral.program_id, active=True)
    for rule in rules:
        if not _rule_applies(rule, conversion):
            continue
        # One rule's error never keeps the others from paying: each is issued in its own
        # transaction; the error is logged and raised once all are done, so the task is
        # retried and (every issue being idempotent) pays only what is still missing.
        try:
            reward = _issue_one(rule=rule, conversion=conversion)
        except Exception as error:  # noqa: BLE001 - logged, then raised below
            log.exception("Rule %s failed for conversion %s", rule.pk, conversion.pk)
            failed.append(error)
            continue
        if reward is not None:
            issued.append(reward)
    if failed:
        raise failed[0]
    purchase = conversion.purchase
    if purchase is not None:
        # Whether issued now or by an earlier delivery whose worker died before this step:
        # taking back is idempotent, so a redelivered task finishes what the first began.
        last_refund = purchase.refunds.order_by("-occurred_at", "-id").first()
        if last_refund is not None:
            _take_back_for_refunds(purchase, reason=f"Refund {last_refund.external_id}")
            issued = [Reward.objects.get(pk=reward.pk) for reward in issued]
    return issued


def _issue_one(*, rule: RewardRule, conversion: Conversion) -> Reward | None:
    referral = conversion.referral
    beneficiary: dict[str, ReferralSource | Customer]
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
        RewardEvent.record(
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
    code = digest("coupon", str(reward.pk))
    return f"ADV-{code[:4]}-{code[4:8]}".upper()


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
    rejected = (
        reward.conversion_id is not None
        and Conversion.objects.filter(
            pk=reward.conversion_id, referral__status=Referral.Status.REJECTED
        ).exists()
    )
    if reward.value <= 0 or rejected:
        # Partial refunds took back all of it while it was held, or staff rejected the
        # referral that earned it: nothing is given.
        reward.status = Reward.Status.VOID
        reward.void_reason = "Referral rejected" if rejected else "Refunded while held"
        reward.voided_at = timezone.now()
        reward.save(update_fields=["status", "void_reason", "voided_at"])
        RewardEvent.record(reward, from_status=Reward.Status.PENDING, actor=actor, label=label)
        return reward, True
    now = timezone.now()
    reward.status = Reward.Status.APPROVED
    reward.approved_at = now
    reward.save(update_fields=["status", "approved_at"])
    RewardEvent.record(reward, from_status=Reward.Status.PENDING, actor=actor, label=label)
    webhooks.reward_event(reward, "reward.approved")
    if reward.reward_kind == RewardRule.Kind.CREDIT:
        lifetime = credit_lifetime_days or (
            reward.rule.credit_lifetime_days if reward.rule else 365
        )
        lot = credit_grant(
            account=account,
            amount=reward.value,
            expires_at=now + timedelta(days=lifetime),
            idempotency_key=f"reward:{reward.pk}",
            reward=reward,
        )
        # The note is kept as text: the expiry in the organization's own time, as every
        # page shows times, and its zone named.
        zone = reward.organization.timezone
        until = timezone.localtime(lot.expires_at, zoneinfo.ZoneInfo(zone))
        _fulfil(reward, note=f"Credit granted until {until:%Y-%m-%d %H:%M} ({zone})")
    elif reward.reward_kind == RewardRule.Kind.COUPON:
        reward.coupon_code = coupon_code_for(reward)
        reward.save(update_fields=["coupon_code"])
        _fulfil(reward, note="Coupon code issued")
    else:
        _balance_entry(
            account,
            kind=PayoutBalanceEntry.Kind.EARNED,
            amount=reward.value,
            key=f"earned:reward:{reward.pk}",
            reward=reward,
        )
    enqueue_on_commit("rewards.send_reward_earned_email", reward.pk)
    return reward, True


def _fulfil(reward: Reward, *, note: str, actor: User | None = None, label: str = "") -> None:
    previous = reward.status
    reward.status = Reward.Status.FULFILLED
    reward.fulfilled_at = timezone.now()
    reward.save(update_fields=["status", "fulfilled_at"])
    RewardEvent.record(reward, from_status=previous, actor=actor, label=label, note=note)
    webhooks.reward_event(reward, "reward.fulfilled")


def release_held_rewards(*, now=None) -> int:
    """Approve every pending reward whose hold (refund window) has ended. Returns how many.

    A reward whose referral is waiting in review (held by a fraud guard after the reward
    was issued) waits with it: it is released at the first run after staff approve it."""
    now = now or timezone.now()
    ids = list(
        Reward.objects.filter(status=Reward.Status.PENDING, hold_until__lte=now)
        .exclude(conversion__referral__flagged=True)
        .order_by("hold_until")
        .values_list("pk", flat=True)
    )
    released = 0
    for pk in ids:
        _, changed = _approve(pk, None, "hold ended", None)
        released += changed
    return released


@transaction.atomic
def reward_void(*, reward: Reward, reason: str, actor: User | None, label: str = "") -> Reward:
    """Void a reward, with a reason. What was already given is taken back, never edited away.

    - pending: nothing was given; the reward is just void.
    - credit, fulfilled: a clawback takes back what is left of its lot and, for what was
      spent, other credit of the holder; what credit cannot cover is written as a debt.
    - cash or gift card, approved or fulfilled: a negative entry on the payout balance
      (a debt when it was already paid out, deducted from the next payout).
    What partial refunds took back before is not taken twice.
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
            amount=-reward.value,
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
    RewardEvent.record(reward, from_status=previous, actor=actor, label=label, note=note)
    webhooks.reward_event(reward, "reward.voided")
    return reward


def rewards_void_for_rejected_referral(
    *, referral: Referral, reason: str, actor: User | None
) -> list[Reward]:
    """Void what a rejected referral earned and has not given yet (rewards still held), so
    its hold never releases them. What was given already stays: voiding it is a decision
    staff take reward by reward."""
    if referral.status != Referral.Status.REJECTED:
        return []
    held = Reward.objects.filter(
        conversion__referral_id=referral.pk, status=Reward.Status.PENDING
    ).values_list("pk", flat=True)
    note = f"Referral rejected: {reason}".strip()[:200]
    return [reward_void(reward=Reward(pk=pk), reason=note, actor=actor) for pk in held]


def reward_void_for_refund(*, conversion: Conversion) -> list[Reward]:
    """A refund takes back what its order earned, in proportion to what has been refunded of
    the order so far: all of it once the order is refunded in full (the rewards are void),
    else that share of each reward (a percent reward on a refunded half loses half).

    Inside the hold nothing was given, so the reward is only made smaller, or void; after,
    the credit is clawed back and cash deducted from the payout balance (``reward_void``,
    ``reward_take_back``). Running it again for the same refund changes nothing.
    """
    refund = (
        Purchase.objects.select_related("refund_of").filter(pk=conversion.purchase_id).first()
        if conversion.purchase_id is not None
        else None
    )
    reason = f"Refund {conversion.external_id}"
    if refund is None or refund.refund_of is None:
        # A refund recorded before refunds named their order: its friend's purchases.
        purchases = Conversion.objects.filter(
            referral_id=conversion.referral_id, kind=Conversion.Kind.PURCHASE
        )
        return [
            reward_void(reward=Reward(pk=pk), reason=reason, actor=None, label="refund")
            for pk in Reward.objects.filter(conversion__in=purchases)
            .kept()
            .values_list("pk", flat=True)
        ]
    return _take_back_for_refunds(refund.refund_of, reason=reason)


def _take_back_for_refunds(order: Purchase, *, reason: str) -> list[Reward]:
    """Bring the rewards an order earned in line with what has been refunded of it."""
    refunded = order.refunded()
    if refunded <= 0:
        return []
    ids = list(
        Reward.objects.filter(conversion__purchase=order).kept().values_list("pk", flat=True)
    )
    if refunded >= order.amount:
        return [
            reward_void(reward=Reward(pk=pk), reason=reason, actor=None, label="refund")
            for pk in ids
        ]
    share = refunded / order.amount
    return [reward_take_back(reward=Reward(pk=pk), share=share, reason=reason) for pk in ids]


@transaction.atomic
def reward_take_back(
    *, reward: Reward, share: Decimal, reason: str, actor: User | None = None, label: str = ""
) -> Reward:
    """Take back ``share`` (0 to 1) of a reward in all, for a partial refund of its purchase.

    What was taken back before counts: only the difference is taken now, so the same share
    again takes nothing. Pending: the reward is made smaller (approval gives what is left).
    Credit, fulfilled: that much is clawed back (from its lot, then other credit, then a
    debt). Cash or gift card, approved or fulfilled: a negative payout-balance entry.
    Coupon: the code stays issued; the event records it.
    """
    account, reward = _lock_reward(reward.pk)
    if reward.status == Reward.Status.VOID:
        return reward
    target = _money(reward.amount * min(max(Decimal(share), Decimal(0)), Decimal(1)))
    delta = target - reward.taken_back
    if delta <= 0:
        return reward
    key = f"take:{target}"
    note = f"{reason}: {delta} of {reward.amount} taken back"
    if reward.status == Reward.Status.FULFILLED and reward.reward_kind == RewardRule.Kind.CREDIT:
        clawback = _clawback_credit(account, reward, amount=delta, key_suffix=key)
        note += f" (credit clawed back: {clawback.recovered}"
        note += f", debt: {clawback.debt})" if clawback.debt else ")"
    elif reward.is_paid_out and reward.status != Reward.Status.PENDING:
        _balance_entry(
            account,
            kind=PayoutBalanceEntry.Kind.VOID,
            amount=-delta,
            key=f"void:reward:{reward.pk}:{key}",
            reward=reward,
            note=reason,
        )
    elif reward.reward_kind == RewardRule.Kind.COUPON and reward.coupon_code:
        note += f" (coupon {reward.coupon_code} was issued)"
    reward.taken_back = target
    reward.save(update_fields=["taken_back"])
    RewardEvent.record(
        reward, from_status=reward.status, actor=actor, label=label or "refund", note=note
    )
    if reward.status != Reward.Status.PENDING:
        # Announced already (approved, fulfilled): its value changed. A held reward is
        # announced at its approval, with what is left of it.
        webhooks.reward_event(reward, "reward.taken_back")
    return reward


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
    elif credit_lifetime_days > MAX_CREDIT_LIFETIME_DAYS:
        errors["credit_lifetime_days"] = f"At most {MAX_CREDIT_LIFETIME_DAYS:,} days."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if contribution is not None:
            # Grant pressed twice at once: the second waits here and finds the first's
            # reward (the one-to-one refused its insert with a server error).
            InsiderContribution.objects.select_for_update().filter(pk=contribution.pk).first()
            if Reward.objects.filter(contribution=contribution).exists():
                raise ValidationError(
                    {"contribution": "This contribution has been rewarded already."}
                )
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
        RewardEvent.record(
            reward, from_status="", actor=actor, label="", note=f"Manual: {reward.note}"
        )
        reward = reward_approve(
            reward=reward, actor=actor, credit_lifetime_days=credit_lifetime_days
        )
    return reward
