"""
Events from the business (signup, purchase, refund, advocacy) taken in through the API.

A thin layer over the domain's one public entry point, ``referrals.services.event_record``:
it records the event once per event id and attributes it to a referral (or to none). The
rewards a new conversion earns are issued here at once, with the same idempotent service
the Celery task ``rewards.issue_rewards_for_conversion`` runs after commit (which then finds
them issued), so the answer can say which rewards the event created.

When event recording changes shape (every purchase stored, attributed or not), only this
module needs to follow.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from accounts.models import Customer, Organization
from referrals.models import Conversion, Purchase
from referrals.services import event_record
from rewards.models import Reward
from rewards.services import issue_rewards_for_conversion


@dataclass
class EventResult:
    id: str
    type: str
    stored: bool
    duplicate: bool
    customer: int | None
    conversion: Conversion | None
    rewards: list[Reward] = field(default_factory=list)

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
    """Record one event, once; say what was stored, where it was attributed, what it earned."""
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
    )
    issued = None
    if conversion is not None and created:
        # After the event committed (its own transaction): if this fails, the task queued
        # on that commit issues the rewards; a retry of the event answers "duplicate".
        issued = issue_rewards_for_conversion(conversion_id=conversion.pk)
    if conversion is None:  # stored (or known before), credited to no source
        return EventResult(
            id=id,
            type=type,
            stored=created,
            duplicate=not created,
            customer=_customer_id(organization, external_id=customer_external_id, email=email),
            conversion=None,
        )
    if issued is None:  # known before: read what it earned then
        issued = list(Reward.objects.filter(conversion=conversion).order_by("id"))
    if not Conversion.referral.is_cached(conversion):
        conversion = Conversion.objects.select_related("referral", "purchase").get(pk=conversion.pk)
    return EventResult(
        id=id,
        type=type,
        stored=created,
        duplicate=not created,
        customer=conversion.customer_id,
        conversion=conversion,
        rewards=issued,
    )


def already_recorded(*, organization: Organization, ids: list[str]) -> dict[str, EventResult]:
    """The events among ``ids`` recorded before, answered in four queries whatever their
    number: a batch sent again costs almost nothing and creates nothing. An event that was
    stored but credited to no source is a duplicate too, with no attribution."""
    wanted = [i.strip() for i in ids]
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
