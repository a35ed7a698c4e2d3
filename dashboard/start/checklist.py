"""The overview's checklist for a new organization: what is done, from the data itself,
until the first referred purchase (then it goes away)."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef
from django.urls import reverse

from accounts.models import Organization, ReferralSource
from referrals.models import Click, Conversion, Program, Referral, ReferralLink
from rewards.models import Reward, RewardRule


@dataclass(frozen=True)
class Step:
    label: str
    done: bool
    url: str
    action: str


def _exists(model, **filters):
    return Exists(model.objects.filter(organization=OuterRef("pk"), **filters))


def first_hour_checklist(*, organization: Organization) -> list[Step] | None:
    """The steps to a first referred purchase, each ticked from real data (one query), or
    None once the organization has one, or for a test organization."""
    if organization.is_test:
        return None
    facts = (
        Organization.objects.filter(pk=organization.pk)
        .annotate(
            program=_exists(Program),
            rule=_exists(RewardRule, active=True),
            source=_exists(ReferralSource),
            link=_exists(ReferralLink),
            click=_exists(Click),
            lead=_exists(Referral),
            purchase=_exists(Conversion, kind=Conversion.Kind.PURCHASE),
            tested=Exists(Reward.objects.filter(organization__test_of=OuterRef("pk"))),
        )
        .values()
        .get()
    )
    if facts["purchase"]:
        return None
    program = (
        Program.objects.filter(organization=organization).values_list("pk", flat=True).first()
        if facts["program"]
        else None
    )
    start = reverse("start:offer")
    at_program = reverse("referrals:program_detail", args=[program]) if program else start
    sources = reverse("start:sources", args=[program]) if program else start
    rule = reverse("rewards:rule_create", args=[program]) if program else start
    return [
        Step("Create a program with an offer", facts["program"], start, "Start"),
        Step("Say what referrers earn (a reward rule)", facts["rule"], rule, "Add a rule"),
        Step("Add a first source", facts["source"], sources, "Add sources"),
        Step("Give a source a link", facts["link"], at_program, "Create a link"),
        Step("Try the whole flow as a test", facts["tested"], reverse("start:test_run"), "Test"),
        Step("A first click on a link", facts["click"], at_program, "Share your links"),
        Step(
            "A first friend leaves their details",
            facts["lead"],
            reverse("referrals:referral_list"),
            "Referrals",
        ),
        Step("A first referred purchase", False, reverse("referrals:event_create"), "Record one"),
    ]
