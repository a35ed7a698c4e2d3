"""
The demo seeder: builds Northbank, a demo retail bank, so the dashboard has shape.

Everything generated comes from one ``random.Random(seed)`` and from ``timezone.now()``
truncated to the day, so the same flags on the same day give the same rows: tests can
compare two runs, and a benchmark at a million customers measures the same data each time.

The seeder writes rows directly (``demo/writer.py``: COPY on PostgreSQL, ``bulk_create``
on SQLite) instead of going through the services (``referral_create``,
``conversion_record``, ``reward_approve``...), because the services do several queries per
row and queue Celery tasks: fine for one referral, hours for a million. The rows it writes
keep the invariants the services keep: a lot's ledger entries sum to what is left of it, a
source's payout balance is what its approved cash rewards are still owed, a payout carries
exactly the rewards it paid, one reward per rule and conversion, every idempotency key
(purchase and conversion external ids, ledger and balance keys) unique.

``customers`` counts every customer, including the long-standing customers who refer
(first seen before the year shown); the rest arrive over the last twelve months. Like a
bank's, most customers were not referred, and they buy too: their purchases are stored
(credited to no source), the baseline referred customers are compared with.
"""

import base64
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from allauth.account.models import EmailAddress
from django.db import reset_queries, transaction
from django.utils import timezone

from accounts.models import (
    Customer,
    InsiderContribution,
    Invitation,
    Membership,
    Organization,
    ReferralSource,
    Role,
    SourceKind,
    User,
)
from referrals.models import (
    CODE_ALPHABET,
    CODE_LENGTH,
    Channel,
    Click,
    Conversion,
    Program,
    Purchase,
    Referral,
    ReferralEvent,
    ReferralLink,
)
from referrals.services import program_create
from rewards.models import (
    CreditAccount,
    CreditLot,
    GiftCard,
    LedgerEntry,
    Payout,
    PayoutBalanceEntry,
    Reward,
    RewardRule,
)
from rewards.services import rule_create

from .data import (
    ANALYST_EMAIL,
    BATCH_SIZE,
    BRANCHES,
    CENT,
    CHANNEL_WEIGHTS,
    CURRENCY,
    CUSTOMERS_PER_CHUNK,
    DEMO_PASSWORD,
    DEMO_SLUG,
    DUPLICATE_REASON,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    FLAG_EVERY,
    FLAG_REASONS,
    FRIENDS_PROGRAM_SHARE,
    INSURANCE_AGENCIES,
    INTERMEDIARY_FIRMS,
    KIND_WEIGHT,
    LAST_NAMES,
    OTHER_PURCHASE_WEIGHTS,
    OWNER_EMAIL,
    PARTNERS,
    PAYOUT_HOUR,
    REDEEM_AMOUNTS,
    REFERRED_PURCHASE_WEIGHTS,
    REFERRED_SHARE,
    REFUND_SHARE,
    REFUND_WITHIN_DAYS,
    USER_AGENTS,
    WINDOW,
)
from .writer import RowWriter, record

# The rows the seeder makes: plain records of these models (``demo/writer.py``).
CustomerRow = record(Customer)
ReferralSourceRow = record(ReferralSource)
ReferralLinkRow = record(ReferralLink)
CreditAccountRow = record(CreditAccount)
ReferralRow = record(Referral)
ReferralEventRow = record(ReferralEvent)
ClickRow = record(Click)
PurchaseRow = record(Purchase)
ConversionRow = record(Conversion)
RewardRow = record(Reward)
PayoutRow = record(Payout)
PayoutBalanceEntryRow = record(PayoutBalanceEntry)
CreditLotRow = record(CreditLot)
LedgerEntryRow = record(LedgerEntry)


def money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def delete_in_batches(queryset, batch_size: int = BATCH_SIZE) -> None:
    """Delete a queryset through the ORM, a batch of primary keys at a time.

    One ``queryset.delete()`` would load every row into the deletion collector at once;
    batches keep memory flat at a million rows and still let Django cascade to tables this
    command does not know about. Walking the primary key (not re-running LIMIT) keeps each
    batch query from rescanning rows already deleted.
    """
    model = queryset.model
    last = 0
    while True:
        ids = list(
            queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return
        with transaction.atomic():
            model._base_manager.filter(pk__in=ids).delete()
        last = ids[-1]


def delete_demo(organization: Organization) -> None:
    """Delete the demo organization and everything it owns, children before parents.

    Several foreign keys PROTECT (ledger entries protect lots, payouts protect sources and
    accounts, referrals protect sources, refunds protect purchases...), so
    ``organization.delete()`` alone refuses.
    """
    steps = [
        LedgerEntry.objects.filter(organization=organization),
        PayoutBalanceEntry.objects.filter(organization=organization),
        CreditLot.objects.filter(organization=organization),
        Reward.objects.filter(organization=organization),
        GiftCard.objects.filter(organization=organization),
        Payout.objects.filter(organization=organization),
        CreditAccount.objects.filter(organization=organization),
        RewardRule.objects.filter(organization=organization),
        Conversion.objects.filter(organization=organization),
        Purchase.objects.filter(organization=organization, refund_of__isnull=False),
        Purchase.objects.filter(organization=organization),
        ReferralEvent.objects.filter(organization=organization),
        Referral.objects.filter(organization=organization),
        Click.objects.filter(organization=organization),
        ReferralLink.objects.filter(organization=organization),
        Program.objects.filter(organization=organization),
        InsiderContribution.objects.filter(organization=organization),
        ReferralSource.objects.filter(organization=organization),
        Customer.objects.filter(organization=organization),
        Membership.objects.filter(organization=organization),
        Invitation.objects.filter(organization=organization),
    ]
    for queryset in steps:
        delete_in_batches(queryset)
    organization.delete()


def ensure_user(email: str, name: str) -> User:
    """The demo user, created with the demo password if missing; an existing one is kept as is.

    The allauth EmailAddress row marks the address verified, so signing in never stops at
    "confirm your email".
    """
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email, DEMO_PASSWORD, name=name)
    EmailAddress.objects.get_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user


@dataclass
class SourcePool:
    """The sources a program draws referrals from, each with a weight."""

    source_ids: list[int] = field(default_factory=list)
    cum_weights: list[float] = field(default_factory=list)

    def add(self, source_id: int, weight: float) -> None:
        total = self.cum_weights[-1] if self.cum_weights else 0.0
        self.source_ids.append(source_id)
        self.cum_weights.append(total + weight)

    def pick(self, rng: random.Random) -> int:
        return rng.choices(self.source_ids, cum_weights=self.cum_weights)[0]


@dataclass
class Story:
    """A converted referral, its friend's purchases and refunds and the conversions that
    credit them to the source, until rewards are made."""

    referral: Referral
    signup: Conversion
    purchases: list[Purchase]
    conversions: dict[str, Conversion] = field(default_factory=dict)  # by purchase id
    refunds: dict[str, Purchase] = field(default_factory=dict)  # by purchase external id
    tier_percent: Decimal = Decimal("0")


@dataclass
class PlannedLot:
    """A credit lot waiting for its reward's primary key, and what was redeemed from it.

    A friend's credit account is created in the same chunk, so the lot holds the account
    object until it is inserted; a source's account already has its id.
    """

    reward: Reward
    account_id: int | None = None
    account: CreditAccount | None = None
    redeemed: Decimal = Decimal("0")
    redeemed_at: datetime | None = None


@dataclass(slots=True)
class CashPlan:
    """An introducer's cash reward, kept until the end, when the monthly payouts are known."""

    source_id: int
    conversion_id: int
    amount: Decimal
    earned_at: datetime
    hold_until: datetime
    refund: Purchase | None


def first_of_next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(
        year=year, month=month, day=1, hour=PAYOUT_HOUR, minute=0, second=0, microsecond=0
    )


class DemoSeeder:
    """Builds the Northbank organization: setup first, then customers chunk by chunk."""

    def __init__(self, *, seed: int, now: datetime):
        self.rng = random.Random(seed)
        self.now = now
        self.start = now - WINDOW
        self.counters: dict[str, int] = {}
        self.codes: set[str] = set()
        self.links: dict[tuple[int, int], int] = {}  # (program id, source id) -> link id
        self.live_link_ids: list[int] = []
        self.source_accounts: dict[int, int] = {}  # source id -> credit account id
        self.pools: dict[str, SourcePool] = {"friends": SourcePool(), "pros": SourcePool()}
        self.pro_conversions: dict[int, int] = {}  # source id -> converted introductions
        self.cash_plans: list[CashPlan] = []
        self.writer = RowWriter()

    # Small generators --------------------------------------------------------------------

    def number(self, name: str) -> int:
        """The next number of a sequence (customer numbers, order ids...), from 1."""
        self.counters[name] = self.counters.get(name, 0) + 1
        return self.counters[name]

    def between(self, earliest: datetime, latest: datetime) -> datetime:
        """A moment between two others, to the second; ``earliest`` if there is no room."""
        seconds = int((latest - earliest).total_seconds())
        if seconds <= 0:
            return earliest
        return earliest + timedelta(seconds=self.rng.randint(0, seconds))

    def days(self, low: float, high: float) -> timedelta:
        return timedelta(seconds=self.rng.randint(int(low * 86400), int(high * 86400)))

    def person(self) -> tuple[str, str, str]:
        """A name and two email local parts: unique (numbered) and plain (for firms)."""
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        plain = f"{first}.{last}".lower().replace(" ", "")
        return f"{first} {last}", f"{plain}.{self.number('person')}", plain

    def phone(self) -> str:
        return f"+31 6 {self.rng.randrange(10**8):08d}"

    def ip_hash(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def token(self) -> str:
        return base64.urlsafe_b64encode(self.rng.randbytes(24)).decode().rstrip("=")

    def code(self) -> str:
        """A link code from the seeded generator (``generate_code`` uses ``secrets``)."""
        while True:
            code = "".join(self.rng.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if code not in self.codes:
                self.codes.add(code)
                return code

    def amount(self) -> Decimal:
        """A purchase: mostly a few hundred euros, between 50 and 2,500."""
        value = min(max(self.rng.lognormvariate(5.6, 0.9), 50.0), 2500.0)
        return money(f"{value:.2f}")

    def first_seen(self, index: int, total: int) -> datetime:
        """When the index-th of ``total`` customers arrived, in order, more of them lately.

        Customers are spread over the window with a density rising linearly to three times
        its start, so monthly charts climb; the index keeps them in time order, which lets
        tiers count a source's introductions as they happened.
        """
        share = (index + self.rng.random()) / total
        position = (math.sqrt(1 + 8 * share) - 1) / 2  # inverse of F(t) = (t + t^2) / 2
        return self.start + timedelta(seconds=int(position * WINDOW.total_seconds()))

    # Setup: organization, people, programs, rules, sources, links ------------------------

    def setup(self, *, source_count: int) -> int:
        """Create everything but the customer stream. Returns how many customers it made."""
        created = self.start - timedelta(days=60)
        self.organization = Organization.objects.create(
            name="Northbank",
            slug=DEMO_SLUG,
            currency=CURRENCY,
            timezone="Europe/Amsterdam",
            created_at=created,
        )
        self.org_id = self.organization.pk
        self.owner = ensure_user(OWNER_EMAIL, "Demo Owner")
        analyst = ensure_user(ANALYST_EMAIL, "Demo Analyst")
        Membership.objects.create(
            user=self.owner, organization=self.organization, role=Role.OWNER, created_at=created
        )
        Membership.objects.create(
            user=analyst, organization=self.organization, role=Role.ANALYST, created_at=created
        )
        self.create_programs()
        self.create_rules()
        customer_sources = self.create_sources(source_count)
        self.create_links_and_accounts()
        return customer_sources

    def create_programs(self) -> None:
        created = self.start - timedelta(days=30)
        self.friends = program_create(
            organization=self.organization,
            name="Refer a friend",
            status=Program.Status.ACTIVE,
            allowed_source_kinds=[SourceKind.CUSTOMER, SourceKind.EMPLOYEE],
            friend_offer="€50 welcome bonus when you open a current account",
            landing_headline="Bank with Northbank, together",
            landing_text="Open a current account with your friend's link and get a €50 "
            "welcome bonus. Your friend earns €25 of credit when you start using it.",
            destination_url="https://northbank.example/open-account",
            created_at=created,
        )
        self.pros = program_create(
            organization=self.organization,
            name="Professional introductions",
            status=Program.Status.ACTIVE,
            attribution_window_days=90,
            allowed_source_kinds=[
                SourceKind.AGENT,
                SourceKind.INTERMEDIARY,
                SourceKind.PARTNER,
                SourceKind.EMPLOYEE,
            ],
            friend_offer="Priority mortgage advice",
            landing_headline="Introduced by someone you trust",
            landing_text="Your adviser introduced you to Northbank. Book a mortgage "
            "conversation this week and skip the queue.",
            destination_url="https://northbank.example/mortgages",
            created_at=created,
        )
        self.summer = program_create(
            organization=self.organization,
            name="Summer savings 2025",
            status=Program.Status.PAUSED,
            allowed_source_kinds=[SourceKind.CUSTOMER],
            friend_offer="0.5% bonus interest on savings for three months",
            landing_headline="Save together this summer",
            created_at=created,
        )
        self.program_keys = {self.friends.pk: "friends", self.pros.pk: "pros"}

    def create_rules(self) -> None:
        created = self.start - timedelta(days=30)
        self.friends_referrer = rule_create(
            program=self.friends,
            name="Referrer: €25 credit",
            beneficiary=RewardRule.Beneficiary.REFERRER,
            trigger=RewardRule.Trigger.FIRST_PURCHASE,
            formula=RewardRule.Formula.FIXED,
            amount=Decimal("25.00"),
            reward_kind=RewardRule.Kind.CREDIT,
            credit_lifetime_days=365,
            currency=CURRENCY,
            created_at=created,
        )
        self.friends_friend = rule_create(
            program=self.friends,
            name="Friend: €10 credit",
            beneficiary=RewardRule.Beneficiary.FRIEND,
            trigger=RewardRule.Trigger.FIRST_PURCHASE,
            formula=RewardRule.Formula.FIXED,
            amount=Decimal("10.00"),
            reward_kind=RewardRule.Kind.CREDIT,
            credit_lifetime_days=365,
            currency=CURRENCY,
            created_at=created,
        )
        self.pros_referrer = rule_create(
            program=self.pros,
            name="Introducer: 1% of every purchase",
            beneficiary=RewardRule.Beneficiary.REFERRER,
            trigger=RewardRule.Trigger.EVERY_PURCHASE,
            formula=RewardRule.Formula.PERCENT,
            percent=Decimal("1.00"),
            cap=Decimal("250.00"),
            reward_kind=RewardRule.Kind.CASH,
            hold_days=14,
            tiers=[{"min_referrals": 5, "percent": "1.5"}, {"min_referrals": 20, "percent": "2"}],
            currency=CURRENCY,
            created_at=created,
        )

    def create_sources(self, count: int) -> int:
        """Sources of every kind; most are customers. Returns how many customers it made."""
        partners = max(3, count // 500)
        agents = max(3, count * 6 // 100)
        intermediaries = max(4, count * 8 // 100)
        employees = max(3, count * 6 // 100)
        customers = count - partners - agents - intermediaries - employees
        for first in range(0, customers, BATCH_SIZE):
            self.create_customer_sources(min(BATCH_SIZE, customers - first))
        professionals = (
            [self.partner(i) for i in range(partners)]
            + [self.professional(SourceKind.AGENT, INSURANCE_AGENCIES) for _ in range(agents)]
            + [
                self.professional(SourceKind.INTERMEDIARY, INTERMEDIARY_FIRMS)
                for _ in range(intermediaries)
            ]
            + [self.employee() for _ in range(employees)]
        )
        self.save_sources(professionals)
        return customers

    def create_customer_sources(self, count: int) -> None:
        """Long-standing customers who refer: their customer rows predate the window."""
        customers = []
        for _ in range(count):
            name, email, _plain = self.person()
            customers.append(
                CustomerRow(
                    organization_id=self.org_id,
                    external_id=f"NB-{self.number('customer'):07d}",
                    email=f"{email}@{self.rng.choice(EMAIL_DOMAINS)}",
                    name=name,
                    phone=self.phone(),
                    first_seen_at=self.start - self.days(60, 6 * 365),
                )
            )
        self.writer.save(Customer, customers)
        self.save_other_purchases(customers)
        self.save_sources(
            [
                ReferralSourceRow(
                    organization_id=self.org_id,
                    kind=SourceKind.CUSTOMER,
                    name=customer.name,
                    email=customer.email,
                    customer=customer,
                    portal_token=self.token(),
                    created_at=self.between(
                        customer.first_seen_at, self.start - timedelta(days=30)
                    ),
                )
                for customer in customers
            ]
        )

    def partner(self, index: int) -> ReferralSource:
        name = PARTNERS[index % len(PARTNERS)]
        if index >= len(PARTNERS):
            name = f"{name} {BRANCHES[index // len(PARTNERS) % len(BRANCHES)]}"
        domain = PARTNERS[index % len(PARTNERS)].lower().replace(" ", "")
        return self.source(
            SourceKind.PARTNER,
            name=name,
            email=f"partners@{domain}.example",
            company=f"{name} B.V.",
        )

    def professional(self, kind: str, firms: list[str]) -> ReferralSource:
        name, _unique, plain = self.person()
        company = self.rng.choice(firms)
        domain = "".join(ch for ch in company.lower() if ch.isalnum())
        return self.source(kind, name=name, email=f"{plain}@{domain}.example", company=company)

    def employee(self) -> ReferralSource:
        name, _unique, plain = self.person()
        branch = self.rng.choice(BRANCHES)
        return self.source(
            SourceKind.EMPLOYEE,
            name=name,
            email=f"{plain}@northbank.example",
            company=f"Branch {branch}",
        )

    def source(self, kind: str, **fields) -> ReferralSource:
        return ReferralSourceRow(
            organization_id=self.org_id,
            kind=kind,
            portal_token=self.token(),
            created_at=self.start - timedelta(days=30) - self.days(0, 700),
            **fields,
        )

    def save_sources(self, sources: list[ReferralSource]) -> None:
        """Insert sources and enter them in the pools of the programs they may refer to."""
        self.writer.save(ReferralSource, sources)
        for source in sources:
            weight = self.rng.paretovariate(1.3) * KIND_WEIGHT[source.kind]
            if source.kind in self.friends.allowed_source_kinds:
                self.pools["friends"].add(source.pk, weight)
            if source.kind in self.pros.allowed_source_kinds:
                self.pools["pros"].add(source.pk, weight)

    def create_links_and_accounts(self) -> None:
        """A link per source into every program that accepts its kind; a credit account each."""
        programs = [self.friends, self.pros, self.summer]
        sources = ReferralSource.objects.filter(organization=self.organization).order_by("pk")
        links, accounts = [], []
        for source in sources.values("pk", "kind", "created_at").iterator(chunk_size=BATCH_SIZE):
            for program in programs:
                if source["kind"] in program.allowed_source_kinds:
                    links.append(
                        ReferralLinkRow(
                            organization_id=self.org_id,
                            program_id=program.pk,
                            source_id=source["pk"],
                            code=self.code(),
                            created_at=max(source["created_at"], program.created_at),
                        )
                    )
            accounts.append(
                CreditAccountRow(
                    organization_id=self.org_id,
                    source_id=source["pk"],
                    currency=CURRENCY,
                    created_at=source["created_at"],
                )
            )
        self.writer.save(ReferralLink, links)
        self.writer.save(CreditAccount, accounts)
        for link in links:
            self.links[(link.program_id, link.source_id)] = link.pk
            if link.program_id in self.program_keys:
                self.live_link_ids.append(link.pk)
        self.source_accounts = {account.source_id: account.pk for account in accounts}

    # The customer stream -------------------------------------------------------------------

    def seed_chunk(self, first: int, size: int, total: int) -> None:
        """Customers ``first`` to ``first + size`` of ``total``, with all that follows them."""
        customers = [self.customer(first + i, total) for i in range(size)]
        self.writer.save(Customer, customers)
        self.save_other_purchases([c for c in customers if not c.is_referred])
        referred = [customer for customer in customers if customer.is_referred]
        stories = [self.converted_story(customer) for customer in referred]
        earliest = customers[0].first_seen_at - timedelta(days=10)
        latest = customers[-1].first_seen_at
        open_referrals = [
            self.open_referral(earliest, latest, customers) for _ in range(len(referred))
        ]
        referrals = [story.referral for story in stories] + open_referrals
        self.writer.save(Referral, referrals)
        self.save_conversions(stories)
        self.writer.save(
            ReferralEvent,
            [event for story in stories for event in self.converted_events(story)]
            + [event for referral in open_referrals for event in self.open_events(referral)],
        )
        clicks = [click for referral in referrals for click in self.clicks_before(referral)]
        clicks += [self.stray_click(earliest, latest) for _ in range(len(referrals) // 2)]
        self.writer.save(Click, clicks)
        self.save_rewards(stories)

    def customer(self, index: int, total: int) -> Customer:
        name, email, _plain = self.person()
        return CustomerRow(
            organization_id=self.org_id,
            external_id=f"NB-{self.number('customer'):07d}",
            email=f"{email}@{self.rng.choice(EMAIL_DOMAINS)}",
            name=name,
            phone=self.phone() if self.rng.random() < 0.7 else "",
            first_seen_at=self.first_seen(index, total),
            is_referred=self.rng.random() < REFERRED_SHARE,
            status=Customer.Status.CHURNED if self.rng.random() < 0.04 else Customer.Status.ACTIVE,
        )

    def pick_program(self, friends_share: float) -> tuple[Program, str, int, str]:
        """A program, its key, a source from its pool, and the channel the friend came by."""
        program = self.friends if self.rng.random() < friends_share else self.pros
        key = self.program_keys[program.pk]
        source_id = self.pools[key].pick(self.rng)
        weights = CHANNEL_WEIGHTS[key]
        channel = self.rng.choices(list(weights), weights=list(weights.values()))[0]
        return program, key, source_id, channel

    def referral(self, *, program, source_id, channel, created_at, **fields) -> Referral:
        by_link = channel == Channel.LINK
        return ReferralRow(
            organization_id=self.org_id,
            program_id=program.pk,
            source_id=source_id,
            link_id=self.links[(program.pk, source_id)] if by_link else None,
            channel=channel,
            ip_hash=self.ip_hash() if by_link else "",
            user_agent=self.rng.choice(USER_AGENTS) if by_link else "",
            created_at=created_at,
            **fields,
        )

    def converted_story(self, customer: Customer) -> Story:
        """The referral that brought a customer in, its signup, purchases and refunds."""
        program, key, source_id, channel = self.pick_program(FRIENDS_PROGRAM_SHARE)
        converted_at = min(customer.first_seen_at + self.days(0, 3), self.now)
        referral = self.referral(
            program=program,
            source_id=source_id,
            channel=channel,
            created_at=customer.first_seen_at - self.days(1, 10),
            friend_id=customer.pk,
            friend_email=customer.email,
            friend_name=customer.name,
            friend_phone=customer.phone if channel == Channel.PHONE else "",
            status=Referral.Status.CONVERTED,
            signed_up_at=customer.first_seen_at,
            converted_at=converted_at,
        )
        story = Story(
            referral=referral,
            signup=self.conversion(
                referral,
                Conversion.Kind.SIGNUP,
                f"demo-signup-{self.number('signup'):06d}",
                customer.first_seen_at,
            ),
            purchases=self.purchases(customer.pk, first=referral.converted_at),
        )
        for index, purchase in enumerate(story.purchases):
            story.conversions[purchase.external_id] = self.conversion(
                referral,
                Conversion.Kind.PURCHASE,
                purchase.external_id,
                purchase.occurred_at,
                purchase=purchase,
                is_first_purchase=index == 0,
            )
        for purchase in story.purchases[1:]:
            refund = self.maybe_refund(purchase)
            if refund is not None:
                story.refunds[purchase.external_id] = refund
                story.conversions[refund.external_id] = self.conversion(
                    referral,
                    Conversion.Kind.REFUND,
                    refund.external_id,
                    refund.occurred_at,
                    purchase=refund,
                )
        if key == "pros":
            count = self.pro_conversions.get(source_id, 0) + 1
            self.pro_conversions[source_id] = count
            story.tier_percent = self.tier_percent(count)
        return story

    def tier_percent(self, converted: int) -> Decimal:
        """The introducer's rate once ``converted`` of their friends have become customers."""
        percent, best = self.pros_referrer.percent, -1
        for tier in self.pros_referrer.tiers:
            if best < tier["min_referrals"] <= converted:
                percent, best = Decimal(tier["percent"]), tier["min_referrals"]
        return percent

    def conversion(self, referral, kind, external_id, occurred_at, **fields) -> Conversion:
        """The attribution of an event to the referral and its source."""
        return ConversionRow(
            organization_id=self.org_id,
            referral=referral,
            source_id=referral.source_id,
            customer_id=referral.friend_id,
            kind=kind,
            external_id=external_id,
            occurred_at=occurred_at,
            created_at=occurred_at,
            **fields,
        )

    def purchase(self, customer_id, prefix, at, amount, **fields) -> Purchase:
        return PurchaseRow(
            organization_id=self.org_id,
            customer_id=customer_id,
            external_id=f"demo-{prefix}-{self.number(prefix):06d}",
            amount=amount,
            currency=CURRENCY,
            occurred_at=at,
            created_at=at,
            **fields,
        )

    def purchases(
        self, customer_id: int, *, first: datetime, weights=REFERRED_PURCHASE_WEIGHTS
    ) -> list[Purchase]:
        """Purchases of a customer from ``first`` on: the first then, the rest in months."""
        count = self.rng.choices(range(len(weights)), weights=weights)[0]
        if not count:
            return []
        room = min(self.now - first, timedelta(days=270))
        times = [first]
        if room > timedelta(days=2):
            times += sorted(
                self.between(first + timedelta(days=1), first + room) for _ in range(count - 1)
            )
        return [self.purchase(customer_id, "ord", at, self.amount()) for at in times]

    def maybe_refund(self, purchase: Purchase) -> Purchase | None:
        """Now and then a repeat purchase is refunded in full, never one in the future."""
        if self.rng.random() >= REFUND_SHARE:
            return None
        at = purchase.occurred_at + self.days(1, REFUND_WITHIN_DAYS)
        if at > self.now:
            return None
        return self.purchase(
            purchase.customer_id,
            "refund",
            at,
            purchase.amount,
            kind=Purchase.Kind.REFUND,
            refund_of=purchase,
        )

    def save_conversions(self, stories: list[Story]) -> None:
        """Purchases, then the refunds that point at them, then the conversions crediting
        them (and the signups) to their referrals: each needs the keys of the one before."""
        self.writer.save(Purchase, [p for story in stories for p in story.purchases])
        self.writer.save(
            Purchase, [refund for story in stories for refund in story.refunds.values()]
        )
        for story in stories:
            for conversion in story.conversions.values():
                conversion.purchase_id = conversion.purchase.pk
        self.writer.save(
            Conversion,
            [c for story in stories for c in [story.signup, *story.conversions.values()]],
        )

    def save_other_purchases(self, customers: list[Customer]) -> None:
        """Customers nobody referred buy too: their purchases (and a few refunds), credited
        to no source."""
        purchases = []
        for customer in customers:
            first = max(customer.first_seen_at, self.start) + self.days(0, 30)
            if first < self.now:
                purchases += self.purchases(
                    customer.pk, first=first, weights=OTHER_PURCHASE_WEIGHTS
                )
        self.writer.save(Purchase, purchases)
        refunds = [self.maybe_refund(purchase) for purchase in purchases]
        self.writer.save(Purchase, [r for r in refunds if r])

    def open_referral(self, earliest, latest, customers: list[Customer]) -> Referral:
        """A referral that did not (yet) become a customer: a lead, a signup, or rejected."""
        program, _key, source_id, channel = self.pick_program(0.65)
        name, email, _plain = self.person()
        created_at = self.between(earliest, latest)
        fields = {"friend_name": name, "friend_email": f"{email}@{self.rng.choice(EMAIL_DOMAINS)}"}
        if self.number("open") % FLAG_EVERY == 1:
            reasons = self.rng.choice(FLAG_REASONS)
            if "duplicate_friend" in reasons:
                fields["friend_email"] = self.rng.choice(customers).email
            return self.referral(
                program=program,
                source_id=source_id,
                channel=channel,
                created_at=created_at,
                status=Referral.Status.LEAD,
                flagged=True,
                flag_reasons=reasons,
                **fields,
            )
        status = self.rng.choices(
            [Referral.Status.LEAD, Referral.Status.SIGNED_UP, Referral.Status.REJECTED],
            weights=[50, 25, 25],
        )[0]
        if status == Referral.Status.SIGNED_UP:
            fields["signed_up_at"] = min(created_at + self.days(0, 5), self.now)
        if status == Referral.Status.REJECTED:
            fields["rejection_reason"] = DUPLICATE_REASON
            fields["friend_email"] = self.rng.choice(customers).email
        return self.referral(
            program=program,
            source_id=source_id,
            channel=channel,
            created_at=created_at,
            status=status,
            **fields,
        )

    def event(self, referral, from_status, to_status, at, label, note="", actor=None):
        return ReferralEventRow(
            organization_id=self.org_id,
            referral=referral,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            actor_label=label,
            note=note,
            at=at,
        )

    def lead_event(self, referral: Referral) -> ReferralEvent:
        note = "Held for review: " + ", ".join(referral.flag_reasons) if referral.flagged else ""
        return self.event(
            referral, "", Referral.Status.LEAD, referral.created_at, referral.channel, note
        )

    def converted_events(self, story: Story) -> list[ReferralEvent]:
        referral = story.referral
        first_purchase = story.purchases[0]
        return [
            self.lead_event(referral),
            self.event(
                referral,
                Referral.Status.LEAD,
                Referral.Status.CONVERTED,
                referral.converted_at,
                "system",
                f"Purchase {first_purchase.external_id}",
            ),
        ]

    def open_events(self, referral: Referral) -> list[ReferralEvent]:
        events = [self.lead_event(referral)]
        if referral.status == Referral.Status.SIGNED_UP:
            events.append(
                self.event(
                    referral,
                    Referral.Status.LEAD,
                    Referral.Status.SIGNED_UP,
                    referral.signed_up_at,
                    "system",
                    "Signup",
                )
            )
        elif referral.status == Referral.Status.REJECTED:
            events.append(
                self.event(
                    referral,
                    Referral.Status.LEAD,
                    Referral.Status.REJECTED,
                    min(referral.created_at + self.days(0.1, 3), self.now),
                    self.owner.email,
                    DUPLICATE_REASON,
                    actor=self.owner,
                )
            )
        return events

    def click(self, link_id: int, at: datetime) -> Click:
        return ClickRow(
            organization_id=self.org_id,
            link_id=link_id,
            at=at,
            ip_hash=self.ip_hash(),
            user_agent=self.rng.choice(USER_AGENTS),
        )

    def clicks_before(self, referral: Referral) -> list[Click]:
        """About three openings of the source's link in the two weeks before the referral."""
        link_id = self.links[(referral.program_id, referral.source_id)]
        created = referral.created_at
        return [
            self.click(link_id, created - self.days(0, 14)) for _ in range(self.rng.randint(1, 5))
        ]

    def stray_click(self, earliest: datetime, latest: datetime) -> Click:
        """A visit that led nowhere: most clicks never become a referral."""
        return self.click(self.rng.choice(self.live_link_ids), self.between(earliest, latest))

    # Rewards and credit --------------------------------------------------------------------

    def save_rewards(self, stories: list[Story]) -> None:
        """Credit rewards, the friends' credit accounts, lots and ledger entries; cash is planned.

        Cash rewards are written at the end (``save_cash_rewards``): a monthly payout pays
        rewards of friends from many chunks, and a reward must point at its payout.
        """
        rewards, lots = [], []
        friend_accounts = []
        for story in stories:
            if story.referral.program_id == self.friends.pk:
                referrer, friend = self.friend_rewards(story)
                rewards += [referrer, friend]
                account = CreditAccountRow(
                    organization_id=self.org_id,
                    customer_id=story.referral.friend_id,
                    currency=CURRENCY,
                    created_at=friend.created_at,
                )
                friend_accounts.append(account)
                source_account_id = self.source_accounts[referrer.source_id]
                lots.append(self.plan_lot(PlannedLot(referrer, account_id=source_account_id), 0.35))
                lots.append(self.plan_lot(PlannedLot(friend, account=account), 0.45))
            else:
                self.cash_plans += [self.cash_plan(story, p) for p in story.purchases]
        self.writer.save(Reward, rewards)
        self.writer.save(CreditAccount, friend_accounts)
        self.save_lots(lots)

    def friend_rewards(self, story: Story) -> tuple[Reward, Reward]:
        """Program 1 pays both sides in credit on the first purchase, at once (no hold)."""
        purchase = story.purchases[0]
        at = purchase.occurred_at
        common = {
            "organization_id": self.org_id,
            "conversion": story.conversions[purchase.external_id],
            "currency": CURRENCY,
            "reward_kind": RewardRule.Kind.CREDIT,
            "status": Reward.Status.FULFILLED,
            "created_at": at,
            "approved_at": at,
            "fulfilled_at": at,
        }
        referrer = RewardRow(
            rule=self.friends_referrer,
            source_id=story.referral.source_id,
            amount=self.friends_referrer.amount,
            **common,
        )
        friend = RewardRow(
            rule=self.friends_friend,
            customer_id=story.referral.friend_id,
            amount=self.friends_friend.amount,
            **common,
        )
        return referrer, friend

    def cash_plan(self, story: Story, purchase: Purchase) -> CashPlan:
        """Program 2 pays the introducer a percent of every purchase, after a 14-day hold."""
        rule = self.pros_referrer
        return CashPlan(
            source_id=story.referral.source_id,
            conversion_id=story.conversions[purchase.external_id].pk,
            amount=min(money(purchase.amount * story.tier_percent / 100), rule.cap),
            earned_at=purchase.occurred_at,
            hold_until=purchase.occurred_at + timedelta(days=rule.hold_days),
            refund=story.refunds.get(purchase.external_id),
        )

    def paid_at(self, plan: CashPlan) -> datetime | None:
        """When the reward was paid out: at the first monthly payout after its hold, if past."""
        if plan.refund is not None or plan.hold_until > self.now:
            return None
        payday = first_of_next_month(plan.hold_until)
        return payday if payday <= self.now else None

    def save_cash_rewards(self) -> None:
        """Cash rewards with the payouts that paid them: one payout per source and month.

        As ``payout_request`` does, a payout takes the source's whole payout balance, which
        on a payday is exactly the rewards approved since the last one. The balance entries
        follow the services: ``earned`` on approval, a negative ``payout`` entry per payout.
        """
        groups: dict[tuple[int, datetime | None], list[CashPlan]] = {}
        for plan in self.cash_plans:
            groups.setdefault((plan.source_id, self.paid_at(plan)), []).append(plan)
        batch, size = [], 0
        for key, plans in groups.items():
            batch.append((key, plans))
            size += len(plans)
            if size >= BATCH_SIZE:
                self.save_cash_batch(batch)
                batch, size = [], 0
        self.save_cash_batch(batch)
        self.cash_plans = []

    def save_cash_batch(self, groups) -> None:
        payouts = {}
        for (source_id, paid_at), plans in groups:
            if paid_at is not None:
                payouts[(source_id, paid_at)] = self.payout(source_id, paid_at, plans)
        self.writer.save(Payout, list(payouts.values()))
        rewards = [
            self.cash_reward(plan, payouts.get(key)) for key, plans in groups for plan in plans
        ]
        self.writer.save(Reward, rewards)
        entries = [
            self.balance_entry(
                PayoutBalanceEntry.Kind.EARNED,
                self.source_accounts[reward.source_id],
                reward.amount,
                f"earned:reward:{reward.pk}",
                reward.approved_at,
                reward=reward,
            )
            for reward in rewards
            if reward.approved_at is not None
        ]
        entries += [
            self.balance_entry(
                PayoutBalanceEntry.Kind.PAYOUT,
                payout.account_id,
                -payout.amount,
                f"payout:{payout.pk}",
                payout.paid_at,
                payout=payout,
            )
            for payout in payouts.values()
        ]
        self.writer.save(PayoutBalanceEntry, entries)

    def payout(self, source_id: int, paid_at: datetime, plans: list[CashPlan]) -> Payout:
        number = self.number("payout")
        return PayoutRow(
            organization_id=self.org_id,
            source_id=source_id,
            account_id=self.source_accounts[source_id],
            amount=sum(plan.amount for plan in plans),
            currency=CURRENCY,
            method=Payout.Method.BANK_TRANSFER,
            status=Payout.Status.PAID,
            idempotency_key=f"demo-payout-{number:06d}",
            provider_reference=f"DEMO-SEPA-{number:06d}",
            attempts=1,
            created_at=paid_at,
            updated_at=paid_at,
            started_at=paid_at,
            paid_at=paid_at,
        )

    def cash_reward(self, plan: CashPlan, payout: Payout | None) -> Reward:
        """Void if refunded (inside the hold), pending in the hold, then approved, then paid."""
        reward = RewardRow(
            organization_id=self.org_id,
            rule=self.pros_referrer,
            conversion_id=plan.conversion_id,
            source_id=plan.source_id,
            amount=plan.amount,
            currency=CURRENCY,
            reward_kind=RewardRule.Kind.CASH,
            status=Reward.Status.PENDING,
            hold_until=plan.hold_until,
            created_at=plan.earned_at,
        )
        if plan.refund is not None:
            reward.status = Reward.Status.VOID
            reward.void_reason = f"Refund {plan.refund.external_id}"
            reward.voided_at = plan.refund.occurred_at
        elif plan.hold_until <= self.now:
            reward.status = Reward.Status.APPROVED
            reward.approved_at = plan.hold_until
        if payout is not None:
            reward.status = Reward.Status.FULFILLED
            reward.payout = payout
            reward.fulfilled_at = payout.paid_at
        return reward

    def balance_entry(self, kind, account_id, amount, key, at, **links) -> PayoutBalanceEntry:
        return PayoutBalanceEntryRow(
            organization_id=self.org_id,
            account_id=account_id,
            kind=kind,
            amount=amount,
            idempotency_key=key,
            at=at,
            **links,
        )

    def plan_lot(self, lot: PlannedLot, redeem_share: float) -> PlannedLot:
        """With ``redeem_share`` chance, part of the lot is spent on an order later on."""
        if self.rng.random() < redeem_share:
            at = lot.reward.created_at + self.days(1, 120)
            if at <= self.now:
                lot.redeemed = min(self.rng.choice(REDEEM_AMOUNTS), lot.reward.amount)
                lot.redeemed_at = at
        return lot

    def save_lots(self, planned: list[PlannedLot]) -> None:
        lots = []
        for plan in planned:
            reward = plan.reward
            lots.append(
                CreditLotRow(
                    organization_id=self.org_id,
                    account_id=plan.account_id or plan.account.pk,
                    reward=reward,
                    amount=reward.amount,
                    remaining=reward.amount - plan.redeemed,
                    granted_at=reward.created_at,
                    expires_at=reward.created_at + timedelta(days=reward.rule.credit_lifetime_days),
                )
            )
        self.writer.save(CreditLot, lots)
        entries = []
        for plan, lot in zip(planned, lots, strict=True):
            key = f"reward:{plan.reward.pk}"
            reference = f"reward {plan.reward.pk}"
            entries.append(
                self.entry(lot, LedgerEntry.Kind.GRANT, lot.amount, key, reference, lot.granted_at)
            )
            if plan.redeemed:
                order = f"demo-{self.number('redeem')}"
                entries.append(
                    self.entry(
                        lot,
                        LedgerEntry.Kind.REDEEM,
                        -plan.redeemed,
                        f"redeem:{order}",
                        f"order {order}",
                        plan.redeemed_at,
                    )
                )
        self.writer.save(LedgerEntry, entries)

    def entry(self, lot, kind, amount, key, reference, at) -> LedgerEntry:
        return LedgerEntryRow(
            organization_id=self.org_id,
            account_id=lot.account_id,
            lot=lot,
            kind=kind,
            amount=amount,
            idempotency_key=key,
            reference=reference,
            at=at,
        )


def seed_northbank(
    *, seed: int, customers: int, progress: Callable[[int], object] = lambda done: None
) -> Organization:
    """Build Northbank with ``customers`` customers; ``progress(n)`` after each n done.

    Setup, each chunk of customers and the cash rewards at the end commit on their own, so
    a million customers never hold one transaction (and, on SQLite, the whole database) for
    minutes; the caller wraps the whole in one transaction for small demos.
    """
    now = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    seeder = DemoSeeder(seed=seed, now=now)
    with transaction.atomic():
        made = seeder.setup(source_count=max(30, customers // 20))
    progress(made)
    stream = customers - made
    try:
        for first in range(0, stream, CUSTOMERS_PER_CHUNK):
            size = min(CUSTOMERS_PER_CHUNK, stream - first)
            with seeder.writer.batch():
                seeder.seed_chunk(first, size, stream)
            reset_queries()  # with DEBUG on, the query log would keep every statement
            progress(size)
    finally:
        seeder.writer.close()
    with transaction.atomic():
        seeder.writer.bulk_load()
        seeder.save_cash_rewards()
    seeder.writer.analyze()
    return seeder.organization
