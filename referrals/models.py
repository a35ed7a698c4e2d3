"""Programs, links, clicks, referrals; what the business sold (purchases) and what a referral
earned (conversions: the attribution of an event to a referral and its source)."""

import secrets
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Case, CharField, Count, F, Func, Q, Sum, When
from django.db.models.functions import Upper
from django.utils import timezone

from accounts.models import (
    CURRENCIES,
    Customer,
    Organization,
    ReferralSource,
    SourceKind,
    StatusEvent,
    TenantQuerySet,
    User,
)
from core.money import ZERO, cents

MONEY = models.DecimalField(max_digits=14, decimal_places=2)

# Codes avoid look-alike characters (0/O, 1/l/I) so they can be read out over the phone.
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_LENGTH = 8  # 31**8 ≈ 8.5e11 codes: unguessable by enumeration at any sane rate


def generate_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


vanity_code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{2,39}$",
    "Use 3 to 40 lower-case letters, digits or hyphens, starting with a letter or digit.",
)


brand_color_validator = RegexValidator(
    r"^#[0-9a-fA-F]{6}$", "Give a colour as # and six hex digits, e.g. #2563eb."
)


def validate_https_url(value: str) -> None:
    """An address the landing page may load (a logo): https only, so the page stays secure."""
    if value and not value.lower().startswith("https://"):
        raise ValidationError("Use an https:// address.", code="not_https")


def all_source_kinds() -> list[str]:
    return list(SourceKind.values)


class ProgramQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(status=Program.Status.ACTIVE)


VELOCITY_AT_LEAST_ONE = (
    "At least 1: referrals from one source beyond this many in an hour are held for review. "
    "For no practical limit, enter a large number such as 10000."
)


class Program(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ENDED = "ended", "Ended"

    class AttributionModel(models.TextChoices):
        LAST_TOUCH = "last_touch", "Last touch"
        FIRST_TOUCH = "first_touch", "First touch"

    class LandingMode(models.TextChoices):
        LANDING_PAGE = "landing", "Show the program's landing page"
        REDIRECT = "redirect", "Redirect to the destination URL with the code"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="programs"
    )
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    attribution_window_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    attribution_model = models.CharField(
        max_length=16, choices=AttributionModel.choices, default=AttributionModel.LAST_TOUCH
    )
    landing_mode = models.CharField(
        max_length=16, choices=LandingMode.choices, default=LandingMode.LANDING_PAGE
    )
    destination_url = models.URLField(blank=True, default="")
    landing_headline = models.CharField(max_length=200, blank=True, default="")
    landing_text = models.TextField(blank=True, default="")
    friend_offer = models.CharField(
        max_length=200, blank=True, default="", help_text="What the friend gets, in one line."
    )
    logo_url = models.URLField(
        max_length=500,
        blank=True,
        default="",
        validators=[validate_https_url],
        help_text="An https:// address of your logo, shown on the landing page and its preview.",
    )
    brand_color = models.CharField(
        max_length=7,
        blank=True,
        default="",
        validators=[brand_color_validator],
        help_text="The colour of buttons and highlights on the landing page, e.g. #2563eb.",
    )
    privacy_url = models.URLField(
        max_length=500,
        blank=True,
        default="",
        help_text="Your privacy notice, linked under the friend's form.",
    )
    consent_required = models.BooleanField(
        default=False,
        help_text="The friend ticks that they agree to be contacted before leaving their details.",
    )
    friend_email_subject = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Subject of the emails to the friend. Empty: the standard subject.",
    )
    friend_email_intro = models.TextField(
        blank=True,
        default="",
        max_length=2000,
        help_text="Opening paragraph of the emails to the friend. Empty: the standard text.",
    )
    source_email_subject = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Subject of the reward emails to sources. Empty: the standard subject.",
    )
    source_email_intro = models.TextField(
        blank=True,
        default="",
        max_length=2000,
        help_text="Opening paragraph of the reward emails to sources. Empty: the standard text.",
    )
    allowed_source_kinds = models.JSONField(default=all_source_kinds)
    velocity_limit_per_hour = models.PositiveIntegerField(
        default=20,
        # 0 held every referral for review, while an owner may read it as "no limit": it
        # is refused, and the message says how to get either.
        validators=[MinValueValidator(1, message=VELOCITY_AT_LEAST_ONE)],
        help_text="Referrals from one source in one hour beyond this are held for review "
        "(at least 1).",
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = ProgramQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name

    def clean(self):
        unknown = set(self.allowed_source_kinds or []) - set(SourceKind.values)
        if unknown:
            raise ValidationError({"allowed_source_kinds": f"Unknown kinds: {sorted(unknown)}"})
        if self.consent_required and not self.privacy_url:
            raise ValidationError(
                {"privacy_url": "Asking for consent needs the address of your privacy notice."}
            )
        if self.landing_mode == self.LandingMode.REDIRECT and not self.destination_url:
            raise ValidationError(
                {"destination_url": "A redirecting program needs a destination URL."}
            )

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.ACTIVE


class ReferralLink(models.Model):
    """A source's personal link into one program: /r/<code>."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="links")
    source = models.ForeignKey(ReferralSource, on_delete=models.CASCADE, related_name="links")
    code = models.CharField(max_length=16, unique=True, default=generate_code)
    vanity_code = models.CharField(
        max_length=40, unique=True, null=True, blank=True, validators=[vanity_code_validator]
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "source"], name="uniq_link_per_source_program"
            )
        ]

    def __str__(self):
        return self.public_code

    @property
    def public_code(self) -> str:
        return self.vanity_code or self.code

    @property
    def is_live(self) -> bool:
        """Whether the link takes visitors now: its program is active and its source too. A
        paused or ended program's links, and an inactive source's, answer 404 until both are
        active again."""
        return self.program.is_live and self.source.active


class Click(models.Model):
    """One opening of a referral link. Loaded in bulk from the click journals: keep it small.

    organization and link lead the composite indexes below; an index of their own would
    only slow every load (two more index inserts per click, a fifth of the COPY's cost).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    link = models.ForeignKey(
        ReferralLink, on_delete=models.CASCADE, related_name="clicks", db_index=False
    )
    at = models.DateTimeField(default=timezone.now)
    ip_hash = models.CharField(max_length=64, blank=True, default="")
    user_agent = models.CharField(max_length=400, blank=True, default="")
    referer = models.CharField(max_length=400, blank=True, default="")

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["organization", "at"]),
            models.Index(fields=["link", "at"]),
        ]

    def __str__(self):
        return f"Click on {self.link_id} at {self.at:%Y-%m-%d %H:%M}"


class ClickJournalOffset(models.Model):
    """How far the click shipper has loaded one journal file (``referrals/clicks.py``).

    The offset moves in the same transaction as the clicks it loaded, so a line is in the
    table exactly once however often, and wherever, the shipper stops.
    """

    name = models.CharField(max_length=255, primary_key=True, help_text="The file's name.")
    offset = models.BigIntegerField(default=0, help_text="Bytes of the file loaded so far.")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.name} @ {self.offset}"


class LinkCacheVersion(models.Model):
    """One row, bumped after any change to what a referral link shows (``linkcache``).

    Every web process reads it at most once a second and drops its in-process links when it
    moved: a paused program or an edited landing page is live everywhere within a second.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=0)

    def __str__(self):
        return f"links version {self.version}"


class Channel(models.TextChoices):
    LINK = "link", "Link"
    EMAIL = "email", "Email introduction"
    PHONE = "phone", "Phone introduction"
    IN_PERSON = "in_person", "In person"
    API = "api", "API"


def credited_referral(prefix: str = "") -> Q:
    """The one test of a referral whose events count for its source: not rejected and not
    waiting in review. ``prefix`` reaches it through a relation ("conversion__referral__")."""
    return Q(**{f"{prefix}flagged": False}) & ~Q(**{f"{prefix}status": Referral.Status.REJECTED})


class Mailbox(Func):
    """The mailbox an address is delivered to, in SQL: lower case and without a "+tag"
    (ann+shop@example.com is ann@example.com), as ``referrals.services.referrals.mailbox``
    says it in Python (a test holds the two together). The pattern is written into the SQL,
    not bound, so the index of this expression (``referral_friend_mailbox``) answers it."""

    template = "REGEXP_REPLACE(LOWER(%(expressions)s), '^([^+@]+)[+][^@]*(@[^@]*)$', '\\1\\2')"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra_context):
        # SQLite (the embedded development database) has no REGEXP_REPLACE.
        return super().as_sql(compiler, connection, template=MAILBOX_SQLITE, **extra_context)


#: ``Mailbox`` in SQLite's built-in functions: the part before a "+" that is not first and
#: comes before the "@", then the domain, when the address has a single "@" (as the
#: pattern's ``[^@]``); else the address, lower case.
MAILBOX_SQLITE = (
    "CASE WHEN INSTR(LOWER(%(expressions)s), '+') > 1"
    " AND INSTR(LOWER(%(expressions)s), '+') < INSTR(LOWER(%(expressions)s), '@')"
    " AND INSTR(SUBSTR(LOWER(%(expressions)s), INSTR(LOWER(%(expressions)s), '@') + 1),"
    " '@') = 0"
    " THEN SUBSTR(LOWER(%(expressions)s), 1, INSTR(LOWER(%(expressions)s), '+') - 1)"
    " || SUBSTR(LOWER(%(expressions)s), INSTR(LOWER(%(expressions)s), '@'))"
    " ELSE LOWER(%(expressions)s) END"
)


class ReferralQuerySet(TenantQuerySet):
    def open(self):
        return self.filter(status__in=[Referral.Status.LEAD, Referral.Status.SIGNED_UP])

    def credited(self):
        """Referrals whose events count for their source (see ``Referral.is_credited``)."""
        return self.filter(credited_referral())

    def won(self):
        """Referrals that made their friend a customer."""
        return self.filter(status=Referral.Status.CONVERTED)


class Referral(models.Model):
    """A friend introduced by a source, from lead to converted customer (or rejected)."""

    class Status(models.TextChoices):
        LEAD = "lead", "Lead"
        SIGNED_UP = "signed_up", "Signed up"
        CONVERTED = "converted", "Converted"
        REJECTED = "rejected", "Rejected"

    # organization and source lead composite indexes below: no index of their own.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="referrals", db_index=False
    )
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="referrals")
    source = models.ForeignKey(
        ReferralSource, on_delete=models.PROTECT, related_name="referrals", db_index=False
    )
    link = models.ForeignKey(
        ReferralLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="referrals"
    )
    friend = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="referrals"
    )
    friend_email = models.EmailField(blank=True, default="")
    friend_name = models.CharField(max_length=200, blank=True, default="")
    friend_phone = models.CharField(max_length=40, blank=True, default="")
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.LINK)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LEAD)
    rejection_reason = models.CharField(max_length=200, blank=True, default="")
    flagged = models.BooleanField(
        default=False, help_text="Held for staff review by a fraud guard."
    )
    flag_reasons = models.JSONField(default=list, blank=True)
    ip_hash = models.CharField(max_length=64, blank=True, default="")
    user_agent = models.CharField(max_length=400, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    signed_up_at = models.DateTimeField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)

    objects = ReferralQuerySet.as_manager()

    #: What each fraud guard's code means, for the people reviewing a held referral.
    FLAG_REASON_TEXT = {
        "self_referral_email": "the friend's email is the source's own",
        "self_referral_customer": "the customer who bought is the source's own customer record",
        "same_device": "another friend was left from the same device within a day",
        "duplicate_friend": "this friend was already referred in this program",
        "velocity": "the source sent more referrals this hour than the program allows",
    }

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "status", "created_at"]),
            models.Index(fields=["organization", "created_at"], name="referral_org_created"),
            models.Index(
                fields=["organization", "created_at"],
                condition=Q(flagged=True),
                name="referral_review_queue",
            ),
            # Analytics reads today's signups and customers won from the rows (the days
            # before come from the rollups): without these, every page scanned every referral.
            models.Index(
                fields=["organization", "signed_up_at"],
                condition=Q(signed_up_at__isnull=False),
                name="referral_org_signed_up",
            ),
            models.Index(
                fields=["organization", "converted_at"],
                condition=Q(converted_at__isnull=False),
                name="referral_org_converted",
            ),
            models.Index(fields=["organization", "friend_email"]),
            # friend_email__iexact (the fraud guards, attribution) compares UPPER(email).
            models.Index(F("organization"), Upper("friend_email"), name="referral_friend_upper"),
            # The duplicate-friend guard: the same friend in any spelling of her address.
            models.Index(
                F("organization"), Mailbox("friend_email"), name="referral_friend_mailbox"
            ),
            # A source's referrals newest first; with status, its counts by status read
            # the index alone (COUNT(*), not COUNT(id)).
            models.Index(
                fields=["source", "created_at"],
                include=["status"],
                name="referral_source_history",
            ),
        ]

    def __str__(self):
        return f"{self.friend_name or self.friend_email or 'friend'} via {self.source}"

    @property
    def flag_reasons_text(self) -> list[str]:
        return [self.FLAG_REASON_TEXT.get(code, code) for code in self.flag_reasons or []]

    @property
    def is_credited(self) -> bool:
        """Its events count for its source: it is neither rejected nor waiting in review."""
        return not self.flagged and self.status != self.Status.REJECTED


class ReferralEvent(StatusEvent):
    """The history of a referral: each status change, by whom or what, and when."""

    subject_field = "referral"

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="events")

    class Meta(StatusEvent.Meta):
        indexes = [
            # The analytics refreshes (customer facts, rollups) look for the referrals
            # reviewed since their last run, per organization, every few minutes.
            models.Index(fields=["organization", "at"], name="referralevent_org_at"),
        ]


def signed_amount(prefix: str = ""):
    """A purchase's amount, negative for a refund: the one expression every revenue total sums.
    ``prefix`` reaches the purchase through a relation ("purchase__")."""
    return Case(
        When(**{f"{prefix}kind": Purchase.Kind.REFUND}, then=-F(f"{prefix}amount")),
        default=F(f"{prefix}amount"),
        output_field=MONEY,
    )


class PurchaseQuerySet(TenantQuerySet):
    """The named sets of purchases every page, export and task counts with.

    Net revenue is purchases minus refunds. A purchase (or refund) is *credited* when it is
    attributed to a referral that is neither rejected nor waiting in review; its source is
    then the conversion's. Every purchase is credited to one source at most, so revenue summed
    over sources is never counted twice.
    """

    def purchases(self):
        return self.filter(kind=Purchase.Kind.PURCHASE)

    def refunds(self):
        return self.filter(kind=Purchase.Kind.REFUND)

    def credited(self):
        return self.filter(Purchase.CREDITED)

    def advocacy(self):
        """Purchases (and their refunds) of existing customers a source moved to buy."""
        return self.filter(Purchase.ADVOCACY)

    def credited_to(self, source):
        return self.credited().filter(conversion__source=source)

    def not_credited(self):
        """Purchases no source is credited with: of customers nobody referred, outside every
        window, or on referrals rejected or waiting in review."""
        return self.exclude(pk__in=Purchase.objects.credited().values("pk"))

    def between(self, since=None, until=None):
        qs = self
        if since:
            qs = qs.filter(occurred_at__gte=since)
        if until:
            qs = qs.filter(occurred_at__lt=until)
        return qs

    def net_revenue(self) -> Decimal:
        """Purchases minus refunds, to the cent."""
        return cents(self.aggregate(total=Sum(signed_amount()))["total"])

    def revenue_split(self) -> dict[str, Decimal | int]:
        """In one query: net revenue credited to sources, net revenue of no source, and how
        many purchases (refunds aside) were credited."""
        totals = self.aggregate(
            credited=Sum(signed_amount(), filter=Purchase.CREDITED),
            total=Sum(signed_amount()),
            purchases=Count("pk", filter=Purchase.CREDITED & Q(kind=Purchase.Kind.PURCHASE)),
        )
        credited = cents(totals["credited"])
        return {
            "credited": credited,
            "not_credited": cents(totals["total"]) - credited,
            "credited_purchases": totals["purchases"],
        }


class Purchase(models.Model):
    """What the business sold: one purchase or refund of one customer, referred or not.

    Every purchase of every customer is stored, whoever (if anyone) is credited with it:
    the purchases of customers nobody referred are the baseline referred customers are
    compared with. ``external_id`` is the business's order id and the idempotency key of
    the event, unique per organization. A refund names the order it refunds (``refund_of``)
    and never takes back more than is left of it. Which referral and source a purchase is
    credited to is a fact of its own: its ``conversion``, if any.
    """

    class Kind(models.TextChoices):
        PURCHASE = "purchase", "Purchase"
        REFUND = "refund", "Refund"

    # organization and customer lead the composite indexes below: no index of their own.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="purchases", db_index=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="purchases", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PURCHASE)
    external_id = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, choices=CURRENCIES)
    refund_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = PurchaseQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"], name="uniq_purchase_external_id"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="purchase_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(kind="refund") | models.Q(refund_of__isnull=True),
                name="purchase_refund_of_only_on_refunds",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "occurred_at"]),
            models.Index(fields=["customer", "occurred_at"]),
        ]

    #: Credited to a source: attributed to a referral neither rejected nor waiting in review.
    CREDITED = Q(conversion__isnull=False) & credited_referral("conversion__referral__")
    #: Advocacy: a purchase of an existing customer a source moved to buy, or its refund.
    ADVOCACY = Q(conversion__kind="advocacy") | Q(refund_of__conversion__kind="advocacy")

    def __str__(self):
        return f"{self.kind} {self.external_id}"

    @property
    def signed_amount(self) -> Decimal:
        return -self.amount if self.kind == self.Kind.REFUND else self.amount

    def refunded(self) -> Decimal:
        """How much of this order has been refunded so far."""
        return cents(self.refunds.aggregate(total=Sum("amount"))["total"])


class ConversionQuerySet(TenantQuerySet):
    def credited(self):
        """Conversions that count for their source (see ``Referral.is_credited``)."""
        return self.filter(credited_referral("referral__"))


class Conversion(models.Model):
    """What a referral earned: one event of a customer credited to a referral and its source.

    A signup has no purchase; a purchase, a refund and advocacy (an existing customer who
    bought because of the source) are each the attribution of one ``Purchase``, and a
    purchase is attributed once at most. ``external_id`` is the event's id (the order id
    for a purchase), unique per organization, so the same event delivered twice is recorded
    once. ``is_first_purchase`` marks the purchase that made the friend a customer: the one
    the attribution window decided, once for the whole relationship.
    """

    class Kind(models.TextChoices):
        SIGNUP = "signup", "Signup"
        PURCHASE = "purchase", "Purchase"
        REFUND = "refund", "Refund"
        ADVOCACY = "advocacy", "Advocacy"

    # organization leads the unique (organization, external_id) and the index below.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="conversions", db_index=False
    )
    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="conversions")
    # source leads the (source, occurred_at) index below: a source's history, newest first.
    source = models.ForeignKey(
        ReferralSource, on_delete=models.PROTECT, related_name="conversions", db_index=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversions"
    )
    purchase = models.OneToOneField(
        Purchase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="conversion",
        help_text="The purchase or refund credited; none for a signup.",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    external_id = models.CharField(max_length=200)
    is_first_purchase = models.BooleanField(default=False)
    occurred_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = ConversionQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"], name="uniq_conversion_external_id"
            ),
            # The window decides once who won a customer: one first purchase per referral.
            models.UniqueConstraint(
                fields=["referral"],
                condition=models.Q(is_first_purchase=True),
                name="uniq_first_purchase_per_referral",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="signup", purchase__isnull=True)
                | models.Q(kind__in=["purchase", "refund"], purchase__isnull=False)
                | models.Q(kind="advocacy"),
                name="conversion_purchase_matches_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "kind", "occurred_at"]),
            models.Index(fields=["source", "occurred_at", "id"], name="conversion_source_history"),
        ]

    def __str__(self):
        return f"{self.kind} {self.external_id}"

    @property
    def amount(self) -> Decimal:
        """The amount of the purchase or refund credited (0.00 for a signup)."""
        return self.purchase.amount if self.purchase_id else cents(ZERO)

    @property
    def currency(self) -> str:
        return self.purchase.currency if self.purchase_id else self.organization.currency
