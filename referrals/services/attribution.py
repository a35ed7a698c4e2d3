"""Events from the business (signup, purchase, refund, advocacy) and the referral each is
credited to."""

from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Customer, Organization, User
from accounts.services import customer_get_or_create

from ..models import Channel, Conversion, Program, Referral, ReferralEvent, ReferralLink
from .links import link_resolve
from .referrals import _apply_conversion, referral_create


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
