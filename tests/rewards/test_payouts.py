"""
Payouts: a source is paid its payout balance (approved cash and gift-card rewards, less
debts) through a provider, exactly once per idempotency key. Failures are retried with
exponential backoff, then the payout is failed until staff retry it.
"""

import csv
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from rewards import providers as payouts
from rewards.models import GiftCard, LedgerEntry, Payout, PayoutBalanceEntry
from rewards.providers import get_provider, gift_card_code
from rewards.selectors import credit_balance, payout_balance
from rewards.services import (
    PayoutRetry,
    payout_backoff,
    payout_batch,
    payout_mark_paid,
    payout_process,
    payout_request,
    payout_retry,
    reward_grant_manual,
)
from tests.factories import ReferralSourceFactory


@pytest.fixture
def owe(acme, alice):
    """Give a source an approved cash (or gift-card) reward: owe(source, "40.00")."""

    def _owe(source, amount: str, kind: str = "cash"):
        return reward_grant_manual(
            organization=acme,
            source=source,
            amount=Decimal(amount),
            note="Test",
            actor=alice,
            reward_kind=kind,
        )

    return _owe


@pytest.fixture
def failing_provider(monkeypatch):
    class BankDown(payouts.PayoutProvider):
        method = Payout.Method.BANK_TRANSFER
        calls = 0

        def pay(self, payout):
            BankDown.calls += 1
            raise ConnectionError("bank API unreachable")

    monkeypatch.setitem(payouts._providers, Payout.Method.BANK_TRANSFER, BankDown())
    return BankDown


def test_a_payout_takes_the_whole_balance_and_carries_its_rewards(source, owe):
    first, second = owe(source, "40.00"), owe(source, "15.50")
    payout = payout_request(source=source, method="bank_transfer")
    assert (payout.amount, payout.currency, payout.status) == (Decimal("55.50"), "EUR", "requested")
    assert set(payout.rewards.values_list("pk", flat=True)) == {first.pk, second.pk}
    assert payout_balance(account=source.credit_account) == Decimal("0")
    entry = PayoutBalanceEntry.objects.get(kind="payout")
    assert (entry.amount, entry.payout_id) == (Decimal("-55.50"), payout.pk)


def test_the_same_idempotency_key_requests_once(source, owe):
    owe(source, "40.00")
    first = payout_request(source=source, method="bank_transfer", idempotency_key="k-1")
    owe(source, "10.00")
    again = payout_request(source=source, method="bank_transfer", idempotency_key="k-1")
    assert first.pk == again.pk and Payout.objects.count() == 1
    assert payout_balance(account=source.credit_account) == Decimal("10.00")


def test_there_is_nothing_to_pay_without_a_balance(source):
    with pytest.raises(ValidationError, match="Nothing to pay"):
        payout_request(source=source, method="bank_transfer")
    assert not Payout.objects.exists()


def test_a_gift_card_needs_an_email_address(source, owe):
    owe(source, "40.00")
    source.email = ""
    source.save()
    with pytest.raises(ValidationError) as caught:
        payout_request(source=source, method="gift_card")
    assert "method" in caught.value.message_dict


def test_rewards_promised_as_gift_cards_are_paid_as_a_gift_card(source, owe):
    owe(source, "40.00", kind="gift_card")
    assert payout_request(source=source).method == "gift_card"


def test_cash_rewards_are_paid_by_bank_transfer(source, owe):
    owe(source, "40.00", kind="gift_card")
    owe(source, "10.00", kind="cash")
    assert payout_request(source=source).method == "bank_transfer"


def test_a_batch_pays_every_source_owed_once(acme, source, owe):
    other = ReferralSourceFactory(organization=acme, name="Olga", kind="agent")
    ReferralSourceFactory(organization=acme, name="Ivan", kind="agent")  # owed nothing
    owe(source, "40.00")
    owe(other, "25.00")
    created = payout_batch(organization=acme, batch_key="2026-11", method="bank_transfer")
    assert sorted(p.amount for p in created) == [Decimal("25.00"), Decimal("40.00")]
    again = payout_batch(organization=acme, batch_key="2026-11", method="bank_transfer")
    assert again == [] and Payout.objects.count() == 2


def test_a_bank_transfer_with_the_longest_key_keeps_its_whole_reference(acme, owe):
    """Keys of up to 255 characters: the manual reference ("manual:" and the key) was cut
    to 200, so two long keys sharing their first 193 characters showed one reference."""
    from rewards.models import MAX_PAYOUT_KEY_LENGTH

    references = []
    for n, name in enumerate(["Una", "Vic"]):
        source = ReferralSourceFactory(organization=acme, name=name, kind="customer")
        owe(source, "10.00")
        key = "k" * (MAX_PAYOUT_KEY_LENGTH - 1) + str(n)
        payout = payout_request(source=source, method="bank_transfer", idempotency_key=key)
        payout_process(payout_id=payout.pk)
        payout.refresh_from_db()
        assert payout.provider_reference == f"manual:{key}"
        references.append(payout.provider_reference)
    assert references[0] != references[1]


def test_a_batch_leaves_other_organizations_alone(acme, globex, source, owe):
    owe(source, "40.00")
    assert payout_batch(organization=globex, batch_key="b") == []


def test_a_bank_transfer_waits_for_finance_then_is_marked_paid(source, owe, bob):
    reward = owe(source, "40.00")
    payout = payout_request(source=source, method="bank_transfer")
    payout = payout_process(payout_id=payout.pk)
    assert (payout.status, payout.attempts) == ("processing", 1)
    assert payout.provider_reference == f"manual:{payout.idempotency_key}"
    assert payout_process(payout_id=payout.pk).attempts == 1  # handed over: left alone
    payout = payout_mark_paid(payout=payout, actor=bob, reference="BANK-991")
    assert (payout.status, payout.provider_reference) == ("paid", "BANK-991")
    reward.refresh_from_db()
    assert reward.status == "fulfilled"
    assert reward.events.last().actor_label == "bob@example.com"


def test_only_a_bank_transfer_in_progress_can_be_marked_paid(source, owe, bob):
    owe(source, "40.00")
    payout = payout_request(source=source, method="bank_transfer")
    with pytest.raises(ValidationError) as caught:
        payout_mark_paid(payout=payout, actor=bob)
    assert caught.value.messages == ["Only a bank transfer being processed can be marked paid."]


def test_the_bank_transfer_csv_lists_payouts_for_finance(acme, source, owe):
    source.name = "=HYPERLINK(evil)"
    source.save()
    owe(source, "40.00")
    payout = payout_request(source=source, method="bank_transfer")
    payout_process(payout_id=payout.pk)
    text = get_provider("bank_transfer").csv(Payout.objects.all())
    [header, row] = list(csv.reader(io.StringIO(text)))
    assert header[:7] == [
        "payout_id",
        "payment_reference",
        "payee",
        "company",
        "email",
        "amount",
        "currency",
    ]
    assert row[:7] == [
        str(payout.pk),
        payout.idempotency_key,
        "'=HYPERLINK(evil)",
        "",
        "sam@example.com",
        "40.00",
        "EUR",
    ]


def test_a_gift_card_is_emailed_once_and_the_payout_is_paid(source, owe):
    reward = owe(source, "40.00", kind="gift_card")
    payout = payout_request(source=source)
    payout = payout_process(payout_id=payout.pk)
    assert payout.status == "paid" and payout.paid_at is not None
    [email] = mail.outbox
    code = gift_card_code(payout.idempotency_key)
    assert code in email.body and "€40.00" in email.body
    assert email.to == ["sam@example.com"]
    card = GiftCard.objects.get(payout=payout)
    assert card.code_last4 == code[-4:] and card.sent_at is not None
    reward.refresh_from_db()
    assert reward.status == "fulfilled"


def test_calling_the_gift_card_provider_again_sends_nothing_more(source, owe):
    owe(source, "40.00", kind="gift_card")
    payout = payout_request(source=source)
    provider = get_provider("gift_card")
    first = provider.pay(payout)
    again = provider.pay(payout)
    assert first == again
    assert len(mail.outbox) == 1 and GiftCard.objects.count() == 1


def test_the_gift_card_code_is_derived_from_the_idempotency_key():
    assert gift_card_code("batch:1:source:2") == gift_card_code("batch:1:source:2")
    assert gift_card_code("batch:1:source:2") != gift_card_code("batch:1:source:3")
    assert len(gift_card_code("k").replace("-", "")) == 16


def test_a_credit_payout_grants_the_balance_as_credit_once(source, owe):
    owe(source, "40.00")
    payout = payout_request(source=source, method="credit")
    payout = payout_process(payout_id=payout.pk)
    assert payout.status == "paid" and payout.provider_reference.startswith("credit-lot:")
    get_provider("credit").pay(payout)  # a retry of the provider call
    assert credit_balance(account=source.credit_account) == Decimal("40.00")
    assert LedgerEntry.objects.filter(kind="grant").count() == 1


def test_a_paid_payout_is_never_paid_again(source, owe):
    owe(source, "40.00", kind="gift_card")
    payout = payout_request(source=source)
    payout_process(payout_id=payout.pk)
    payout = payout_process(payout_id=payout.pk)
    assert (payout.status, payout.attempts) == ("paid", 1)
    assert len(mail.outbox) == 1


def test_a_failed_attempt_is_retried_with_exponential_backoff(
    source, owe, failing_provider, settings
):
    settings.REWARDS_PAYOUT_RETRY_BASE_SECONDS = 30
    settings.REWARDS_PAYOUT_MAX_ATTEMPTS = 3
    owe(source, "40.00")
    payout = payout_request(source=source, method="bank_transfer")
    countdowns = []
    for _ in range(2):
        with pytest.raises(PayoutRetry) as caught:
            payout_process(payout_id=payout.pk)
        countdowns.append(caught.value.countdown)
    assert countdowns == [30, 60]
    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == ("processing", 2)
    assert payout.last_error == "ConnectionError: bank API unreachable"
    payout = payout_process(payout_id=payout.pk)  # the last attempt: failed, no retry
    assert (payout.status, payout.attempts) == ("failed", 3)
    assert payout.failed_at is not None and failing_provider.calls == 3
    assert payout_process(payout_id=payout.pk).attempts == 3  # failed stays failed


def test_the_backoff_doubles_up_to_a_day(settings):
    settings.REWARDS_PAYOUT_RETRY_BASE_SECONDS = 60
    assert [payout_backoff(n) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert payout_backoff(30) == 24 * 3600


def test_staff_retry_a_failed_payout_with_the_same_key(
    source, owe, failing_provider, settings, bob, monkeypatch
):
    settings.REWARDS_PAYOUT_MAX_ATTEMPTS = 1
    owe(source, "40.00")
    payout = payout_request(source=source, method="bank_transfer")
    payout = payout_process(payout_id=payout.pk)
    assert payout.status == "failed"
    key = payout.idempotency_key
    payout = payout_retry(payout=payout, actor=bob)
    assert (payout.status, payout.attempts, payout.idempotency_key) == ("requested", 0, key)
    monkeypatch.setitem(payouts._providers, "bank_transfer", payouts.ManualBankTransferProvider())
    payout = payout_process(payout_id=payout.pk)
    assert payout.status == "processing" and payout.last_error == ""
    assert payout_balance(account=source.credit_account) == Decimal("0")  # reserved once


def test_only_a_failed_payout_can_be_retried(source, owe, bob):
    owe(source, "40.00")
    payout = payout_request(source=source, method="bank_transfer")
    with pytest.raises(ValidationError) as caught:
        payout_retry(payout=payout, actor=bob)
    assert caught.value.messages == ["Only a failed payout can be retried."]
