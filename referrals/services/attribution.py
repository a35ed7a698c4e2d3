"""
Events from the business (signups, purchases, refunds, advocacy) and who is credited with them.

The rules (``docs/attribution.md`` tells them with examples):

1. Every purchase and refund of every customer is stored (a ``Purchase``), referred or not,
   once per event id: the same id again returns what was recorded and changes nothing.
   A purchase no referral covers is still a purchase of that customer.
2. The attribution window decides who won a customer, once. The window (with first or last
   touch) applies to the event that makes a friend a customer, their first purchase; from
   then on every later purchase, refund and advocacy event of that customer belongs to the
   same referral and source for the whole relationship, whatever its date.
3. A customer known before a referral (first seen before it was made) is never won by it:
   their purchases inside its window are advocacy for its source; none is a first purchase,
   no new-customer reward is due, the customer does not become referred.
4. Each purchase is credited to one source at most: an advocacy referral whose window covers
   the purchase takes it (the latest touch explains it); otherwise the referral that won the
   customer; otherwise no one.
5. A refund names the order it refunds, is never larger than what is left of it, and follows
   that order's attribution: the rewards the order earned are taken back in proportion
   (``rewards.services.reward_void_for_refund``: voided in the hold, clawed back after).
6. ``event_record`` (the event form, the API) and ``conversion_record`` (a referral's page)
   run the same code, so both give the same result.

Bad input raises a ValidationError on the field at fault before anything is written.

Concurrency: an event is recorded in one transaction, and the events of one customer one at a
time (the customer's row is locked; a referral code locks its source first). Customers are
created through their unique constraints, so N deliveries of one event racing each other
leave one customer, one referral, one purchase, one conversion and one reward task.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Customer, Organization, ReferralSource, User
from accounts.selectors import customer_find
from accounts.services import customer_get_or_create
from core.money import format_money

from ..models import (
    Channel,
    Conversion,
    Program,
    Purchase,
    Referral,
    ReferralEvent,
    ReferralLink,
)
from ..selectors import event_ids_recorded
from .links import (
    CODE_NEEDS_EMAIL,
    CODE_NOT_LIVE,
    CODE_PATTERN,
    NOT_LIVE_TEXT,
    CodeWarning,
    cookie_code_checked,
    link_resolve,
)
from .referrals import (
    EMAIL_TOO_LONG,
    MAX_EMAIL_LENGTH,
    _apply_conversion,
    friend_name_problem,
    mailbox,
    own_mailboxes,
    referral_create,
)

if TYPE_CHECKING:
    from .attribution_bulk import StoredConversion

CLOCK_SKEW = timedelta(minutes=5)  # an event may be stamped a little before its referral
MAX_AMOUNT = Decimal("999999999999.99")  # 14 digits, 2 places


def _friend_name_of(customer: Customer | None) -> str:
    name = (customer.name if customer else "").strip()
    return "" if friend_name_problem(name) else name


class _AlreadyRecorded(Exception):
    """A concurrent delivery of the same event won the race: undo everything of this one."""


def _replayed(organization: Organization, external_id: str, race: _AlreadyRecorded):
    recorded, conversion = _already_recorded(organization, external_id)
    if not recorded:  # not a replay after all: some other constraint failed
        raise race.__cause__ or race
    return conversion, False


@dataclass(frozen=True)
class _Event:
    organization: Organization
    kind: str
    external_id: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    refund_of: Purchase | None
    actor: User | None


# Entry points ---------------------------------------------------------------------------


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
    refund_of: str = "",
    actor: User | None = None,
    warnings: list[CodeWarning] | None = None,
) -> tuple[Conversion | None, bool]:
    """Record an event from the business about one of its customers, credited to its source.

    The customer is named by email and/or the business's id (a refund may name only the
    order it refunds, ``refund_of``). ``code`` (given by the customer) wins over
    ``cookie_code`` (the attribution cookie's value as the browser carried it, or a bare
    code), which wins over matching by customer.

    A code or cookie that cannot be used (unknown here, its program or source not live, a
    cookie Advocate did not sign or past its window, a code for a friend without an email)
    never refuses the event: it is recorded as if that code had not been given (the cookie
    is tried after a dead code; then the customer is matched as without a code), and a
    ``CodeWarning`` saying so is appended to ``warnings`` (when given). The same event sent
    again is told the same.

    Returns ``(conversion, created)``: the conversion is the event's attribution, or None
    when no source is credited (the purchase is stored all the same); ``created`` is False
    when the event id was recorded before, and then nothing changed.
    """
    email = (email or "").strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValidationError({"email": EMAIL_TOO_LONG})
    event = _clean_event(
        organization=organization,
        kind=kind,
        external_id=external_id,
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
        refund_of=refund_of,
        actor=actor,
    )
    customer_external_id = (customer_external_id or "").strip()
    found: list[CodeWarning] = []  # whether the code is live: known before anything is written
    link, param = None, ""
    if event.kind != Conversion.Kind.REFUND:  # a refund follows its order, whatever the code
        link, param = _usable_link(organization, code=code, cookie_code=cookie_code, found=found)
    unused: list[CodeWarning] = []  # whether a live code could be used: decided with the event

    def write():
        unused.clear()  # a write undone by a race is answered as a replay
        return _record(
            event,
            email=email,
            customer_external_id=customer_external_id,
            name=(name or "").strip(),
            link=link,
            param=param,
            warnings=unused,
        )

    def replay(conversion: Conversion | None):
        # Recorded before: told what any replay of it is told (``code_warnings``).
        found[:] = code_warnings(
            organization=organization,
            kind=event.kind,
            email=email,
            customer_external_id=customer_external_id,
            code=code,
            cookie_code=cookie_code,
            conversion=conversion,
        )
        unused.clear()

    result = _once(event, write, replay=replay)
    if warnings is not None:
        warnings.extend([*found, *unused])
    return result


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
) -> tuple[Conversion | None, bool]:
    """Record an event of a referral's friend, from the referral's page.

    The referral names the customer (``customer`` when given, else its friend, found or
    made from the friend's email, name and phone); the event then goes through exactly
    the same rules as ``event_record``, so it may be credited to another referral of the
    customer (the one that won them, or a later advocacy touch) or to none.
    """
    organization = referral.organization
    event = _clean_event(
        organization=organization,
        kind=kind,
        external_id=external_id,
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
        refund_of=refund_of_external_id,
        actor=actor,
    )
    return _once(
        event,
        lambda: _record(
            event,
            customer=_friend_of(referral, customer=customer, occurred_at=event.occurred_at),
        ),
    )


def code_warnings(
    *,
    organization: Organization,
    kind: str,
    email: str = "",
    customer_external_id: str = "",
    code: str = "",
    cookie_code: str = "",
    conversion: "Conversion | StoredConversion | None" = None,
) -> list[CodeWarning]:
    """What ``event_record`` tells an event recorded before about the code and cookie it
    came with (``warnings``), read only: for answering a known event without recording.
    ``conversion`` is what the event recorded: a code it was credited through was used,
    even if it no longer works now."""
    if kind == Conversion.Kind.REFUND or not ((code or "").strip() or (cookie_code or "").strip()):
        return []
    if _code_credited(organization, code, cookie_code, conversion):
        return []
    found: list[CodeWarning] = []
    link, param = _usable_link(organization, code=code, cookie_code=cookie_code, found=found)
    return [
        *found,
        *_code_unused(
            organization,
            link,
            param,
            email=(email or "").strip().lower(),
            customer_external_id=(customer_external_id or "").strip(),
        ),
    ]


def _code_credited(organization: Organization, code: str, cookie_code: str, conversion) -> bool:
    """Whether the event was credited (``conversion``, a recorded one) to the source and
    program of its code or cookie's code, live or not now: then it was used when the event
    was recorded (a cookie's window may have ended since, its program been paused)."""
    referral = getattr(conversion, "referral", None) if conversion is not None else None
    if referral is None:
        return False
    codes = {(code or "").strip().lower(), (cookie_code or "").strip().split(":", 1)[0].lower()}
    codes = {c for c in codes if c and CODE_PATTERN.fullmatch(c)}
    if not codes:
        return False
    return ReferralLink.objects.filter(
        Q(code__in=codes) | Q(vanity_code__in=codes),
        organization=organization,
        source_id=referral.source_id,
        program_id=referral.program_id,
    ).exists()


def _once(event: "_Event", write, replay=None) -> tuple[Conversion | None, bool]:
    """Run ``write`` for an event not recorded before, in one transaction; a delivery that
    loses a race to record the same event id answers what the winner recorded. ``replay``
    (when given) is called with what was recorded when the event is answered as recorded
    before."""
    recorded, conversion = _already_recorded(event.organization, event.external_id)
    if not recorded:
        try:
            with transaction.atomic():
                return write()
        except _AlreadyRecorded as race:
            conversion, _ = _replayed(event.organization, event.external_id, race)
    if replay is not None:
        replay(conversion)
    return conversion, False


# Checking an event before anything is written --------------------------------------------


_KINDS = frozenset(Conversion.Kind.values)


def _clean_event(
    *,
    organization: Organization,
    kind: str,
    external_id: str,
    amount,
    currency: str,
    occurred_at,
    refund_of: str,
    actor: User | None,
) -> _Event:
    errors: dict[str, str] = {}
    external_id = (external_id or "").strip()
    if not external_id:
        errors["external_id"] = "Every event needs its own id (the order number)."
    elif len(external_id) > 200:
        errors["external_id"] = "An event id has at most 200 characters."
    if kind not in _KINDS:
        errors["kind"] = "Unknown kind of event."
    try:
        amount = Decimal(amount if amount not in (None, "") else 0)
    except (InvalidOperation, TypeError, ValueError):
        errors["amount"] = "The amount is not a number."
        amount = Decimal(0)
    if "amount" not in errors:
        if not amount.is_finite() or amount < 0:
            errors["amount"] = "The amount cannot be negative."
        elif amount != amount.quantize(Decimal("0.01")):
            errors["amount"] = "The amount has at most two decimals (cents)."
        elif amount > MAX_AMOUNT:
            errors["amount"] = "The amount is too large."
        elif kind != Conversion.Kind.SIGNUP and amount == 0:
            errors["amount"] = "A purchase, refund or advocacy needs an amount above zero."
        elif kind == Conversion.Kind.SIGNUP and amount:
            errors["amount"] = "A signup has no amount."
    currency = (currency or organization.currency).strip().upper()
    if currency != organization.currency:
        errors["currency"] = f"This organization works in {organization.currency}, not {currency}."
    now = timezone.now()
    occurred_at = occurred_at or now
    if timezone.is_naive(occurred_at):
        errors["occurred_at"] = "Give the time with its time zone."
    elif occurred_at > now + CLOCK_SKEW:
        errors["occurred_at"] = "The event cannot be in the future."
    order = None
    refund_of = (refund_of or "").strip()
    if kind == Conversion.Kind.REFUND:
        if not refund_of:
            errors["refund_of"] = "A refund names the order it refunds."
        else:
            order = (
                Purchase.objects.filter(
                    organization=organization,
                    external_id=refund_of,
                    kind=Purchase.Kind.PURCHASE,
                )
                .select_related("customer")
                .first()
            )
            if order is None:
                errors["refund_of"] = f"No order {refund_of} was recorded."
            elif "occurred_at" not in errors and occurred_at < order.occurred_at:
                errors["occurred_at"] = f"A refund cannot come before its order {refund_of}."
    elif refund_of:
        errors["refund_of"] = "Only a refund names a refunded order."
    if errors:
        raise ValidationError(errors)
    return _Event(
        organization=organization,
        kind=kind,
        external_id=external_id,
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
        refund_of=order,
        actor=actor,
    )


def _already_recorded(
    organization: Organization, external_id: str
) -> tuple[bool, Conversion | None]:
    """Whether the event id was recorded, and its conversion if a source is credited.
    One query for an event not seen before."""
    if not event_ids_recorded(organization=organization, ids=[external_id]):
        return False, None
    purchase = (
        Purchase.objects.filter(organization=organization, external_id=external_id)
        .select_related("conversion")
        .first()
    )
    if purchase is not None:
        return True, getattr(purchase, "conversion", None)
    conversion = Conversion.objects.filter(
        organization=organization, external_id=external_id
    ).first()
    return conversion is not None, conversion


# Recording ------------------------------------------------------------------------------


def _record(
    event: _Event,
    *,
    customer: Customer | None = None,
    email: str = "",
    customer_external_id: str = "",
    name: str = "",
    link: ReferralLink | None = None,
    param: str = "code",
    warnings: list[CodeWarning] | None = None,
) -> tuple[Conversion | None, bool]:
    """Record one clean event inside the caller's transaction. Raises _AlreadyRecorded when a
    concurrent delivery of the same event id got there first. ``link`` is the live link of
    the code the event came with (in ``param``), if any."""
    if event.kind == Conversion.Kind.REFUND:
        return _record_refund(
            event, customer=customer, email=email, customer_external_id=customer_external_id
        )
    organization = event.organization
    named = customer is None
    locked = False
    if named:
        if not email and not customer_external_id:
            raise ValidationError({"email": "Give the customer's email or id."})
        if link is not None:
            # A code locks its source first (attribute): the customer after it, below.
            customer = customer_find(
                organization=organization, email=email, external_id=customer_external_id
            )
        else:
            # Found and locked at once (what customer_find finds), as it is locked below.
            customer = _find_locked(organization, email=email, external_id=customer_external_id)
            locked = customer is not None
    touch = attribute(
        organization=organization,
        customer=customer,
        email=email,
        link=link,
        param=param,
        occurred_at=event.occurred_at,
        warnings=warnings,
    )
    created = False
    if named:
        # Found (its blanks filled in from the event), or first seen at this event: then
        # not before the referral that brought them.
        first_seen = max(event.occurred_at, touch.created_at) if touch else event.occurred_at
        customer, created = customer_get_or_create(
            organization=organization,
            email=email,
            external_id=customer_external_id,
            name=name,
            first_seen_at=min(first_seen, timezone.now()),
            found=customer,  # customer_find above, with the same email and id
        )
    assert customer is not None  # found or made above  # noqa: S101
    if not (locked or created):  # a customer this transaction inserted is its own
        customer = _lock_customer(customer)
    # A concurrent delivery of this event that committed meanwhile is found by the unique
    # constraints on the purchase and the conversion below (_AlreadyRecorded): all of this
    # transaction is then undone, so no second look-up is needed here.
    # Known before the referral: first seen (before this event) before it was made.
    known_before = not created and touch is not None and customer.first_seen_at < touch.created_at
    if event.occurred_at < customer.first_seen_at:
        # The customer was seen earlier than we knew: this event is the earliest evidence.
        customer.first_seen_at = event.occurred_at
        customer.save(update_fields=["first_seen_at"])
    referral, kind, is_first = _credit(
        event, customer, touch, known_before=known_before, new_customer=created
    )
    purchase = None
    if event.kind != Conversion.Kind.SIGNUP:
        purchase = _store_purchase(event, customer, kind=Purchase.Kind.PURCHASE)
    if referral is None:
        return None, purchase is not None
    conversion = _attribute_to(
        event, referral, customer=customer, purchase=purchase, kind=kind, is_first=is_first
    )
    return conversion, True


def _credit(
    event: _Event,
    customer: Customer,
    touch: Referral | None,
    *,
    known_before: bool,
    new_customer: bool = False,
) -> tuple[Referral | None, str, bool]:
    """Which referral the event is credited to, as what kind, and whether it wins the
    customer (rules 2 to 4 of the module's docstring). A customer made by this event has
    won nothing yet."""
    won = None if new_customer else _winning_purchase(customer)
    if won is not None:
        if touch is not None and touch.pk != won.referral_id and known_before:
            return touch, _advocacy_or_signup(event), False
        if event.occurred_at + CLOCK_SKEW >= won.referral.created_at:
            # Whatever its date, even before the winning order if it arrives late.
            return won.referral, event.kind, False
        return None, event.kind, False  # dated before the referral was made: not its own
    if touch is None:
        return None, event.kind, False
    if (
        event.kind == Conversion.Kind.PURCHASE
        and not known_before
        and not touch.conversions.filter(is_first_purchase=True).exists()
    ):
        return touch, Conversion.Kind.PURCHASE, True
    return touch, _advocacy_or_signup(event), False


def _advocacy_or_signup(event: _Event) -> str:
    if event.kind == Conversion.Kind.SIGNUP:
        return Conversion.Kind.SIGNUP
    return Conversion.Kind.ADVOCACY


def _winning_purchase(customer: Customer) -> Conversion | None:
    """The conversion that won the customer (their first purchase), unless its referral was
    rejected."""
    return (
        Conversion.objects.filter(customer=customer, is_first_purchase=True)
        .exclude(referral__status=Referral.Status.REJECTED)
        .select_related("referral")
        .order_by("occurred_at", "id")
        .first()
    )


def _record_refund(
    event: _Event, *, customer: Customer | None, email: str, customer_external_id: str
) -> tuple[Conversion | None, bool]:
    """A refund follows the order it refunds: same customer, same referral and source."""
    order = event.refund_of
    assert order is not None  # a refund event always names its order  # noqa: S101
    named = customer is not None or email or customer_external_id
    if customer is None and named:
        customer = customer_find(
            organization=event.organization, email=email, external_id=customer_external_id
        )
    if named and (customer is None or customer.pk != order.customer_id):
        raise ValidationError(
            {"refund_of": f"Order {order.external_id} is another customer's purchase."}
        )
    _lock_customer(order.customer)  # refunds of one order one at a time: none overdraws it
    if _already_recorded(event.organization, event.external_id)[0]:
        raise _AlreadyRecorded
    left = order.amount - order.refunded()
    if event.amount > left:
        raise ValidationError(
            {
                "amount": f"Only {format_money(left, order.currency)} of order {order.external_id} "
                "is left to refund."
            }
        )
    refund = _store_purchase(event, order.customer, kind=Purchase.Kind.REFUND, refund_of=order)
    credited = Conversion.objects.filter(purchase=order).select_related("referral").first()
    if credited is None:
        return None, True
    conversion = _attribute_to(
        event,
        credited.referral,
        customer=order.customer,
        purchase=refund,
        kind=Conversion.Kind.REFUND,
        is_first=False,
    )
    return conversion, True


def _store_purchase(
    event: _Event, customer: Customer, *, kind: str, refund_of: Purchase | None = None
) -> Purchase:
    try:
        # No savepoint: a unique-constraint error undoes the whole event (_once's atomic
        # block, which _AlreadyRecorded leaves), so there is nothing to keep here.
        with transaction.atomic(savepoint=False):
            return Purchase.objects.create(
                organization=event.organization,
                customer=customer,
                kind=kind,
                external_id=event.external_id,
                amount=event.amount,
                currency=event.currency,
                refund_of=refund_of,
                occurred_at=event.occurred_at,
                recorded_by=event.actor,
            )
    except IntegrityError as error:
        raise _AlreadyRecorded from error


def _attribute_to(
    event: _Event,
    referral: Referral,
    *,
    customer: Customer,
    purchase: Purchase | None,
    kind: str,
    is_first: bool,
) -> Conversion:
    """Credit the event to the referral (and its source), and move the referral along."""
    referral = (
        Referral.objects.select_for_update(of=("self",))
        .select_related("source__customer")
        .get(pk=referral.pk)
    )
    unsaved = []
    if referral.friend_id is None:
        referral.friend = customer
        unsaved.append("friend")  # saved with the referral's progress below
    _hold_self_referral(referral, unsaved, customer=customer)
    try:
        with transaction.atomic(savepoint=False):  # as in _store_purchase
            conversion = Conversion.objects.create(
                organization=event.organization,
                referral=referral,
                source_id=referral.source_id,
                customer=customer,
                purchase=purchase,
                kind=kind,
                external_id=event.external_id,
                is_first_purchase=is_first,
                occurred_at=event.occurred_at,
                recorded_by=event.actor,
            )
    except IntegrityError as error:
        raise _AlreadyRecorded from error
    _apply_conversion(referral, conversion, actor=event.actor, unsaved=unsaved)
    return conversion


def is_source_itself(referral: Referral, customer: Customer) -> bool:
    """Whether the referral's friend, this customer, is its source: the source's own
    customer record, or another record of the source's mailbox (the business knows the
    same person twice). A referral already held for the source's own email is not asked."""
    if referral.friend_id is None or referral.friend_id != customer.pk:
        return bool(referral.friend_id) and referral.friend_id == referral.source.customer_id
    if customer.pk == referral.source.customer_id:
        return True
    return (
        bool(customer.email)
        and "self_referral_email" not in referral.flag_reasons
        and mailbox(customer.email) in own_mailboxes(referral.source)
    )


def _hold_self_referral(referral: Referral, unsaved: list[str], *, customer: Customer) -> None:
    """The friend turned out to be the referring customer: hold the referral for review."""
    if "self_referral_customer" not in referral.flag_reasons and is_source_itself(
        referral, customer
    ):
        # A test organization's guards report and never hold.
        test = Organization.objects.filter(pk=referral.organization_id, test_of__isnull=False)
        held = not test.exists()
        referral.flagged = referral.flagged or held
        referral.flag_reasons = [*referral.flag_reasons, "self_referral_customer"]
        referral.save(update_fields=["flagged", "flag_reasons", *unsaved])
        unsaved.clear()
        prefix = "Held for review: " if held else "Test: the fraud rules would have held it: "
        ReferralEvent.record(
            referral,
            from_status=referral.status,
            actor=None,
            label="fraud guard",
            note=prefix + Referral.FLAG_REASON_TEXT["self_referral_customer"],
        )


# Customers ------------------------------------------------------------------------------


def _lock_customer(customer: Customer) -> Customer:
    return Customer.objects.select_for_update().get(pk=customer.pk)


def _find_locked(organization: Organization, *, email: str, external_id: str) -> Customer | None:
    """``customer_find``, with the customer's row locked (and read after the lock)."""
    return customer_find(organization=organization, email=email, external_id=external_id, lock=True)


def _friend_of(referral: Referral, *, customer: Customer | None, occurred_at) -> Customer:
    """The customer a referral's page records events for, linked to the referral."""
    if customer is not None and customer.organization_id != referral.organization_id:
        raise ValidationError({"customer": "Unknown customer."})
    referral = Referral.objects.select_for_update(of=("self",)).get(pk=referral.pk)
    if customer is None and referral.friend is not None:
        return referral.friend
    if customer is None and referral.friend_email:
        customer, _ = customer_get_or_create(
            organization=referral.organization,
            email=referral.friend_email,
            name=referral.friend_name,
            phone=referral.friend_phone,
            first_seen_at=min(max(occurred_at, referral.created_at), timezone.now()),
        )
    elif customer is None:
        # Introduced by phone or in person, known by name only: the friend becomes a
        # customer record of their own at their first event.
        customer = Customer.objects.create(
            organization_id=referral.organization_id,
            name=referral.friend_name,
            phone=referral.friend_phone,
            first_seen_at=min(max(occurred_at, referral.created_at), timezone.now()),
        )
    if referral.friend_id is None:
        referral.friend = customer
        referral.save(update_fields=["friend"])
    return customer


# Attribution ----------------------------------------------------------------------------


def _live_link_in(organization: Organization, code: str) -> ReferralLink | None:
    """The live link of this code in the organization, or None. Another organization's code
    is as unknown here as a code that never existed; so is the code of a source whose kind
    its program no longer accepts (``referral_create`` would refuse its referral, and the
    purchase must not be refused with it)."""
    link = link_resolve(code)
    if link is None or link.organization_id != organization.id:
        return None
    if link.source.kind not in (link.program.allowed_source_kinds or []):
        return None
    return link


def _usable_link(
    organization: Organization, *, code: str, cookie_code: str, found: list[CodeWarning]
) -> tuple[ReferralLink | None, str]:
    """The live link of the code an event came with, and the field it came in ("code" or
    "cookie"), or (None, ""). ``code`` wins over the cookie; a code that is not live here is
    set aside with a warning in ``found`` and the cookie is tried next. The cookie is its
    value as the browser carried it (its signature and age checked) or a bare code."""
    code = (code or "").strip()
    if code:
        link = _live_link_in(organization, code)
        if link is not None:
            return link, "code"
        found.append(CodeWarning("code", CODE_NOT_LIVE, NOT_LIVE_TEXT))
    if (cookie_code or "").strip():
        carried, warning = cookie_code_checked(cookie_code)
        link = _live_link_in(organization, carried) if warning is None else None
        if link is not None:
            return link, "cookie"
        found.append(warning or CodeWarning("cookie", CODE_NOT_LIVE, NOT_LIVE_TEXT))
    return None, ""


def _needs_email(param: str) -> CodeWarning:
    return CodeWarning(
        param,
        CODE_NEEDS_EMAIL,
        "A referral by code needs the friend's email: the event was recorded without the code.",
    )


def _candidates(organization: Organization):
    return Referral.objects.filter(organization=organization).exclude(
        status=Referral.Status.REJECTED
    )


def _who(email: str, customer: Customer | None) -> Q:
    who = Q()
    if email:
        who |= Q(friend_email__iexact=email)
    if customer is not None:
        who |= Q(friend=customer)
    return who


def _source_referral(organization: Organization, who: Q, link: ReferralLink) -> Referral | None:
    """The latest referral of the link's source and program of this friend (``who``)."""
    if not who:
        return None
    return (
        _candidates(organization)
        .filter(who, program=link.program, source=link.source)
        .order_by("-created_at", "-id")
        .first()
    )


def _code_unused(
    organization: Organization,
    link: ReferralLink | None,
    param: str,
    *,
    email: str,
    customer_external_id: str,
) -> list[CodeWarning]:
    """For an event answered as recorded before: whether its live code could not be used for
    want of the friend's email (``attribute`` decides it so when the event is recorded)."""
    if link is None or email:
        return []
    customer = customer_find(organization=organization, email="", external_id=customer_external_id)
    if customer is not None and customer.email:
        return []
    if _source_referral(organization, _who(customer.email if customer else "", customer), link):
        return []
    return [_needs_email(param)]


def _in_window(referral: Referral, occurred_at) -> bool:
    window = timedelta(days=referral.program.attribution_window_days)
    return occurred_at - window <= referral.created_at <= occurred_at + CLOCK_SKEW


def attribute(
    *,
    organization: Organization,
    customer: Customer | None,
    email: str = "",
    link: ReferralLink | None = None,
    param: str = "code",
    occurred_at=None,
    warnings: list[CodeWarning] | None = None,
) -> Referral | None:
    """The referral that explains an event of this customer (its touch), or None.

    ``link`` is the live link of a code the event came with (``param`` says whether it was
    given by the customer, "code", or read from the attribution cookie, "cookie"). A code
    is a touch at the event itself, so the source's referral of the customer is found,
    whatever its age, or made (dated at the event). It cannot make one for a friend without
    an email: then it is set aside (a warning appended to ``warnings``) and the event goes
    on as without it.
    Without a code, the customer is matched by email or customer to the referrals (not
    rejected) whose program window covers the event, taking the latest (last touch) or the
    earliest of the latest's program (first touch), as the program says.

    This is the touch only: whether it wins the customer, is advocacy, or gives way to the
    referral that won the customer before is decided by the caller (``event_record``).
    """
    occurred_at = occurred_at or timezone.now()
    email = (email or (customer.email if customer else "")).strip().lower()
    who = _who(email, customer)
    if link is not None:
        # One referral per source and friend however many deliveries race: the source's
        # row lock (which referral_create takes too) serializes them, and the lookup
        # after it sees the referral a concurrent delivery committed.
        ReferralSource.objects.select_for_update().filter(pk=link.source_id).first()
        existing = _source_referral(organization, who, link)
        if existing is not None:
            return existing
        if email:
            referral = referral_create(
                program=link.program,
                source=link.source,
                link=link,
                channel=Channel.API if param == "code" else Channel.LINK,
                friend_email=email,
                # The business's own customer record: a name it keeps that is no friend's
                # name by our rules (a company's "shop.example") leaves the referral nameless
                # rather than refusing the event.
                friend_name=_friend_name_of(customer),
                actor_label="referral code",
            )
            if occurred_at < referral.created_at:
                # The code was given at the event: that is when the source touched the friend.
                referral.created_at = occurred_at
                referral.save(update_fields=["created_at"])
            return referral
        if warnings is not None:
            warnings.append(_needs_email(param))
    if not who:
        return None
    matches = [
        r
        for r in _candidates(organization)
        .filter(who)
        .select_related("program")
        .order_by("created_at", "id")
        if _in_window(r, occurred_at)
    ]
    if not matches:
        return None
    latest = matches[-1]
    if latest.program.attribution_model == Program.AttributionModel.FIRST_TOUCH:
        return next(r for r in matches if r.program_id == latest.program_id)
    return latest
