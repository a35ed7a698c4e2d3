"""
The rules of rewards: which conversion earns what, for whom, and how the money moves.

One module per concept; this package exports the public names, so callers write
``from rewards.services import credit_grant`` whatever module holds it:

- ``rules``: which conversion a rule pays for, and how much (``rule_create``, ``reward_amount``).
- ``lifecycle``: a reward from issued to approved, fulfilled or void.
- ``ledger``: credit lots and entries, redemptions, clawbacks, the payout balance.
- ``expiry``: lots past their date, and the reminders before it.
- ``payouts``: a source's payout balance paid through a provider (``rewards.providers``).

Every write here is idempotent. A reward is unique per (rule, conversion); a credit grant
is unique per key; a redemption is unique per order id; a payout is unique per
idempotency key. A task delivered twice, or a worker that dies and is retried, finds the
work done and does nothing more.

Lock order. Locks are always taken in the same order, so two writers never wait on each
other in a circle: the holder's account row first (``CreditAccount``: it serializes every
movement of one holder's money), then the reward or payout row, then credit lots.
"""

from .expiry import REMINDER_DAYS, expire_credit_lots, send_expiry_reminders
from .ledger import Clawback, credit_account_for, credit_adjust, credit_grant, credit_redeem
from .lifecycle import (
    MANUAL_KINDS,
    coupon_code_for,
    issue_rewards_for_conversion,
    release_held_rewards,
    reward_approve,
    reward_grant_manual,
    reward_take_back,
    reward_void,
    reward_void_for_refund,
    rewards_void_for_rejected_referral,
)
from .payouts import (
    PayoutRetry,
    payout_amount_clean,
    payout_backoff,
    payout_batch,
    payout_details_update,
    payout_mark_paid,
    payout_max_attempts,
    payout_process,
    payout_request,
    payout_retry,
    payouts_to_resume,
    sources_to_pay,
)
from .rules import TRIGGERS_FOR_KIND, reward_amount, rule_create, tier_for

__all__ = [
    "MANUAL_KINDS",
    "REMINDER_DAYS",
    "TRIGGERS_FOR_KIND",
    "Clawback",
    "PayoutRetry",
    "coupon_code_for",
    "credit_account_for",
    "credit_adjust",
    "credit_grant",
    "credit_redeem",
    "expire_credit_lots",
    "issue_rewards_for_conversion",
    "payout_amount_clean",
    "payout_backoff",
    "payout_batch",
    "payout_details_update",
    "payout_mark_paid",
    "payout_max_attempts",
    "payout_process",
    "payout_request",
    "payout_retry",
    "payouts_to_resume",
    "release_held_rewards",
    "reward_amount",
    "reward_approve",
    "reward_grant_manual",
    "reward_take_back",
    "reward_void",
    "reward_void_for_refund",
    "rewards_void_for_rejected_referral",
    "rule_create",
    "send_expiry_reminders",
    "sources_to_pay",
    "tier_for",
]
