"""
A reward's life: pending (while the refund hold lasts) -> approved -> fulfilled, or void.
A refund inside the hold voids the pending reward; after fulfilment the credit is clawed
back, and what was already spent becomes a debt. Every change is kept as a RewardEvent.
"""

import zoneinfo
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.models import OutboxMessage
from referrals.services import conversion_record, referral_approve, referral_reject
from rewards.models import CreditLot, LedgerEntry, PayoutBalanceEntry, Reward
from rewards.selectors import credit_balance, payout_balance
from rewards.services import (
    credit_redeem,
    issue_rewards_for_conversion,
    release_held_rewards,
    reward_approve,
    reward_grant_manual,
    reward_void,
)
from tests.rewards.conftest import convert, make_referral, refund


def history(reward):
    return [(e.from_status, e.to_status, e.actor_label) for e in reward.events.all()]


def test_it_holds_a_reward_for_the_refund_window(make_rule, referral):
    make_rule(hold_days=14)
    [reward] = convert(referral, "order-1")
    assert reward.status == "pending"
    assert reward.hold_until - reward.created_at == timedelta(days=14)
    assert not LedgerEntry.objects.exists()


def test_it_releases_a_reward_when_its_hold_ends(make_rule, referral, source):
    make_rule(hold_days=14)
    [reward] = convert(referral, "order-1")
    assert release_held_rewards(now=timezone.now() + timedelta(days=13)) == 0
    assert release_held_rewards(now=timezone.now() + timedelta(days=14, seconds=1)) == 1
    reward.refresh_from_db()
    assert reward.status == "fulfilled"
    assert credit_balance(account=source.credit_account) == Decimal("25.00")
    assert history(reward)[1:] == [
        ("pending", "approved", "hold ended"),
        ("approved", "fulfilled", "system"),
    ]
    assert release_held_rewards(now=timezone.now() + timedelta(days=30)) == 0


def test_a_held_reward_of_a_referral_rejected_in_its_hold_is_never_given(
    make_rule, referral, source, bob
):
    make_rule(trigger="signup", hold_days=14)
    [reward] = convert(referral, "signup-1", kind="signup", amount="0")
    referral_reject(referral=referral, reason="Made-up friend", actor=bob)
    assert release_held_rewards(now=timezone.now() + timedelta(days=15)) == 1
    reward.refresh_from_db()
    assert reward.status == "void" and reward.void_reason == "Referral rejected"
    assert not LedgerEntry.objects.exists()
    assert Reward.objects.filter(organization=source.organization).cost() == Decimal("0.00")


def test_a_refund_takes_back_what_its_order_earned_even_once_the_referral_is_held(
    make_rule, referral, source
):
    make_rule()
    [reward] = convert(referral, "order-1")
    assert reward.status == "fulfilled"
    # Staff link the source to its customer record, which is the friend: the friend's next
    # event holds the referral for review as a self-referral.
    referral.refresh_from_db()
    source.customer = referral.friend
    source.save(update_fields=["customer"])
    conversion_record(
        referral=referral, kind="purchase", external_id="order-2", amount=Decimal("9")
    )
    referral.refresh_from_db()
    assert referral.flagged
    OutboxMessage.objects.all().delete()
    back, _ = conversion_record(
        referral=referral,
        kind="refund",
        external_id="refund-1",
        amount=Decimal("100.00"),
        refund_of_external_id="order-1",
    )
    queued = OutboxMessage.objects.filter(task="rewards.issue_rewards_for_conversion")
    assert [m.args for m in queued] == [[back.pk]]
    issue_rewards_for_conversion(conversion_id=back.pk)  # what the task does
    reward.refresh_from_db()
    assert reward.status == "void"
    assert credit_balance(account=source.credit_account) == Decimal("0.00")


def test_a_held_reward_waits_while_its_referral_is_held_for_review(
    make_rule, referral, source, bob
):
    make_rule(hold_days=14)
    [reward] = convert(referral, "order-1")
    # Staff link the source to its customer record, which is the friend: the friend's next
    # event holds the referral for review as a self-referral.
    referral.refresh_from_db()
    source.customer = referral.friend
    source.save(update_fields=["customer"])
    conversion_record(
        referral=referral, kind="purchase", external_id="order-2", amount=Decimal("9")
    )
    referral.refresh_from_db()
    assert referral.flagged
    later = timezone.now() + timedelta(days=15)
    assert release_held_rewards(now=later) == 0
    reward.refresh_from_db()
    assert reward.status == "pending" and not LedgerEntry.objects.exists()
    referral_approve(referral=referral, actor=bob)
    assert release_held_rewards(now=later) == 1
    reward.refresh_from_db()
    assert reward.status == "fulfilled"


def test_a_reward_task_killed_before_taking_back_an_earlier_refund_takes_it_back_when_redelivered(
    make_rule, referral, source
):
    """The refund's task ran first and found nothing to take back; the purchase's task
    issued the reward and its worker died before taking back the refund's share. The
    redelivered task issues nothing new, and must still take it back."""
    from rewards.models import RewardRule
    from rewards.services.lifecycle import _issue_one

    make_rule(amount=Decimal("25"))
    bought, _ = conversion_record(
        referral=referral, kind="purchase", external_id="order-1", amount=Decimal("100")
    )
    conversion_record(
        referral=referral,
        kind="refund",
        external_id="refund-1",
        amount=Decimal("40"),
        refund_of_external_id="order-1",
    )
    _issue_one(rule=RewardRule.objects.get(), conversion=bought)  # then the worker died
    issue_rewards_for_conversion(conversion_id=bought.pk)  # the task, delivered again
    reward = Reward.objects.get()
    assert (reward.amount, reward.taken_back, reward.value) == (
        Decimal("25.00"),
        Decimal("10.00"),
        Decimal("15.00"),
    )
    assert credit_balance(account=source.credit_account) == Decimal("15.00")


def test_staff_approve_a_held_reward_early(make_rule, referral, alice):
    make_rule(hold_days=14)
    [reward] = convert(referral, "order-1")
    reward = reward_approve(reward=reward, actor=alice)
    assert reward.status == "fulfilled"
    assert ("pending", "approved", "alice@example.com") in history(reward)


def test_the_credit_note_gives_the_expiry_in_the_organizations_time(make_rule, referral, alice):
    """Acme works in Europe/Amsterdam: the note the reward's history keeps says when its
    credit expires there, not in UTC (the lot itself keeps the instant, in UTC)."""
    make_rule(hold_days=14)
    [reward] = convert(referral, "order-1")
    reward = reward_approve(reward=reward, actor=alice)
    expires = CreditLot.objects.get(reward=reward).expires_at
    local = timezone.localtime(expires, zoneinfo.ZoneInfo("Europe/Amsterdam"))
    note = reward.events.order_by("id").last().note
    assert note == f"Credit granted until {local:%Y-%m-%d %H:%M} (Europe/Amsterdam)"
    assert local.utcoffset() != timedelta(0)  # the test would not tell UTC apart otherwise


def test_approving_twice_grants_once(make_rule, referral, alice, source):
    make_rule(hold_days=14)
    [reward] = convert(referral, "order-1")
    reward_approve(reward=reward, actor=alice)
    reward_approve(reward=reward, actor=alice)
    assert credit_balance(account=source.credit_account) == Decimal("25.00")


def test_it_voids_a_pending_reward_on_refund(make_rule, referral):
    make_rule(hold_days=14)
    [reward] = convert(referral, "order-1")
    refund(referral, "refund-1", of="order-1")
    reward.refresh_from_db()
    assert (reward.status, reward.void_reason) == ("void", "Refund refund-1")
    assert history(reward)[-1] == ("pending", "void", "refund")
    assert not LedgerEntry.objects.exists()
    assert release_held_rewards(now=timezone.now() + timedelta(days=30)) == 0


def test_a_refund_voids_only_the_rewards_of_the_purchase_it_names(make_rule, referral):
    make_rule(trigger="every_purchase", hold_days=14)
    [first] = convert(referral, "order-1")
    [second] = convert(referral, "order-2")
    refund(referral, "refund-1", of="order-2")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("pending", "void")


def test_it_claws_back_unspent_credit_on_a_refund_after_fulfilment(make_rule, referral, source):
    make_rule()
    [reward] = convert(referral, "order-1")
    refund(referral, "refund-1", of="order-1")
    reward.refresh_from_db()
    assert reward.status == "void"
    account = source.credit_account
    clawback = LedgerEntry.objects.get(account=account, kind="clawback")
    assert clawback.amount == Decimal("-25.00")
    assert credit_balance(account=account) == Decimal("0")
    assert payout_balance(account=account) == Decimal("0")  # nothing was owed
    # The grant is still there: the history of the ledger is never edited.
    assert LedgerEntry.objects.get(account=account, kind="grant").amount == Decimal("25.00")


def test_spent_credit_clawed_back_becomes_a_debt(make_rule, referral, source):
    make_rule()
    [reward] = convert(referral, "order-1")
    account = source.credit_account
    credit_redeem(account=account, amount=Decimal("20.00"), order_id="shop-1")
    refund(referral, "refund-1", of="order-1")
    assert credit_balance(account=account) == Decimal("0")
    debt = PayoutBalanceEntry.objects.get(account=account, kind="debt")
    assert debt.amount == Decimal("-20.00") and debt.reward_id == reward.pk
    assert payout_balance(account=account) == Decimal("-20.00")
    reward.refresh_from_db()
    assert "debt: 20.00" in reward.events.last().note


def test_spent_credit_is_first_recovered_from_other_credit(make_rule, referral, source, grant):
    make_rule()
    convert(referral, "order-1")
    account = source.credit_account
    grant("30.00", days=60)  # other credit, e.g. an earlier reward
    credit_redeem(account=account, amount=Decimal("25.00"), order_id="shop-1")  # the reward's lot
    refund(referral, "refund-1", of="order-1")
    assert credit_balance(account=account) == Decimal("5.00")
    assert payout_balance(account=account) == Decimal("0")


def test_credit_that_expired_unused_is_not_a_debt(make_rule, referral, source):
    from rewards.services import expire_credit_lots

    make_rule(credit_lifetime_days=1)
    [reward] = convert(referral, "order-1")
    expire_credit_lots(now=timezone.now() + timedelta(days=2))
    refund(referral, "refund-1", of="order-1")
    reward.refresh_from_db()
    assert reward.status == "void"
    assert payout_balance(account=source.credit_account) == Decimal("0")


def test_a_debt_is_settled_from_the_next_credit(make_rule, program, source):
    make_rule(amount=Decimal("25"))
    first = make_referral(program, source, "one@example.com")
    convert(first, "order-1")
    account = source.credit_account
    credit_redeem(account=account, amount=Decimal("25.00"), order_id="shop-1")
    refund(first, "refund-1", of="order-1")
    assert payout_balance(account=account) == Decimal("-25.00")
    second = make_referral(program, source, "two@example.com")
    convert(second, "order-2")  # another 25 of credit: all of it settles the debt
    assert payout_balance(account=account) == Decimal("0")
    assert credit_balance(account=account) == Decimal("0")
    third = make_referral(program, source, "three@example.com")
    convert(third, "order-3")
    assert credit_balance(account=account) == Decimal("25.00")


def test_a_voided_cash_reward_that_was_paid_out_is_deducted_from_the_next_payout(
    make_rule, program, source
):
    from rewards.services import payout_mark_paid, payout_process, payout_request

    make_rule(reward_kind="cash", amount=Decimal("40"))
    first = make_referral(program, source, "one@example.com")
    [paid] = convert(first, "order-1")
    payout = payout_request(source=source, method="bank_transfer")
    payout_process(payout_id=payout.pk)
    payout_mark_paid(payout=payout, actor=None)
    paid.refresh_from_db()
    assert paid.status == "fulfilled"
    refund(first, "refund-1", of="order-1")
    paid.refresh_from_db()
    assert paid.status == "void" and "deducted from the next payout" in paid.events.last().note
    assert payout_balance(account=source.credit_account) == Decimal("-40.00")
    second = make_referral(program, source, "two@example.com")
    convert(second, "order-2")  # 40 earned, 40 owed: nothing to pay
    with pytest.raises(ValidationError, match="Nothing to pay"):
        payout_request(source=source, method="bank_transfer")
    third = make_referral(program, source, "three@example.com")
    convert(third, "order-3")
    assert payout_request(source=source, method="bank_transfer").amount == Decimal("40.00")


def test_staff_void_with_a_reason(make_rule, referral, bob):
    make_rule(hold_days=14)
    [reward] = convert(referral, "order-1")
    with pytest.raises(ValidationError) as caught:
        reward_void(reward=reward, reason="  ", actor=bob)
    assert caught.value.message_dict == {"reason": ["Say why the reward is voided."]}
    reward = reward_void(reward=reward, reason="Duplicate account", actor=bob)
    assert (reward.status, reward.void_reason) == ("void", "Duplicate account")
    assert history(reward)[-1] == ("pending", "void", "bob@example.com")


def test_voiding_twice_claws_back_once(make_rule, referral, bob, source):
    make_rule()
    [reward] = convert(referral, "order-1")
    reward_void(reward=reward, reason="Fraud", actor=bob)
    reward_void(reward=reward, reason="Fraud again", actor=bob)
    assert LedgerEntry.objects.filter(kind="clawback").count() == 1
    assert reward.events.filter(to_status="void").count() == 1


def test_staff_grant_a_manual_reward_for_an_insiders_contribution(source, acme, alice):
    reward = reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("100"),
        note="Introduced us to the branch manager",
        actor=alice,
        credit_lifetime_days=30,
    )
    assert (reward.status, reward.rule_id, reward.created_by) == ("fulfilled", None, alice)
    assert credit_balance(account=source.credit_account) == Decimal("100.00")
    assert (reward.lot.expires_at - reward.lot.granted_at).days in (29, 30)
    assert [e.to_status for e in reward.events.all()] == ["pending", "approved", "fulfilled"]


def test_a_manual_cash_reward_is_owed_until_paid_out(source, acme, alice):
    reward = reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("60"),
        note="Market tip",
        actor=alice,
        reward_kind="cash",
    )
    assert reward.status == "approved"
    assert payout_balance(account=source.credit_account) == Decimal("60.00")


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"amount": Decimal("0")}, "amount"),
        ({"note": " "}, "note"),
        ({"reward_kind": "coupon"}, "reward_kind"),
        ({"credit_lifetime_days": 0}, "credit_lifetime_days"),
    ],
)
def test_a_manual_reward_needs_an_amount_a_note_and_a_valid_kind(
    source, acme, alice, fields, error_field
):
    values = {"amount": Decimal("10"), "note": "Tip", "reward_kind": "credit", **fields}
    with pytest.raises(ValidationError) as caught:
        reward_grant_manual(organization=acme, source=source, actor=alice, **values)
    assert error_field in caught.value.message_dict
    assert not Reward.objects.exists()


def test_a_manual_reward_is_for_the_organizations_own_sources(source, globex, eve):
    with pytest.raises(ValidationError) as caught:
        reward_grant_manual(
            organization=globex, source=source, amount=Decimal("10"), note="x", actor=eve
        )
    assert sorted(caught.value.message_dict) == ["source"]


def test_a_partial_refund_of_spent_credit_is_a_debt_of_its_share_only(make_rule, referral, source):
    make_rule()
    [reward] = convert(referral, "order-1", amount="200.00")
    account = source.credit_account
    credit_redeem(account=account, amount=Decimal("25.00"), order_id="shop-1")
    refund(referral, "refund-1", of="order-1", amount="100.00")
    reward.refresh_from_db()
    assert (reward.status, reward.taken_back, reward.value) == (
        "fulfilled",
        Decimal("12.50"),
        Decimal("12.50"),
    )
    assert payout_balance(account=account) == Decimal("-12.50")
    assert "12.50 of 25.00 taken back" in reward.events.last().note
    refund(referral, "refund-2", of="order-1", amount="100.00")  # the rest: void
    reward.refresh_from_db()
    assert reward.status == "void"
    assert payout_balance(account=account) == Decimal("-25.00")  # never more than the reward


def test_a_reward_partly_refunded_in_its_hold_gives_only_what_is_left(make_rule, referral, source):
    make_rule(hold_days=14)
    [reward] = convert(referral, "order-1", amount="80.00")
    refund(referral, "refund-1", of="order-1", amount="20.00")
    release_held_rewards(now=timezone.now() + timedelta(days=15))
    reward.refresh_from_db()
    assert (reward.status, reward.lot.amount) == ("fulfilled", Decimal("18.75"))
    assert credit_balance(account=source.credit_account) == Decimal("18.75")
