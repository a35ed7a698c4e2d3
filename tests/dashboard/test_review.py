"""A held referral says so where it appears, with its reasons in words and Approve beside
Reject; approving counts what it brought, once."""

from decimal import Decimal

from referrals.services import conversion_record, referral_create
from rewards.models import Reward


def test_a_held_referral_explains_itself_and_can_be_approved_from_its_page(
    login, bob, program, source, link, fixed_rule
):
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email=source.email
    )
    assert referral.flagged
    conversion_record(referral=referral, kind="purchase", external_id="o-1", amount=Decimal("50"))
    client = login(bob)
    html = client.get(f"/app/referrals/{referral.pk}/").content.decode()
    assert "the friend&#x27;s email is the source&#x27;s own" in html
    assert "self_referral_email" not in html
    assert 'data-testid="approve"' in html and "Reject referral" in html
    assert not Reward.objects.exists()
    response = client.post(f"/app/referrals/{referral.pk}/approve/", {"next": "detail"})
    assert response["Location"] == f"/app/referrals/{referral.pk}/"
    client.post(f"/app/referrals/{referral.pk}/approve/", {"next": "detail"})  # twice: once
    referral.refresh_from_db()
    assert not referral.flagged and referral.status == "converted"


def test_the_review_queue_gives_reasons_in_words(login, charlie, program, source, link):
    referral_create(
        program=program, source=source, link=link, channel="link", friend_email=source.email
    )
    html = login(charlie).get("/app/referrals/review/").content.decode()
    assert "the friend&#x27;s email is the source&#x27;s own" in html


def test_approving_a_referral_another_reviewer_rejected_says_so_and_changes_nothing(
    login, alice, bob, program, source, link, fixed_rule
):
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email=source.email
    )
    conversion_record(referral=referral, kind="purchase", external_id="o-1", amount=Decimal("50"))
    login(alice).post(
        f"/app/referrals/{referral.pk}/reject/", {"reason": "Self-referral", "from": "queue"}
    )
    # Bob still has the review queue open from before, and clicks Approve.
    response = login(bob).post(f"/app/referrals/{referral.pk}/approve/", follow=True)
    html = response.content.decode()
    assert "now counts and is rewarded" not in html
    assert "was rejected" in html
    referral.refresh_from_db()
    assert referral.status == "rejected" and not referral.flagged
    assert referral.events.count() == 2  # created, rejected: no "approved after review"
    assert not Reward.objects.exists()


def test_rejecting_a_referral_already_rejected_keeps_the_first_reason(
    login, alice, bob, program, source, link
):
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email=source.email
    )
    login(alice).post(
        f"/app/referrals/{referral.pk}/reject/", {"reason": "Self-referral", "from": "queue"}
    )
    # Bob, with the queue open from before, rejects it too with his own reason.
    response = login(bob).post(
        f"/app/referrals/{referral.pk}/reject/",
        {"reason": "Looks fine?", "from": "queue"},
        follow=True,
    )
    assert "already rejected" in response.content.decode()
    referral.refresh_from_db()
    assert referral.rejection_reason == "Self-referral"
    assert referral.events.count() == 2  # created, rejected once
