"""Test mode: an organization's test twin, where its owner runs the whole flow (link, lead,
purchase, reward, email) as a test.

The twin is an organization of its own (``Organization.test_of``), so the rule "a test
never counts and is never paid" holds by tenancy rather than by a filter every query must
remember: no overview, source page, CSV export or API call of the real organization can
see a test record, because none is in it. Inside the twin:

- the programs and active reward rules are copies of the real organization's, refreshed
  each time a test starts (the real programs are never touched; a draft program can be
  tried before it goes live), with no hold, so the reward and its email come at once;
- the owner is a test source (their own email, so the reward email comes to them) with a
  link into every program;
- the fraud guards report what they would have done and never hold
  (``referrals.services.referrals.referral_create``);
- payouts are refused (``payout_request``) and no batch pays anyone (``sources_to_pay``).

Every page of the twin carries a "Test" banner, and its name ends in "(test)", which the
emails it sends name too.
"""

from django.db import transaction

from accounts.models import Organization, ReferralSource, SourceKind, User
from accounts.services import test_twin_get_or_create
from referrals.models import Program, ReferralLink
from referrals.services import link_get_or_create

from ..models import RewardRule

PROGRAM_COPIED = [
    f.name
    for f in Program._meta.concrete_fields
    if f.name not in ("id", "organization", "status", "created_at", "allowed_source_kinds")
]
RULE_COPIED = [
    f.name
    for f in RewardRule._meta.concrete_fields
    if f.name not in ("id", "organization", "program", "created_at", "active", "hold_days")
]


def twin_of(organization: Organization) -> Organization | None:
    """The organization's test twin, if a test was ever started."""
    return Organization.objects.filter(test_of=organization).first()


@transaction.atomic
def start_test_mode(
    *, organization: Organization, user: User
) -> tuple[Organization, list[ReferralLink]]:
    """The organization's test twin, in step with its programs and rules, with ``user`` as
    its test source and owner; returns the twin and the test source's links."""
    twin = test_twin_get_or_create(organization=organization, owner=user)
    source, _ = ReferralSource.objects.get_or_create(
        organization=twin,
        email=user.email,
        defaults={"name": f"{user.get_short_name()} (test)", "kind": SourceKind.CUSTOMER},
    )
    links = []
    for program in Program.objects.filter(organization=organization).exclude(
        status=Program.Status.ENDED
    ):
        copy = _copy_program(program, twin)
        links.append(link_get_or_create(program=copy, source=source))
    # A copy whose program was renamed or ended since the last test run is put to rest.
    stale = Program.objects.filter(organization=twin, status=Program.Status.ACTIVE)
    for copy in stale.exclude(pk__in=[link.program_id for link in links]):
        copy.status = Program.Status.PAUSED
        copy.save(update_fields=["status"])  # saved one by one: the link cache follows
    return twin, links


def _copy_program(program: Program, twin: Organization) -> Program:
    fields = {name: getattr(program, name) for name in PROGRAM_COPIED}
    fields["allowed_source_kinds"] = list(SourceKind.values)
    # The test runs through the landing page even when the real program redirects.
    fields["landing_mode"] = Program.LandingMode.LANDING_PAGE
    copy = Program.objects.filter(organization=twin, name=program.name).first()
    if copy is None:
        copy = Program.objects.create(organization=twin, status=Program.Status.ACTIVE, **fields)
    else:
        for name, value in fields.items():
            setattr(copy, name, value)
        copy.status = Program.Status.ACTIVE
        copy.save()
    wanted = [_rule_fields(rule) for rule in program.reward_rules.filter(active=True)]
    current = list(copy.reward_rules.filter(active=True))
    if [_rule_fields(rule) for rule in current] != wanted:
        # Rules already rewarded cannot go (rewards keep them): retire them, add the copies.
        copy.reward_rules.filter(active=True).update(active=False)
        for fields_of_rule in wanted:
            RewardRule.objects.create(
                organization=twin, program=copy, hold_days=0, active=True, **fields_of_rule
            )
    return copy


def _rule_fields(rule: RewardRule) -> dict:
    return {name: getattr(rule, name) for name in RULE_COPIED}
