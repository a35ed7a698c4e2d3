"""Rejecting a referral stops what it has not given yet: a reward still held (pending) for
one of its conversions is voided with the rejection, never released when its hold ends."""

from datetime import timedelta

from django.utils import timezone

from rewards.models import Reward
from rewards.services import release_held_rewards
from tests.rewards.conftest import convert


def test_rejecting_a_signed_up_referral_voids_its_held_rewards(login, bob, make_rule, referral):
    make_rule(trigger="signup", amount="10.00", hold_days=30)
    [reward] = convert(referral, "signup-1", kind="signup", amount="0")
    assert reward.status == "pending"
    referral.refresh_from_db()
    assert referral.status == "signed_up"

    response = login(bob).post(f"/app/referrals/{referral.pk}/reject/", {"reason": "Fake friend"})

    assert response.status_code == 302
    reward.refresh_from_db()
    assert reward.status == "void"
    assert "Fake friend" in reward.void_reason
    # A month later the hold ends: nothing is given for the rejected referral.
    assert release_held_rewards(now=timezone.now() + timedelta(days=31)) == 0
    reward.refresh_from_db()
    assert reward.status == "void"
    assert not Reward.objects.filter(status__in=["approved", "fulfilled"]).exists()


def test_a_held_reward_of_a_rejected_referral_is_never_released_or_approved(
    login, bob, make_rule, referral
):
    """However the referral was rejected, the end of the hold (or a manager's Approve) does
    not give its held rewards."""
    from referrals.services import referral_reject

    make_rule(trigger="signup", amount="10.00", hold_days=30)
    [first] = convert(referral, "signup-1", kind="signup", amount="0")
    referral_reject(referral=referral, reason="Fake friend", actor=None)

    release_held_rewards(now=timezone.now() + timedelta(days=31))

    first.refresh_from_db()
    assert (first.status, first.void_reason) == ("void", "Referral rejected")
    assert not Reward.objects.filter(status__in=["approved", "fulfilled"]).exists()


def test_a_manual_reward_is_still_given_when_some_referral_was_rejected(
    login, bob, source, referral, acme, alice
):
    from decimal import Decimal

    from referrals.services import referral_reject
    from rewards.services import reward_grant_manual

    referral_reject(referral=referral, reason="Fake friend", actor=None)
    reward = reward_grant_manual(
        organization=acme, source=source, amount=Decimal("5"), note="Tip", actor=alice
    )
    assert reward.status == "fulfilled"


def test_approving_a_held_reward_of_a_rejected_referral_says_it_is_void(
    login, bob, make_rule, referral
):
    from referrals.services import referral_reject

    make_rule(trigger="signup", amount="10.00", hold_days=30)
    [reward] = convert(referral, "signup-1", kind="signup", amount="0")
    referral_reject(referral=referral, reason="Fake friend", actor=None)

    response = login(bob).post(f"/app/rewards/{reward.pk}/approve/", follow=True)

    html = response.content.decode()
    assert "Reward approved." not in html and "Referral rejected" in html
    reward.refresh_from_db()
    assert reward.status == "void"
