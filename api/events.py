"""
Events from the business (signup, purchase, refund, advocacy) taken in through the API.

A thin layer over the domain's one public entry point, ``referrals.services.event_record``:
it records the event once per event id and attributes it to a referral (or to none). The
rewards a new conversion earns are issued by the Celery task
``rewards.issue_rewards_for_conversion``, queued with the conversion (the outbox) and run
seconds after the commit: the answer says so (``rewards_pending``) and lists the rewards
already issued (none yet for a new event; for an event known before, what it earned). Issuing
them inside the request cost about thirty statements per purchase and held the request on
the reward rules, the credit ledger and the webhooks.

When event recording changes shape (every purchase stored, attributed or not), only this
module needs to follow.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from accounts.models import Customer, Organization
from referrals.models import Conversion, Purchase
from referrals.selectors import event_ids_recorded
from referrals.services import (
    CodeWarning,
    StoredConversion,
    code_warnings,
    event_record,
    events_record_many,
)
from rewards.models import Reward


@dataclass
class EventResult:
    id: str
    type: str
    stored: bool
    duplicate: bool
    customer: int | None
    # A bulk's new conversions come as ``StoredConversion``: the same names, no model.
    conversion: Conversion | StoredConversion | None
    rewards: list[Reward] = field(default_factory=list)
    rewards_pending: bool = False
    # The code or cookie the event came with that could not be used: recorded without it.
    warnings: list[CodeWarning] = field(default_factory=list)

    @property
    def referral(self) -> int | None:
        return self.conversion.referral_id if self.conversion else None

    @property
    def source(self) -> int | None:
        return self.conversion.referral.source_id if self.conversion else None

    @property
    def program(self) -> int | None:
        return self.conversion.referral.program_id if self.conversion else None


def _customer_id(organization: Organization, *, external_id: str, email: str) -> int | None:
    qs = Customer.objects.for_organization(organization)
    if external_id:
        found = qs.filter(external_id=external_id.strip()).values_list("pk", flat=True).first()
        if found:
            return found
    if email:
        return (
            qs.filter(email__iexact=email.strip())
            .order_by("first_seen_at")
            .values_list("pk", flat=True)
            .first()
        )
    return None


SIGNUP = Conversion.Kind.SIGNUP


def _recorded(organization: Organization, ids: list[str]) -> set[str]:
    """Which of these event ids an earlier event recorded (``event_ids_recorded``)."""
    return event_ids_recorded(organization=organization, ids=[i.strip() for i in ids])


def ingest(
    *,
    organization: Organization,
    id: str,
    type: str,
    amount: Decimal = Decimal("0"),
    currency: str = "",
    occurred_at: datetime | None = None,
    customer_external_id: str = "",
    email: str = "",
    name: str = "",
    code: str = "",
    cookie: str = "",
    refund_of: str = "",
) -> EventResult:
    """Record one event, once; say what was stored, where it was attributed, what it earned,
    and which code or cookie it came with could not be used (``warnings``)."""
    warnings: list[CodeWarning] = []
    conversion, created = event_record(
        organization=organization,
        kind=type,
        external_id=id,
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
        email=email,
        customer_external_id=customer_external_id,
        name=name,
        code=code,
        cookie_code=cookie,
        refund_of=refund_of,
        warnings=warnings,
    )
    if conversion is None:  # stored (or known before), credited to no source
        return EventResult(
            id=id,
            type=type,
            stored=created,
            duplicate=not created and (type != SIGNUP or bool(_recorded(organization, [id]))),
            customer=_customer_id(organization, external_id=customer_external_id, email=email),
            conversion=None,
            warnings=warnings,
        )
    if created:
        # Queued with the conversion (``_apply_conversion``) when its referral is credited.
        return EventResult(
            id=id,
            type=type,
            stored=True,
            duplicate=False,
            customer=conversion.customer_id,
            conversion=conversion,
            rewards_pending=conversion.referral.is_credited,
            warnings=warnings,
        )
    known = already_recorded(organization=organization, ids=[id])[id.strip()]
    return replace(known, type=type, warnings=warnings)


def ingest_many(*, organization: Organization, events: list[dict]) -> list[EventResult | None]:
    """Record many events (``ingest``'s arguments each) with a fixed number of statements;
    None for each event the caller must still ``ingest`` itself, one by one, in order
    (``referrals.services.events_record_many`` says which)."""
    recorded = events_record_many(
        organization=organization,
        events=[
            {
                "kind": e["type"],
                "external_id": e["id"],
                "amount": e.get("amount", Decimal("0")),
                "currency": e.get("currency", ""),
                "occurred_at": e.get("occurred_at"),
                "email": e.get("email", ""),
                "customer_external_id": e.get("customer_external_id", ""),
                "name": e.get("name", ""),
                "code": e.get("code", ""),
                "cookie_code": e.get("cookie", ""),
                "refund_of": e.get("refund_of", ""),
            }
            for e in events
        ],
    )
    # A signup nobody referred stores nothing, the first time as every time: known only if
    # its id was recorded by another event.
    silent = [
        e["id"]
        for e, r in zip(events, recorded, strict=True)
        if r is not None and not r.created and r.conversion is None and e["type"] == SIGNUP
    ]
    known = _recorded(organization, silent) if silent else set()
    return [
        None
        if r is None
        else EventResult(
            id=e["id"],
            type=e["type"],
            stored=r.created,
            duplicate=not r.created
            and (e["type"] != SIGNUP or r.conversion is not None or e["id"].strip() in known),
            customer=r.customer_id,
            conversion=r.conversion,
            rewards_pending=r.rewards_queued,
        )
        for e, r in zip(events, recorded, strict=True)
    ]


def known_warnings(
    *, organization: Organization, event: dict, known: EventResult
) -> list[CodeWarning]:
    """The ``warnings`` of an event (``ingest``'s arguments) recorded before (``known``:
    what it recorded), as ``ingest`` answers them when it is sent again."""
    return code_warnings(
        conversion=known.conversion,
        organization=organization,
        kind=event["type"],
        email=event.get("email", ""),
        customer_external_id=event.get("customer_external_id", ""),
        code=event.get("code", ""),
        cookie_code=event.get("cookie", ""),
    )


def already_recorded(*, organization: Organization, ids: list[str]) -> dict[str, EventResult]:
    """The events among ``ids`` recorded before, answered in five queries whatever their
    number (one when none is known): a batch sent again costs almost nothing and creates
    nothing. An event that was stored but credited to no source is a duplicate too, with
    no attribution."""
    wanted = [i.strip() for i in ids]
    if not wanted:
        return {}
    # Which of them are known at all, in one query: a batch of new events stops here.
    wanted = list(event_ids_recorded(organization=organization, ids=wanted))
    if not wanted:
        return {}
    conversions = {
        c.external_id: c
        for c in Conversion.objects.filter(
            organization=organization, external_id__in=wanted
        ).select_related("referral", "purchase")
    }
    unattributed = (
        Purchase.objects.filter(organization=organization, external_id__in=wanted)
        .exclude(external_id__in=list(conversions))
        .values_list("external_id", "kind", "customer_id")
    )
    results = {
        external_id: EventResult(
            id=external_id,
            type=kind,
            stored=False,
            duplicate=True,
            customer=customer_id,
            conversion=None,
        )
        for external_id, kind, customer_id in unattributed
    }
    if not conversions:
        return results
    rewards: dict[int, list[Reward]] = {}
    for reward in Reward.objects.filter(conversion__in=conversions.values()).order_by("id"):
        rewards.setdefault(reward.conversion_id, []).append(reward)  # type: ignore[arg-type]
    results.update(
        {
            external_id: EventResult(
                id=external_id,
                type=c.kind,
                stored=False,
                duplicate=True,
                customer=c.customer_id,
                conversion=c,
                rewards=rewards.get(c.pk, []),
            )
            for external_id, c in conversions.items()
        }
    )
    return results
