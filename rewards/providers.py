"""
Payout providers: how money reaches a source, behind one small interface.

A provider's ``pay(payout)`` must be idempotent by ``payout.idempotency_key``: called
twice for one payout (a worker killed after paying and retried), it pays once and returns
the same result. ``rewards.services.payouts.payout_process`` records what it returns.

Providers out of the box:

- ``bank_transfer``: manual. The payout waits, processing, in a CSV the finance team
  downloads from the dashboard; staff mark it paid once the transfer is made.
- ``gift_card``: emails the source a gift-card code derived from the idempotency key with
  an HMAC, so a retry can only ever send the same code.
- ``credit``: pays the balance as account credit (a lot granted with the key).

Register another with ``register(MyProvider())``; the last one registered for a method wins.
"""

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.csv import escape_cell
from core.signing import digest

from .models import GiftCard, Payout
from .services.ledger import credit_grant


@dataclass(frozen=True)
class ProviderResult:
    reference: str  # the provider's reference for the payment
    paid: bool  # False: handed over, waiting for confirmation (a manual bank transfer)


class PayoutProvider:
    method: str = ""

    def pay(self, payout: Payout) -> ProviderResult:
        raise NotImplementedError


_providers: dict[str, PayoutProvider] = {}


def register(provider: PayoutProvider) -> PayoutProvider:
    _providers[provider.method] = provider
    return provider


def get_provider(method: str) -> PayoutProvider:
    try:
        return _providers[method]
    except KeyError:
        raise LookupError(f"No payout provider for {method!r}.") from None


class ManualBankTransferProvider(PayoutProvider):
    """Finance pays by hand from a CSV; nothing leaves the system until they do. Each row
    carries the bank details the source kept in its portal when it asked for the payout."""

    method = Payout.Method.BANK_TRANSFER
    CSV_COLUMNS = [
        "payout_id",
        "payment_reference",
        "payee",
        "company",
        "email",
        "amount",
        "currency",
        "requested_at",
        "account_holder",
        "iban",
        "bic",
    ]

    def pay(self, payout: Payout) -> ProviderResult:
        return ProviderResult(reference=f"manual:{payout.idempotency_key}", paid=False)

    def csv(self, payouts) -> str:
        """One row per payout, for the finance team's bank. Dates in the current time zone."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.CSV_COLUMNS)
        for payout in payouts:
            source = payout.source
            writer.writerow(
                [
                    payout.pk,
                    escape_cell(payout.idempotency_key),
                    escape_cell(source.name),
                    escape_cell(source.company),
                    escape_cell(source.email),
                    f"{payout.amount:.2f}",
                    payout.currency,
                    timezone.localtime(payout.created_at).strftime("%Y-%m-%d %H:%M"),
                    escape_cell(payout.account_holder),
                    payout.iban,
                    payout.bic,
                ]
            )
        return out.getvalue()


def gift_card_code(idempotency_key: str) -> str:
    """The gift-card code of a payout: an HMAC of its idempotency key, 16 characters."""
    key_digest = digest("gift-card", idempotency_key)
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    number = int(key_digest, 16)
    chars = []
    for _ in range(16):
        number, index = divmod(number, len(alphabet))
        chars.append(alphabet[index])
    code = "".join(chars)
    return "-".join(code[i : i + 4] for i in range(0, 16, 4))


class EmailGiftCardProvider(PayoutProvider):
    """Emails the source a gift-card code; its ``GiftCard`` row is the record of payment.

    The row is created and locked before the email and marked sent in the same
    transaction, so a concurrent second call waits and then finds it sent. A retry after
    a crash finds it sent and sends nothing; only a crash between the mail server
    accepting the email and the commit could send it twice, and then with the same code.
    """

    method = Payout.Method.GIFT_CARD

    def pay(self, payout: Payout) -> ProviderResult:
        code = gift_card_code(payout.idempotency_key)
        with transaction.atomic():
            card, _ = GiftCard.objects.select_for_update().get_or_create(
                payout=payout,
                defaults={
                    "organization_id": payout.organization_id,
                    "code_last4": code[-4:],
                    "amount": payout.amount,
                    "currency": payout.currency,
                    "email": payout.source.email,
                },
            )
            if card.sent_at is None:
                self.send(card, code, payout)
                card.sent_at = timezone.now()
                card.save(update_fields=["sent_at"])
        return ProviderResult(reference=f"gift-card:...{card.code_last4}", paid=True)

    def send(self, card: GiftCard, code: str, payout: Payout) -> None:
        from .notifications import send_gift_card

        send_gift_card(card=card, code=code, payout=payout)


class CreditProvider(PayoutProvider):
    """Pays the balance as account credit, granted once per idempotency key."""

    method = Payout.Method.CREDIT

    def pay(self, payout: Payout) -> ProviderResult:
        days = int(getattr(settings, "REWARDS_PAYOUT_CREDIT_LIFETIME_DAYS", 365))
        lot = credit_grant(
            account=payout.account,
            amount=payout.amount,
            expires_at=timezone.now() + timedelta(days=days),
            idempotency_key=f"payout:{payout.idempotency_key}",
        )
        return ProviderResult(reference=f"credit-lot:{lot.pk}", paid=True)


register(ManualBankTransferProvider())
register(EmailGiftCardProvider())
register(CreditProvider())
