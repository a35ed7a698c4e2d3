"""
Emails to the people rewarded: reward earned, credit expiring, payout sent, gift card.

Rendered from ``templates/emails/<name>.txt`` and ``<name>_subject.txt``, with amounts in
the organization's currency and dates in its time zone. Called from Celery tasks only
(``rewards.tasks``), never in a web request. A reward's and a payout's email is claimed
(``core.tasks.once``) in the transaction that sends it and stamps ``notified_at``: a task
delivered twice sends it once, and a worker killed before the commit leaves it to be sent
by the task's next delivery.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from accounts.models import Organization
from core.email import render_email as render_templated_email
from core.tasks import once

from .models import CreditAccount, CreditLot, GiftCard, Payout, Reward


def render_email(name: str, *, organization: Organization, **context) -> tuple[str, str]:
    """(subject, body) of an email, in the organization's language and time zone."""
    return render_templated_email(
        name,
        timezone_name=organization.timezone,
        language=organization.language,
        organization=organization,
        **context,
    )


def _send(to: str, subject: str, body: str) -> None:
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])


def send_reward_earned(*, reward_id: int) -> bool:
    """Tell the beneficiary about an approved reward, once. Returns whether it was sent."""
    reward = (
        Reward.objects.select_related(
            "organization", "source", "customer", "conversion", "lot", "rule"
        )
        .filter(pk=reward_id)
        .first()
    )
    if reward is None or reward.status not in (Reward.Status.APPROVED, Reward.Status.FULFILLED):
        return False
    email = getattr(reward.beneficiary, "email", "")
    if not email or reward.notified_at:
        return False
    with once(f"rewards.reward_earned:{reward.pk}") as first:
        if not first:
            return False
        lot = getattr(reward, "lot", None)
        subject, body = render_email(
            "reward_earned", organization=reward.organization, reward=reward, lot=lot
        )
        _send(email, subject, body)
        Reward.objects.filter(pk=reward.pk).update(notified_at=timezone.now())
    return True


def send_payout_sent(*, payout_id: int) -> bool:
    payout = Payout.objects.select_related("organization", "source").filter(pk=payout_id).first()
    if payout is None or payout.status != Payout.Status.PAID or not payout.source.email:
        return False
    if payout.notified_at:
        return False
    with once(f"rewards.payout_sent:{payout.pk}") as first:
        if not first:
            return False
        subject, body = render_email("payout_sent", organization=payout.organization, payout=payout)
        _send(payout.source.email, subject, body)
        Payout.objects.filter(pk=payout.pk).update(notified_at=timezone.now())
    return True


def send_credit_expiring(*, account: CreditAccount, lots: list[CreditLot]) -> None:
    """One email for the lots of one holder that expire soon (the caller claimed them)."""
    holder = account.holder
    subject, body = render_email(
        "credit_expiring",
        organization=account.organization,
        holder=holder,
        lots=lots,
        total=sum(lot.remaining for lot in lots),
        currency=account.currency,
        first_expiry=min(lot.expires_at for lot in lots),
    )
    _send(holder.email, subject, body)


def send_gift_card(*, card: GiftCard, code: str, payout: Payout) -> None:
    subject, body = render_email(
        "gift_card", organization=payout.organization, payout=payout, card=card, code=code
    )
    _send(card.email, subject, body)
