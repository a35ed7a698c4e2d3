"""
Writes for programs, links, clicks, referrals and conversions.

A conversion that may earn a reward is handed to the rewards app through the Celery task
named ``rewards.issue_rewards_for_conversion``, sent after the transaction commits, so the
worker always sees the row and a rolled-back conversion never earns anything.
"""

import io
import re
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal

import segno
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Customer, Organization, ReferralSource, User
from accounts.services import customer_get_or_create
from core.signing import digest
from core.tasks import enqueue_on_commit

from . import webhooks
from .models import (
    Channel,
    Click,
    Conversion,
    Program,
    Referral,
    ReferralEvent,
    ReferralLink,
    generate_code,
    vanity_code_validator,
)

REWARD_TASK = "rewards.issue_rewards_for_conversion"
CODE_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{2,39}")
INTRODUCTION_TASK = "referrals.send_introduction_email"


def hash_ip(ip: str) -> str:
    if not ip:
        return ""
    return digest("ip", ip, secret=settings.IP_HASH_SALT)


# Programs -------------------------------------------------------------------------------


def program_create(*, organization: Organization, **fields) -> Program:
    program = Program(organization=organization, **fields)
    program.full_clean()
    program.save()
    return program


def program_update(*, program: Program, **fields) -> Program:
    for name, value in fields.items():
        setattr(program, name, value)
    program.full_clean()
    program.save()
    link_cache_forget(*program.links.all())
    return program


# Links and clicks -----------------------------------------------------------------------


def link_get_or_create(*, program: Program, source: ReferralSource) -> ReferralLink:
    """The source's personal link into the program, created on first use."""
    if program.organization_id != source.organization_id:
        raise ValidationError("The source and the program belong to different organizations.")
    if source.kind not in (program.allowed_source_kinds or []):
        raise ValidationError(
            {"source": f"This program does not accept sources of kind {source.get_kind_display()}."}
        )
    existing = ReferralLink.objects.filter(program=program, source=source).first()
    if existing is not None:
        return existing
    for _ in range(5):
        try:
            with transaction.atomic():
                return ReferralLink.objects.create(
                    organization_id=program.organization_id,
                    program=program,
                    source=source,
                    code=generate_code(),
                )
        except IntegrityError:
            existing = ReferralLink.objects.filter(program=program, source=source).first()
            if existing is not None:
                return existing
    raise RuntimeError("Could not find a free referral code after 5 tries.")


def link_set_vanity_code(*, link: ReferralLink, vanity_code: str) -> ReferralLink:
    """Give a link a memorable code (or clear it with ""). Codes share one namespace."""
    vanity_code = (vanity_code or "").strip().lower()
    link_cache_forget(link)
    if not vanity_code:
        link.vanity_code = None
        link.save(update_fields=["vanity_code"])
        return link
    try:
        vanity_code_validator(vanity_code)
    except ValidationError as error:
        raise ValidationError({"vanity_code": error.messages}) from None
    taken = ReferralLink.objects.filter(Q(code=vanity_code) | Q(vanity_code=vanity_code)).exclude(
        pk=link.pk
    )
    if taken.exists():
        raise ValidationError({"vanity_code": "This code is already taken."})
    link.vanity_code = vanity_code
    try:
        with transaction.atomic():
            link.save(update_fields=["vanity_code"])
    except IntegrityError:
        raise ValidationError({"vanity_code": "This code is already taken."}) from None
    return link


def link_resolve(code: str) -> ReferralLink | None:
    """The live link for a code (or vanity code): active program, active source; else None."""
    code = (code or "").strip().lower()
    if not CODE_PATTERN.fullmatch(code):
        return None  # never let a malformed code (or a NUL byte) reach the database
    link = (
        ReferralLink.objects.select_related("program", "source", "program__organization")
        .filter(Q(code=code) | Q(vanity_code=code))
        .first()
    )
    if link is None or not link.program.is_live or not link.source.active:
        return None
    return link


def qr_image(url: str, fmt: str) -> tuple[bytes, str]:
    """A QR code of ``url`` as SVG (for print) or PNG (for chat apps and documents)."""
    qr = segno.make(url, error="m")
    buffer = io.BytesIO()
    if fmt == "svg":
        qr.save(buffer, kind="svg", scale=8, border=2, xmldecl=False)
        return buffer.getvalue(), "image/svg+xml"
    qr.save(buffer, kind="png", scale=10, border=2)
    return buffer.getvalue(), "image/png"


def cookie_name(program_id: int) -> str:
    """The first-party cookie that remembers which link brought a visitor to a program."""
    return f"{settings.REFERRAL_COOKIE_PREFIX}{program_id}"


# The hot path -----------------------------------------------------------------------------
# /r/<code> answers from a small cached snapshot of the link and writes the click with one
# INSERT that commits before the response: a restarted worker or web process loses no click.
# bench/bench_redirect.py measures it against a bare redirect.

LINK_CACHE_TTL = 30  # seconds; program and link changes invalidate at once, source changes by TTL


@dataclass(frozen=True)
class LinkSnapshot:
    link_id: int
    organization_id: int
    program_id: int
    public_code: str
    landing_mode: str
    destination_url: str
    window_days: int


def _link_cache_key(code: str) -> str:
    return f"referrals:link:{code}"


def link_snapshot(code: str) -> LinkSnapshot | None:
    """What the link path needs to know about a live code, from the cache when it can."""
    code = (code or "").strip().lower()
    if not CODE_PATTERN.fullmatch(code):
        return None
    key = _link_cache_key(code)
    cached = cache.get(key)
    if cached is not None:
        return LinkSnapshot(**cached) if cached else None
    link = link_resolve(code)
    snapshot = (
        LinkSnapshot(
            link_id=link.pk,
            organization_id=link.organization_id,
            program_id=link.program_id,
            public_code=link.public_code,
            landing_mode=link.program.landing_mode,
            destination_url=link.program.destination_url,
            window_days=link.program.attribution_window_days,
        )
        if link
        else None
    )
    cache.set(key, asdict(snapshot) if snapshot else {}, LINK_CACHE_TTL)
    return snapshot


def link_cache_forget(*links: ReferralLink) -> None:
    keys = []
    for link in links:
        keys.append(_link_cache_key(link.code))
        if link.vanity_code:
            keys.append(_link_cache_key(link.vanity_code))
    cache.delete_many(keys)


def click_insert(*, snapshot: LinkSnapshot, ip: str, user_agent: str, referer: str) -> None:
    """Store one click with a single INSERT, committed before the visitor gets an answer."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Click._meta.db_table} "  # noqa: S608 - our own table name
            "(organization_id, link_id, at, ip_hash, user_agent, referer) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [
                snapshot.organization_id,
                snapshot.link_id,
                timezone.now(),
                hash_ip(ip),
                (user_agent or "")[:400],
                (referer or "")[:400],
            ],
        )


def click_record(*, link: ReferralLink, ip: str, user_agent: str, referer: str) -> Click:
    return Click.objects.create(
        organization_id=link.organization_id,
        link=link,
        ip_hash=hash_ip(ip),
        user_agent=(user_agent or "")[:400],
        referer=(referer or "")[:400],
    )


# Referrals ------------------------------------------------------------------------------


def fraud_checks(
    *, program: Program, source: ReferralSource, email: str, ip_hash: str = "", user_agent: str = ""
) -> list[str]:
    """The reasons a new referral should wait for review; empty when it looks clean."""
    reasons = []
    email = (email or "").lower()
    own_emails = {
        e.lower() for e in [source.email, source.customer.email if source.customer else ""] if e
    }
    if email and email in own_emails:
        reasons.append("self_referral_email")
    if ip_hash:
        since = timezone.now() - timedelta(days=1)
        own_clicks = Referral.objects.filter(
            source=source, ip_hash=ip_hash, user_agent=user_agent, created_at__gte=since
        )
        # One device, within a day, leaving several different "friends" for one source:
        # most likely the source inventing friends.
        if own_clicks.exclude(friend_email__iexact=email).exists():
            reasons.append("same_device")
    if email and (
        Referral.objects.filter(program=program, friend_email__iexact=email)
        .exclude(status=Referral.Status.REJECTED)
        .exists()
    ):
        reasons.append("duplicate_friend")
    hour_ago = timezone.now() - timedelta(hours=1)
    recent = Referral.objects.filter(source=source, created_at__gte=hour_ago).count()
    if recent >= program.velocity_limit_per_hour:
        reasons.append("velocity")
    return reasons


@transaction.atomic
def referral_create(
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
) -> Referral:
    """Record a new lead from any channel, running the fraud guards first."""
    friend_email = (friend_email or "").strip().lower()
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
    reasons = fraud_checks(
        program=program, source=source, email=friend_email, ip_hash=ip_hash, user_agent=user_agent
    )
    referral = Referral.objects.create(
        organization_id=program.organization_id,
        program=program,
        source=source,
        link=link,
        channel=channel,
        friend_email=friend_email,
        friend_name=friend_name.strip(),
        friend_phone=friend_phone.strip(),
        ip_hash=ip_hash,
        user_agent=(user_agent or "")[:400],
        flagged=bool(reasons),
        flag_reasons=reasons,
    )
    ReferralEvent.record(
        referral,
        from_status="",
        actor=actor,
        label=actor_label or ("" if actor else channel),
        note=("Held for review: " + ", ".join(reasons)) if reasons else "",
    )
    if channel == Channel.EMAIL and friend_email:
        enqueue_on_commit(INTRODUCTION_TASK, referral.pk)
    webhooks.referral_created(referral)
    return referral


@transaction.atomic
def referral_reject(*, referral: Referral, reason: str, actor: User | None) -> Referral:
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
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
    if not referral.flagged:
        return referral
    referral.flagged = False
    referral.save(update_fields=["flagged"])
    ReferralEvent.record(
        referral, from_status=referral.status, actor=actor, label="", note="Approved after review"
    )
    purchases = list(referral.conversions.order_by("occurred_at", "id"))
    for conversion in purchases:
        _apply_conversion(referral, conversion, actor=actor)
    return referral


def _apply_conversion(referral: Referral, conversion: Conversion, *, actor: User | None) -> None:
    """Move the referral along for a conversion and, when it is clean, queue its rewards."""
    if referral.flagged or referral.status == Referral.Status.REJECTED:
        return
    previous = referral.status
    now = timezone.now()
    if conversion.kind == Conversion.Kind.SIGNUP and referral.status == Referral.Status.LEAD:
        referral.status = Referral.Status.SIGNED_UP
        referral.signed_up_at = conversion.occurred_at or now
    elif (
        conversion.kind == Conversion.Kind.PURCHASE and referral.status != Referral.Status.CONVERTED
    ):
        referral.status = Referral.Status.CONVERTED
        referral.converted_at = conversion.occurred_at or now
        if referral.signed_up_at is None:
            referral.signed_up_at = referral.converted_at
    if referral.status != previous:
        referral.save(update_fields=["status", "signed_up_at", "converted_at"])
        ReferralEvent.record(
            referral,
            from_status=previous,
            actor=actor,
            label="",
            note=f"{conversion.get_kind_display()} {conversion.external_id}",
        )
    enqueue_on_commit(REWARD_TASK, conversion.pk)
    webhooks.referral_changed(referral, previous)


@transaction.atomic
def conversion_record(
    *,
    referral: Referral,
    kind: str,
    external_id: str,
    amount: Decimal = Decimal("0"),
    currency: str = "",
    occurred_at=None,
    refund_of_external_id: str = "",
    customer: Customer | None = None,
    actor: User | None = None,
) -> tuple[Conversion, bool]:
    """Record a conversion once. The same external id again returns the first, unchanged."""
    organization = referral.organization
    external_id = (external_id or "").strip()
    if not external_id:
        raise ValidationError({"external_id": "Every event needs its own id (the order number)."})
    existing = Conversion.objects.filter(organization=organization, external_id=external_id).first()
    if existing is not None:
        return existing, False
    if kind not in Conversion.Kind.values:
        raise ValidationError({"kind": "Unknown conversion kind."})
    amount = Decimal(amount or 0)
    if amount < 0:
        raise ValidationError({"amount": "The amount cannot be negative."})
    if kind in (Conversion.Kind.PURCHASE, Conversion.Kind.REFUND) and amount <= 0:
        raise ValidationError({"amount": "A purchase or refund needs an amount above zero."})
    currency = (currency or organization.currency).upper()
    if currency != organization.currency:
        raise ValidationError({"currency": f"This organization works in {organization.currency}."})
    refund_of = None
    if kind == Conversion.Kind.REFUND and refund_of_external_id:
        refund_of = Conversion.objects.filter(
            organization=organization,
            external_id=refund_of_external_id,
            kind=Conversion.Kind.PURCHASE,
        ).first()
        if refund_of is None:
            raise ValidationError({"refund_of": "No purchase with that id."})

    referral = (
        Referral.objects.select_for_update(of=("self",))
        .select_related("source")
        .get(pk=referral.pk)
    )
    if referral.friend_id is None and customer is not None:
        referral.friend = customer
        referral.save(update_fields=["friend"])
    if referral.friend_id is None and referral.friend_email:
        # The friend becomes a known customer at their first event.
        friend, _ = customer_get_or_create(
            organization=organization, email=referral.friend_email, name=referral.friend_name
        )
        referral.friend = friend
        referral.save(update_fields=["friend"])
    if (
        referral.friend_id
        and referral.friend_id == referral.source.customer_id
        and "self_referral_customer" not in referral.flag_reasons
    ):
        # The friend turned out to be the referring customer: hold it for review.
        referral.flagged = True
        referral.flag_reasons = [*referral.flag_reasons, "self_referral_customer"]
        referral.save(update_fields=["flagged", "flag_reasons"])
        ReferralEvent.record(
            referral,
            from_status=referral.status,
            actor=None,
            label="fraud guard",
            note="Held for review: self_referral_customer",
        )
    if referral.friend_id and kind != Conversion.Kind.ADVOCACY:
        Customer.objects.filter(pk=referral.friend_id, is_referred=False).update(is_referred=True)
    is_first = (
        kind == Conversion.Kind.PURCHASE
        and not referral.conversions.filter(kind=Conversion.Kind.PURCHASE).exists()
    )
    try:
        with transaction.atomic():
            conversion = Conversion.objects.create(
                organization=organization,
                referral=referral,
                customer_id=referral.friend_id,
                kind=kind,
                external_id=external_id,
                amount=amount,
                currency=currency,
                is_first_purchase=is_first,
                refund_of=refund_of,
                occurred_at=occurred_at or timezone.now(),
                recorded_by=actor,
            )
    except IntegrityError:
        return Conversion.objects.get(organization=organization, external_id=external_id), False
    _apply_conversion(referral, conversion, actor=actor)
    return conversion, True


# Attribution ----------------------------------------------------------------------------


def _live_link_in(organization: Organization, code: str) -> ReferralLink:
    link = link_resolve(code)
    if link is None or link.organization_id != organization.id:
        # Another organization's code is as unknown here as a code that never existed.
        raise ValidationError({"code": "Unknown or inactive referral code."})
    return link


def _in_window(referral: Referral, occurred_at) -> bool:
    window = timedelta(days=referral.program.attribution_window_days)
    return occurred_at - window <= referral.created_at <= occurred_at + timedelta(minutes=5)


def attribute(
    *,
    organization: Organization,
    customer: Customer | None,
    email: str = "",
    code: str = "",
    cookie_code: str = "",
    occurred_at=None,
) -> Referral | None:
    """The referral an event of this friend belongs to, or None.

    A code given explicitly wins over the attribution cookie's; without either, the friend is
    matched by email or customer to the open referrals whose program window covers the event,
    taking the latest (last touch) or the earliest (first touch) as the program says.
    """
    occurred_at = occurred_at or timezone.now()
    email = (email or (customer.email if customer else "")).strip().lower()
    given = (code or cookie_code or "").strip()
    candidates = Referral.objects.filter(organization=organization).exclude(
        status=Referral.Status.REJECTED
    )
    who = Q()
    if email:
        who |= Q(friend_email__iexact=email)
    if customer is not None:
        who |= Q(friend=customer)
    if given:
        link = _live_link_in(organization, given)
        if who:
            existing = (
                candidates.filter(who, program=link.program, source=link.source)
                .order_by("-created_at")
                .first()
            )
            if existing is not None:
                return existing
        if not email:
            raise ValidationError({"email": "A referral by code needs the friend's email."})
        return referral_create(
            program=link.program,
            source=link.source,
            link=link,
            channel=Channel.API if code else Channel.LINK,
            friend_email=email,
            friend_name=customer.name if customer else "",
            actor_label="referral code",
        )
    if not who:
        return None
    matches = [
        r
        for r in candidates.filter(who).select_related("program").order_by("created_at", "id")
        if _in_window(r, occurred_at)
    ]
    if not matches:
        return None
    latest = matches[-1]
    if latest.program.attribution_model == Program.AttributionModel.FIRST_TOUCH:
        return next(r for r in matches if r.program_id == latest.program_id)
    return latest


@transaction.atomic
def event_record(
    *,
    organization: Organization,
    kind: str,
    external_id: str,
    amount: Decimal = Decimal("0"),
    currency: str = "",
    occurred_at=None,
    email: str = "",
    customer_external_id: str = "",
    name: str = "",
    code: str = "",
    cookie_code: str = "",
    actor: User | None = None,
) -> tuple[Conversion | None, bool]:
    """An event from the business about one of its customers, attributed to its source.

    Returns (conversion, created), or (None, False) when no referral covers the customer.
    The event id is the idempotency key: the same id again returns the first conversion.
    """
    external_id = (external_id or "").strip()
    if not external_id:
        raise ValidationError({"external_id": "Every event needs its own id (the order number)."})
    existing = Conversion.objects.filter(organization=organization, external_id=external_id).first()
    if existing is not None:
        return existing, False
    occurred_at = occurred_at or timezone.now()
    customer = None
    if email or customer_external_id:
        customer, _ = customer_get_or_create(
            organization=organization, email=email, external_id=customer_external_id, name=name
        )
    referral = attribute(
        organization=organization,
        customer=customer,
        email=email,
        code=code,
        cookie_code=cookie_code,
        occurred_at=occurred_at,
    )
    if referral is None:
        return None, False
    if (
        kind == Conversion.Kind.PURCHASE
        and customer is not None
        and customer.first_seen_at < referral.created_at
        and not referral.conversions.exists()
    ):
        # A customer before the referral: no new-customer reward, but the source moved an
        # existing customer to buy again, which is advocacy.
        kind = Conversion.Kind.ADVOCACY
    return conversion_record(
        referral=referral,
        kind=kind,
        external_id=external_id,
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
        customer=customer,
        actor=actor,
    )
