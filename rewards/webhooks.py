"""The webhook events of rewards, credit and payouts.

Payloads show a reward or payout as the API does (``GET /api/v1/rewards/<id>``); the
services call these at the moment the change is written, inside its transaction.
"""

from decimal import Decimal

from accounts.models import WebhookEventType
from accounts.webhooks import emit

from .models import CreditAccount, CreditLot, Payout, Reward


def _money(amount: Decimal) -> str:
    """An amount as the API writes it: two places ("25.00"), whatever the row in memory."""
    return f"{Decimal(amount):.2f}"


def reward_payload(reward: Reward) -> dict:
    return {
        "id": reward.pk,
        "object": "reward",
        "status": reward.status,
        "amount": _money(reward.amount),
        # What partial refunds took back of it, and what it is worth now (amount less that).
        "taken_back": _money(reward.taken_back),
        "value": _money(reward.value),
        "currency": reward.currency,
        "reward_kind": reward.reward_kind,
        "source": reward.source_id,
        "customer": reward.customer_id,
        "conversion": reward.conversion_id,
        "rule": reward.rule_id,
        "payout": reward.payout_id,
        "coupon_code": reward.coupon_code,
        "hold_until": reward.hold_until,
        "void_reason": reward.void_reason,
        "created_at": reward.created_at,
        "approved_at": reward.approved_at,
        "fulfilled_at": reward.fulfilled_at,
        "voided_at": reward.voided_at,
    }


def payout_payload(payout: Payout) -> dict:
    return {
        "id": payout.pk,
        "object": "payout",
        "source": payout.source_id,
        "amount": str(payout.amount),
        "currency": payout.currency,
        "method": payout.method,
        "status": payout.status,
        "provider_reference": payout.provider_reference,
        "attempts": payout.attempts,
        "last_error": payout.last_error,
        "created_at": payout.created_at,
        "paid_at": payout.paid_at,
        "failed_at": payout.failed_at,
    }


def reward_event(reward: Reward, event_type: str) -> None:
    emit(reward.organization_id, event_type, reward_payload(reward))


def payout_event(payout: Payout, event_type: str) -> None:
    emit(payout.organization_id, event_type, payout_payload(payout))


def credit_expiring(account: CreditAccount, lots: list[CreditLot], days_before: int) -> None:
    emit(
        account.organization_id,
        WebhookEventType.CREDIT_EXPIRING,
        {
            "object": "credit_expiring",
            "source": account.source_id,
            "customer": account.customer_id,
            "currency": account.currency,
            "days_before": days_before,
            "amount": str(sum(lot.remaining for lot in lots)),
            "lots": [
                {
                    "id": lot.pk,
                    "remaining": str(lot.remaining),
                    "expires_at": lot.expires_at,
                }
                for lot in lots
            ],
        },
    )
