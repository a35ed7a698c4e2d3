"""
Helpers for the rewards tests: a friend referred by Sam (the ``source`` fixture), the
conversions the business reports, and the rewards they earn.

Services are called directly: ``conversion_record`` queues the reward task only after its
transaction commits, which never happens inside a ``db`` test, so tests issue the rewards
themselves with ``issue_rewards_for_conversion`` (what the task does).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from referrals.services import conversion_record, referral_create
from rewards.services import (
    credit_account_for,
    credit_grant,
    issue_rewards_for_conversion,
    rule_create,
)


def make_referral(program, source, email: str, name: str = ""):
    return referral_create(
        program=program,
        source=source,
        channel="email",
        friend_email=email,
        friend_name=name or email.split("@")[0].title(),
    )


def convert(referral, external_id: str, kind: str = "purchase", amount: str = "100.00", **kw):
    """Record a conversion and issue what it earns, as the reward task does."""
    conversion, _ = conversion_record(
        referral=referral, kind=kind, external_id=external_id, amount=Decimal(amount), **kw
    )
    return issue_rewards_for_conversion(conversion_id=conversion.pk)


def refund(referral, external_id: str, of: str, amount: str = "100.00"):
    return convert(referral, external_id, kind="refund", amount=amount, refund_of_external_id=of)


@pytest.fixture
def referral(program, source):
    return make_referral(program, source, "fran@example.com", "Fran Friend")


@pytest.fixture
def make_rule(program):
    def _make(**fields):
        defaults = {
            "beneficiary": "referrer",
            "trigger": "first_purchase",
            "formula": "fixed",
            "amount": Decimal("25.00"),
            "reward_kind": "credit",
        }
        return rule_create(program=program, **{**defaults, **fields})

    return _make


@pytest.fixture
def account(source):
    return credit_account_for(organization_id=source.organization_id, source=source)


@pytest.fixture
def grant(account):
    """Grant credit to Sam's account: grant("30.00", days=10)."""
    counter = iter(range(1, 10_000))

    def _grant(amount: str, days: float = 30, key: str = ""):
        return credit_grant(
            account=account,
            amount=Decimal(amount),
            expires_at=timezone.now() + timedelta(days=days),
            idempotency_key=key or f"test-grant:{next(counter)}",
        )

    return _grant
