"""
Emails to the people rewarded: reward earned, credit expiring, payout sent, gift card.

Rendered from ``templates/emails/<name>_subject.txt``, ``<name>.txt`` and ``<name>.html``
(text with an HTML alternative), with amounts in the organization's currency and dates in
its time zone. Every email to a source links its portal; a program's own subject and
opening paragraph (``Program.source_email_subject``/``_intro`` for sources,
``friend_email_subject``/``_intro`` for friends) replace the standard ones.

Called from Celery tasks only (``rewards.tasks``), never in a web request. A reward's and
a payout's email is claimed (``core.tasks.once``) in the transaction that sends it and
stamps ``notified_at``: a task delivered twice sends it once, and a worker killed before
the commit leaves it to be sent by the task's next delivery.
"""

from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from accounts.models import Organization, ReferralSource
from core.email import RenderedEmail, render_email_parts, send_rendered
from core.tasks import once

from .models import CreditAccount, CreditLot, GiftCard, Payout, Reward


def render_message(name: str, *, organization: Organization, **context) -> RenderedEmail:
    """Subject, text and HTML of an email, in the organization's language and time zone."""
    return render_email_parts(
        name,
        timezone_name=organization.timezone,
        language=organization.language,
        organization=organization,
        **context,
    )


def render_email(name: str, *, organization: Organization, **context) -> tuple[str, str]:
    """(subject, plain-text body) of an email."""
    email = render_message(name, organization=organization, **context)
    return email.subject, email.text


def portal_url(source: ReferralSource | None, *, base: str = "") -> str:
    """The address of a source's portal, for every email to it (none once it is inactive)."""
    if source is None or not source.active:
        return ""
    return f"{(base or settings.SITE_URL).rstrip('/')}/me/{source.portal_token}/"


def reward_email_context(reward: Reward) -> dict:
    """Who the reward email greets, its program's own subject and opening, and the portal
    link when the beneficiary is a source."""
    conversion = reward.conversion
    program = reward.rule.program if reward.rule_id else None
    if program is None and conversion is not None:
        program = conversion.referral.program
    if reward.source_id:
        name = reward.source.name
        subject = program.source_email_subject if program else ""
        intro = program.source_email_intro if program else ""
    else:
        friend_name = conversion.referral.friend_name if conversion is not None else ""
        name = (reward.customer.name if reward.customer else "") or friend_name
        subject = ""  # the friend's subject names the amount; the program's intro opens it
        intro = program.friend_email_intro if program else ""
    return {
        "program": program,
        "greeting_name": name,
        "custom_subject": subject,
        "intro": intro,
        "portal_url": portal_url(reward.source),
    }


def _send(to: str, email: RenderedEmail) -> None:
    send_rendered(email, to=to)


def send_reward_earned(*, reward_id: int) -> bool:
    """Tell the beneficiary about an approved reward, once. Returns whether it was sent."""
    reward = (
        Reward.objects.select_related(
            "organization",
            "source",
            "customer",
            "conversion__referral__program",
            "lot",
            "rule__program",
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
        message = render_message(
            "reward_earned",
            organization=reward.organization,
            reward=reward,
            lot=lot,
            **reward_email_context(reward),
        )
        _send(email, message)
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
        message = render_message(
            "payout_sent",
            organization=payout.organization,
            payout=payout,
            portal_url=portal_url(payout.source),
        )
        _send(payout.source.email, message)
        Payout.objects.filter(pk=payout.pk).update(notified_at=timezone.now())
    return True


def send_credit_expiring(*, account: CreditAccount, lots: list[CreditLot]) -> None:
    """One email for the lots of one holder that expire soon (the caller claimed them)."""
    holder = account.holder
    message = render_message(
        "credit_expiring",
        organization=account.organization,
        holder=holder,
        greeting_name=holder.name or "",
        portal_url=portal_url(account.source),
        lots=lots,
        total=sum(lot.remaining for lot in lots),
        currency=account.currency,
        first_expiry=min(lot.expires_at for lot in lots),
    )
    _send(holder.email, message)


def send_gift_card(*, card: GiftCard, code: str, payout: Payout) -> None:
    message = render_message(
        "gift_card",
        organization=payout.organization,
        payout=payout,
        card=card,
        code=code,
        portal_url=portal_url(payout.source),
    )
    _send(card.email, message)


def program_email_preview(
    *, program, kind: str, base: str = "", rules: list | None = None
) -> RenderedEmail:
    """What a program's emails look like with its own subject and opening, on made-up
    people: ``friend`` is the welcome a friend gets, ``source`` the reward email a source
    gets (for the program's first referrer rule: ``rules`` when the caller has them).
    Nothing is saved or sent."""
    from referrals.models import Conversion, Referral

    organization = program.organization
    base = (base or settings.SITE_URL).rstrip("/")
    source = ReferralSource(
        organization=organization, name="Sam Example", portal_token="preview", active=True
    )
    if kind == "friend":
        referral = Referral(program=program, source=source, friend_name="Alex Example")
        return render_message(
            "friend_welcome",
            organization=organization,
            referral=referral,
            program=program,
            code="PREVIEW1",
            url=f"{base}/r/PREVIEW1",
            site_url=base,
        )
    rule = next(
        (
            r
            for r in (rules if rules is not None else program.reward_rules.all())
            if r.beneficiary == "referrer" and r.active
        ),
        None,
    )
    reward = Reward(
        organization=organization,
        source=source,
        rule=rule,
        conversion=Conversion(kind="purchase"),
        amount=rule.amount if rule is not None and rule.amount else Decimal("25.00"),
        currency=organization.currency,
        reward_kind=rule.reward_kind if rule is not None else "cash",
    )
    return render_message(
        "reward_earned",
        organization=organization,
        reward=reward,
        lot=None,
        program=program,
        greeting_name=source.name,
        custom_subject=program.source_email_subject,
        intro=program.source_email_intro,
        portal_url=portal_url(source, base=base),
    )
