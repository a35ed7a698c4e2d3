"""Referrals: introductions from every channel, the fraud guards, staff review, and the
referral's progress (lead -> signed up -> converted) as conversions arrive."""

import re
import unicodedata
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Customer, ReferralSource, User
from core.tasks import enqueue_on_commit

from .. import webhooks
from ..models import (
    Channel,
    Conversion,
    Mailbox,
    Program,
    Referral,
    ReferralEvent,
    ReferralLink,
)

REWARD_TASK = "rewards.issue_rewards_for_conversion"
INTRODUCTION_TASK = "referrals.send_introduction_email"


#: What ``Mailbox`` (the SQL of the duplicate-friend guard's index) removes: a "+tag" after
#: a local part without "@" or "+", in an address with a single "@".
_TAGGED = re.compile(r"([^+@]+)[+][^@]*(@[^@]*)")


def mailbox(email: str) -> str:
    """The mailbox an address is delivered to: case and spaces aside, and without a
    "+tag" (sam+friend@example.com reaches sam@example.com), so a source's own address
    in another spelling is still its own. Exactly what ``referrals.models.Mailbox``
    computes in the database (an address with a quoted "@" in its local part, such as
    ``"a+b@c"@example.com``, is kept whole by both)."""
    address = (email or "").strip().lower()
    tagged = _TAGGED.fullmatch(address)
    return tagged.group(1) + tagged.group(2) if tagged else address


def own_mailboxes(source: ReferralSource) -> set[str]:
    """The mailboxes of a source: its own email's and its customer record's."""
    emails = [source.email, source.customer.email if source.customer else ""]
    return {mailbox(e) for e in emails if e}


def fraud_checks(
    *,
    program: Program,
    source: ReferralSource,
    email: str,
    ip_hash: str = "",
    user_agent: str = "",
    channel: str = Channel.LINK,
) -> list[str]:
    """The reasons a new referral should wait for review; empty when it looks clean.

    The device guard is for leads left on the landing page (``channel`` link), where the
    device is the friend's; a source introducing friends from its own portal sends them
    all from its own device by nature."""
    reasons = []
    email = (email or "").lower()
    if email and mailbox(email) in own_mailboxes(source):
        reasons.append("self_referral_email")
    if ip_hash and channel == Channel.LINK:
        since = timezone.now() - timedelta(days=1)
        own_clicks = Referral.objects.filter(
            source=source, ip_hash=ip_hash, user_agent=user_agent, created_at__gte=since
        )
        # One device, within a day, leaving several different "friends" for one source:
        # most likely the source inventing friends.
        if own_clicks.exclude(friend_email__iexact=email).exists():
            reasons.append("same_device")
    # The same friend in any spelling of her address (ann+1@ is ann@'s mailbox).
    if email and (
        Referral.objects.alias(box=Mailbox("friend_email"))
        .filter(organization_id=program.organization_id, box=mailbox(email), program=program)
        .exclude(status=Referral.Status.REJECTED)
        .exists()
    ):
        reasons.append("duplicate_friend")
    hour_ago = timezone.now() - timedelta(hours=1)
    recent = Referral.objects.filter(source=source, created_at__gte=hour_ago).count()
    if recent >= program.velocity_limit_per_hour:
        reasons.append("velocity")
    return reasons


#: What a referral or a customer keeps of an email address (SMTP's limit); a form's
#: EmailField takes up to 320 characters, and a longer address reached the database.
MAX_EMAIL_LENGTH = 254
EMAIL_TOO_LONG = f"An email address has at most {MAX_EMAIL_LENGTH} characters."

RESUBMISSION_WINDOW = timedelta(days=1)  # the same friend from the same source: one lead

#: What a referral keeps of a friend's name.
FRIEND_NAME_MAX_LENGTH: int = Referral._meta.get_field("friend_name").max_length or 200
#: A web address in any of its forms: a scheme ("https://"), "www." or a dotted domain
#: ("example.com", "spam.io", an IDN's "xn--" labels), which mail clients turn into links.
_WEB_ADDRESS = re.compile(
    r"://|\bwww\.|[\w-]\.(?:[^\W\d_]{2,63}|xn--[\w-]+)(?![\w-])", re.IGNORECASE
)
#: Bidirectional embeddings, overrides and isolates: they make text read other than it is.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def friend_name_problem(name: str) -> str:
    """Why ``name`` (stripped) is not a person's name, or "" when it is one. A friend's
    name goes, as typed, into emails from the business to an address the typer chose (an
    introduction, a landing page's welcome): it is a name, not a message, a link or an
    address."""
    if len(name) > FRIEND_NAME_MAX_LENGTH:
        return f"A name has at most {FRIEND_NAME_MAX_LENGTH} characters."
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _BIDI_CONTROLS for c in name):
        return "A name is one line, without line breaks, tabs or control characters."
    # Fullwidth dots and letters are read as their plain forms by mail clients too.
    plain = unicodedata.normalize("NFKC", name)
    if "@" in plain:
        return "A name cannot contain an email address (or an @)."
    if _WEB_ADDRESS.search(plain):
        return "A name cannot contain a web address (such as example.com or a link)."
    return ""


def referral_create(**fields) -> Referral:
    """Record a new lead from any channel (``referral_introduce``'s referral)."""
    return referral_introduce(**fields)[0]


@transaction.atomic
def referral_introduce(
    *,
    program: Program,
    source: ReferralSource,
    channel: str,
    friend_email: str = "",
    friend_name: str = "",
    friend_phone: str = "",
    link: ReferralLink | None = None,
    ip_hash: str = "",
    user_agent: str = "",
    actor: User | None = None,
    actor_label: str = "",
) -> tuple[Referral, bool]:
    """Record a new lead from any channel, running the fraud guards first. Returns (the
    referral, whether this call made it): False for the same introduction again within a
    day, which a caller racing the first one finds too once it has the source's lock."""
    friend_email = (friend_email or "").strip().lower()
    if len(friend_email) > MAX_EMAIL_LENGTH:
        raise ValidationError({"friend_email": EMAIL_TOO_LONG})
    friend_name = (friend_name or "").strip()
    if problem := friend_name_problem(friend_name):
        raise ValidationError({"friend_name": problem})
    if channel not in Channel.values:
        raise ValidationError({"channel": "Unknown channel."})
    if not friend_email and not friend_phone:
        raise ValidationError({"friend_email": "Give the friend's email (or phone for a call)."})
    if program.organization_id != source.organization_id:
        raise ValidationError("The source and the program belong to different organizations.")
    if not program.is_live:
        raise ValidationError("This program is not taking referrals right now.")
    if source.kind not in (program.allowed_source_kinds or []):
        raise ValidationError(
            {"source": f"This program does not accept sources of kind {source.get_kind_display()}."}
        )
    if not source.active:
        raise ValidationError({"source": "This source is deactivated."})
    # Serialize referrals of one source so the velocity guard counts correctly under races.
    ReferralSource.objects.select_for_update().filter(pk=source.pk).first()
    if friend_email:
        # The same introduction again within a day: the friend sent the landing form twice
        # (back button, double click), the source sent the portal's form twice, a partner
        # retried without an Idempotency-Key. The same lead, not a second referral held for
        # review as a "duplicate friend" (which stays for another source's introduction).
        again = (
            Referral.objects.filter(
                program=program,
                source=source,
                friend_email=friend_email,
                created_at__gte=timezone.now() - RESUBMISSION_WINDOW,
            )
            .order_by("created_at", "id")
            .first()
        )
        if again is not None:
            return again, False
    reasons = fraud_checks(
        program=program,
        source=source,
        email=friend_email,
        ip_hash=ip_hash,
        user_agent=user_agent,
        channel=channel,
    )
    # In a test organization the guards only say what they would have done: the owner's
    # own test runs (same device, own email, again and again) are never held.
    held = bool(reasons) and not program.organization.is_test
    if reasons and not held:
        note = "Test: the fraud rules would have held this referral for review: "
    else:
        note = "Held for review: "
    referral = Referral.objects.create(
        organization_id=program.organization_id,
        program=program,
        source=source,
        link=link,
        channel=channel,
        friend_email=friend_email,
        friend_name=friend_name,
        friend_phone=friend_phone.strip(),
        ip_hash=ip_hash,
        user_agent=(user_agent or "")[:400],
        flagged=held,
        flag_reasons=reasons,
    )
    ReferralEvent.record(
        referral,
        from_status="",
        actor=actor,
        label=actor_label or ("" if actor else channel),
        note=(note + "; ".join(referral.flag_reasons_text)) if reasons else "",
    )
    if channel == Channel.EMAIL and friend_email and not referral.flagged:
        # A referral held for review emails nobody until staff approve it.
        enqueue_on_commit(INTRODUCTION_TASK, referral.pk)
    webhooks.referral_created(referral)
    return referral, True


@transaction.atomic
def referral_reject(*, referral: Referral, reason: str, actor: User | None) -> Referral:
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    if referral.status == Referral.Status.REJECTED:
        # Another reviewer (or another tab) got there first: their reason stands.
        raise ValidationError(f"This referral was already rejected ({referral.rejection_reason}).")
    if referral.status == Referral.Status.CONVERTED:
        raise ValidationError(
            "A converted referral cannot be rejected; refund its purchases instead."
        )
    if not reason.strip():
        raise ValidationError({"reason": "Say why the referral is rejected."})
    previous = referral.status
    referral.status = Referral.Status.REJECTED
    referral.rejection_reason = reason.strip()[:200]
    referral.flagged = False
    referral.save(update_fields=["status", "rejection_reason", "flagged"])
    ReferralEvent.record(referral, from_status=previous, actor=actor, label="", note=reason)
    return referral


@transaction.atomic
def referral_approve(*, referral: Referral, actor: User | None) -> Referral:
    """Clear a flagged referral. Purchases recorded while it waited now count."""
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    if referral.status == Referral.Status.REJECTED:
        # Rejected by another reviewer (or from another tab) since the page was shown.
        raise ValidationError("This referral was rejected: it can no longer be approved.")
    if not referral.flagged:
        return referral
    referral.flagged = False
    referral.save(update_fields=["flagged"])
    ReferralEvent.record(
        referral, from_status=referral.status, actor=actor, label="", note="Approved after review"
    )
    if referral.channel == Channel.EMAIL and referral.friend_email:
        enqueue_on_commit(INTRODUCTION_TASK, referral.pk)  # held until now; sent once
    purchases = list(referral.conversions.order_by("occurred_at", "id"))
    for conversion in purchases:
        _apply_conversion(referral, conversion, actor=actor)
    return referral


def _apply_conversion(
    referral: Referral,
    conversion: Conversion,
    *,
    actor: User | None,
    unsaved: list[str] | None = None,
) -> None:
    """Move the referral along for a conversion and, when it is credited (not rejected, not
    waiting in review), queue its rewards. A referral approved later replays its conversions
    through here, in order. ``unsaved`` names fields of the referral the caller changed and
    left to be saved with its progress (one UPDATE)."""
    unsaved = unsaved or []
    if not referral.is_credited:
        if unsaved:
            referral.save(update_fields=unsaved)
        if conversion.kind == Conversion.Kind.REFUND:
            # A refund only takes back what its order earned, which it may have while the
            # referral still counted (held later, e.g. as a self-referral): queued all the same.
            enqueue_on_commit(REWARD_TASK, conversion.pk)
        return
    previous = referral.status
    now = timezone.now()
    if conversion.kind == Conversion.Kind.SIGNUP and referral.status == Referral.Status.LEAD:
        referral.status = Referral.Status.SIGNED_UP
        referral.signed_up_at = conversion.occurred_at or now
    elif conversion.is_first_purchase and referral.status != Referral.Status.CONVERTED:
        # Only the purchase that won the customer converts (advocacy never does), and the
        # customer it won becomes a referred customer.
        referral.status = Referral.Status.CONVERTED
        referral.converted_at = conversion.occurred_at or now
        if referral.signed_up_at is None:
            referral.signed_up_at = referral.converted_at
        if conversion.customer_id is not None:
            Customer.objects.filter(pk=conversion.customer_id, is_referred=False).update(
                is_referred=True
            )
    if referral.status != previous:
        referral.save(update_fields=["status", "signed_up_at", "converted_at", *unsaved])
        ReferralEvent.record(
            referral,
            from_status=previous,
            actor=actor,
            label="",
            note=f"{conversion.get_kind_display()} {conversion.external_id}",
        )
    elif unsaved:
        referral.save(update_fields=unsaved)
    enqueue_on_commit(REWARD_TASK, conversion.pk)
    webhooks.referral_changed(referral, previous)
