"""Payouts: a source's payout balance paid through a provider, once per idempotency key,
retried with backoff, resumed after a worker dies.
"""

import logging
import uuid
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Round
from django.utils import timezone

from accounts.models import Organization, ReferralSource, User
from core.money import cents, format_money
from core.tasks import enqueue_on_commit

from .. import webhooks
from ..models import (
    MAX_PAYOUT_KEY_LENGTH,
    MAX_PROVIDER_REFERENCE_LENGTH,
    PAID_OUT_KINDS,
    Payout,
    PayoutBalanceEntry,
    PayoutDetails,
    Reward,
)
from ..providers import get_provider
from ..selectors import default_payout_method, payout_details_of
from .ledger import _balance_entry, _lock_account, _payout_balance, credit_account_for
from .lifecycle import _fulfil

log = logging.getLogger(__name__)


class PayoutRetry(Exception):
    """The provider failed; try again after ``countdown`` seconds."""

    def __init__(self, countdown: int, error: str):
        super().__init__(error)
        self.countdown = countdown


def payout_max_attempts() -> int:
    return int(getattr(settings, "REWARDS_PAYOUT_MAX_ATTEMPTS", 5))


def payout_backoff(attempts: int) -> int:
    """Seconds to wait before the next attempt: doubling from the base, at most a day."""
    base = int(getattr(settings, "REWARDS_PAYOUT_RETRY_BASE_SECONDS", 60))
    return min(base * 2 ** max(attempts - 1, 0), 24 * 3600)


def payout_details_update(
    *,
    source: ReferralSource,
    method: str,
    account_holder: str = "",
    iban: str = "",
    bic: str = "",
) -> PayoutDetails:
    """The source sets how it wants to be paid. A bank transfer needs an account holder
    and a valid IBAN; the BIC is optional. Bad input raises and changes nothing."""
    details = payout_details_of(source=source) or PayoutDetails(
        organization_id=source.organization_id, source=source
    )
    details.method = method
    details.account_holder = " ".join((account_holder or "").split())
    details.iban = "".join((iban or "").split()).upper()
    details.bic = "".join((bic or "").split()).upper()
    details.updated_at = timezone.now()
    details.full_clean(exclude=["organization", "source"])
    if method == Payout.Method.BANK_TRANSFER:
        errors = {}
        if not details.account_holder:
            errors["account_holder"] = "Give the name the bank account is held in."
        if not details.iban:
            errors["iban"] = "Give the IBAN of the account to pay."
        if errors:
            raise ValidationError(errors)
    if method == Payout.Method.GIFT_CARD and not source.email:
        raise ValidationError(
            {"method": "A gift card is sent by email, and we have no email address for you."}
        )
    fields = ["method", "account_holder", "iban", "bic", "updated_at"]
    try:
        with transaction.atomic():
            details.save()
    except IntegrityError:  # the same source saved twice at once: the later one wins
        current = PayoutDetails.objects.get(source=source)
        for field in fields:
            setattr(current, field, getattr(details, field))
        current.save(update_fields=fields)
        details = current
    return details


def payout_amount_clean(amount, *, payable: Decimal, currency: str) -> Decimal:
    """A chosen payout amount: more than zero, whole cents, at most what is payable."""
    try:
        value = Decimal(str(amount).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise ValidationError({"amount": "Give an amount, e.g. 25.00."}) from None
    if not value.is_finite():
        raise ValidationError({"amount": "Give an amount, e.g. 25.00."})
    if value <= 0:
        raise ValidationError({"amount": "A payout is more than zero."})
    if payable <= 0:
        raise ValidationError(
            {"amount": f"Nothing to pay: the payable balance is {format_money(payable, currency)}."}
        )
    if value > payable:
        raise ValidationError(
            {"amount": f"At most {format_money(payable, currency)} can be paid out now."}
        )
    # Bounded by the balance first: quantize raises on a value of more digits than a
    # Decimal holds ("1e27", typed in the portal), which was a 500.
    if value != value.quantize(Decimal("0.01")):
        raise ValidationError({"amount": "Give the amount in whole cents."})
    return cents(value)


def payout_request(
    *,
    source: ReferralSource,
    method: str = "",
    idempotency_key: str = "",
    actor: User | None = None,
    amount: Decimal | str | None = None,
    require_bank_account: bool = False,
) -> Payout:
    """Pay a source its payout balance (approved cash and gift-card rewards, less payouts
    and debts): all of it, or the chosen ``amount`` of it (more than zero, whole cents, at
    most the balance). The same idempotency key again returns the first payout.

    The method is the one asked for, else the one the source chose in its portal, else
    ``default_payout_method``. A bank transfer carries the source's bank details as they
    are now; ``require_bank_account`` (the portal) refuses one without them.

    The amount is reserved on the balance at once (a negative ``payout`` entry), and the
    approved rewards it carries are attached to it (all of them for the whole balance;
    for part of it, oldest first as long as they fit); ``rewards.process_payout`` pays it.
    """
    if Organization.objects.filter(pk=source.organization_id, test_of__isnull=False).exists():
        raise ValidationError("This is a test: test rewards are never paid out.")
    details = payout_details_of(source=source)
    method = method or default_payout_method(source=source)
    if method not in Payout.Method.values:
        raise ValidationError({"method": "Unknown payout method."})
    if method == Payout.Method.GIFT_CARD and not source.email:
        raise ValidationError(
            {"method": "A gift card is sent by email, and this source has no email address."}
        )
    bank = details if details is not None and details.has_bank_account else None
    # The whole key: cut short, two keys sharing their beginning would be one payout.
    key = (idempotency_key or "").strip() or f"payout:{uuid.uuid4().hex}"
    if len(key) > MAX_PAYOUT_KEY_LENGTH:
        raise ValidationError(
            {"idempotency_key": f"Use a key of up to {MAX_PAYOUT_KEY_LENGTH} characters."}
        )
    existing = Payout.objects.filter(
        organization_id=source.organization_id, idempotency_key=key
    ).first()
    if existing is not None:
        return _the_same_payout(existing, source=source, amount=amount)
    account = credit_account_for(organization_id=source.organization_id, source=source)
    with transaction.atomic():
        account = _lock_account(account.pk)
        existing = Payout.objects.filter(
            organization_id=source.organization_id, idempotency_key=key
        ).first()
        if existing is not None:
            return _the_same_payout(existing, source=source, amount=amount)
        balance = _payout_balance(account)
        if balance <= 0:
            message = (
                f"Nothing to pay: {source} has a payout balance of "
                f"{format_money(balance, account.currency)}."
            )
            # An amount asked for is what is refused (on its field, as for too much).
            asked = amount is not None and amount != ""
            raise ValidationError({"amount": message} if asked else message)
        if method == Payout.Method.BANK_TRANSFER and require_bank_account and bank is None:
            raise ValidationError(
                {"method": "Add the bank account to pay (account holder and IBAN) first."}
            )
        if amount is None or amount == "":
            chosen = balance
        else:
            chosen = payout_amount_clean(amount, payable=balance, currency=account.currency)
        payout = Payout.objects.create(
            organization_id=source.organization_id,
            source=source,
            account=account,
            amount=chosen,
            currency=account.currency,
            method=method,
            idempotency_key=key,
            requested_by=actor,
            account_holder=bank.account_holder if bank and method == "bank_transfer" else "",
            iban=bank.iban if bank and method == "bank_transfer" else "",
            bic=bank.bic if bank and method == "bank_transfer" else "",
        )
        _balance_entry(
            account,
            kind=PayoutBalanceEntry.Kind.PAYOUT,
            amount=-chosen,
            key=f"payout:{payout.pk}",
            payout=payout,
        )
        unpaid = Reward.objects.filter(
            source=source,
            status=Reward.Status.APPROVED,
            reward_kind__in=PAID_OUT_KINDS,
            payout__isnull=True,
        )
        if chosen == balance:
            unpaid.update(payout=payout)
        else:
            carried, room = [], chosen
            for pk, value in unpaid.order_by("approved_at", "id").values_list(
                "pk", F("amount") - F("taken_back")
            ):
                if value > room:
                    break
                carried.append(pk)
                room -= value
            Reward.objects.filter(pk__in=carried).update(payout=payout)
        enqueue_on_commit("rewards.process_payout", payout.pk)
    return payout


def _the_same_payout(existing: Payout, *, source: ReferralSource, amount) -> Payout:
    """The payout a key already made, when it is the one asked for again; a ValidationError
    when the key made another: a payout to another source, or of another amount than the one
    asked for. The key stays the payout's own for ever (the provider pays once per key), so
    a caller who uses it again for another payout (the API forgets its answers after a day)
    must hear that nothing was paid, not be answered with someone else's payout."""
    if existing.source_id != source.pk:
        raise ValidationError(
            {"idempotency_key": "This key was used for a payout to another source."}
        )
    if amount is not None and amount != "":
        try:
            asked = cents(Decimal(str(amount).strip().replace(",", ".")))
        except (InvalidOperation, ValueError):
            asked = None
        if asked != existing.amount:
            raise ValidationError(
                {
                    "idempotency_key": "This key was used for a payout of "
                    f"{format_money(existing.amount, existing.currency)}."
                }
            )
    return existing


def sources_to_pay(*, organization: Organization) -> list[int]:
    """Ids of the organization's sources with a positive payout balance (none in a test
    organization: test rewards are never paid out)."""
    if organization.is_test:
        return []
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
    *,
    organization: Organization,
    batch_key: str,
    method: str = "",
    actor: User | None = None,
    source_ids: list[int] | None = None,
) -> list[Payout]:
    """Request a payout for every source with money owed (only those of ``source_ids``, the
    ones staff saw in the preview, when given). A batch key run twice pays once."""
    payouts = []
    owed = sources_to_pay(organization=organization)
    if source_ids is not None:
        owed = [pk for pk in owed if pk in set(source_ids)]
    for source in ReferralSource.objects.filter(pk__in=owed):
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
        payout.provider_reference = result.reference[:MAX_PROVIDER_REFERENCE_LENGTH]
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
            webhooks.payout_event(payout, "payout.failed")
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
    webhooks.payout_event(payout, "payout.paid")
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
        enqueue_on_commit("rewards.send_payout_sent_email", payout.pk)


@transaction.atomic
def payout_mark_paid(*, payout: Payout, actor: User | None, reference: str = "") -> Payout:
    """Finance confirms a manual bank transfer went out."""
    payout = _lock_payout(payout.pk)
    if payout.status == Payout.Status.PAID:
        return payout
    if payout.method != Payout.Method.BANK_TRANSFER or payout.status != Payout.Status.PROCESSING:
        raise ValidationError("Only a bank transfer being processed can be marked paid.")
    if reference.strip():
        payout.provider_reference = reference.strip()[:MAX_PROVIDER_REFERENCE_LENGTH]
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
    enqueue_on_commit("rewards.process_payout", payout.pk)
    return payout


def payouts_to_resume(*, now=None) -> list[int]:
    """Payouts whose task may have been lost: requested for a while, or processing long
    after their last attempt (a manual bank transfer waiting for finance excepted)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=int(getattr(settings, "REWARDS_PAYOUT_STALE_SECONDS", 3600)))
    return list(
        Payout.objects.filter(
            Q(status=Payout.Status.REQUESTED, updated_at__lte=now - timedelta(minutes=5))
            | Q(status=Payout.Status.PROCESSING, provider_reference="", updated_at__lte=stale)
        ).values_list("pk", flat=True)
    )
