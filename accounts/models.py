"""
Tenancy and the people a business deals with.

Every tenant-owned row carries its organization, and every manager here has
``for_organization(org)`` so that views, tasks and admin scope queries the same way.
"""

import secrets
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower, Upper
from django.utils import timezone as dj_timezone

from core.money import MoneyField

CURRENCIES = [
    ("EUR", "Euro"),
    ("USD", "US dollar"),
    ("GBP", "Pound sterling"),
    ("CHF", "Swiss franc"),
    ("SEK", "Swedish krona"),
    ("NOK", "Norwegian krone"),
    ("DKK", "Danish krone"),
    ("PLN", "Polish złoty"),
    ("CAD", "Canadian dollar"),
    ("AUD", "Australian dollar"),
    ("JPY", "Japanese yen"),
]


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone.")


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in to the dashboard. Identified by email, no username."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False, help_text="Can use the operators' admin site.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=dj_timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self):
        return self.email

    def get_short_name(self):
        return self.name or self.email.split("@")[0]


def _widget_secret() -> str:
    return secrets.token_urlsafe(32)


class Organization(models.Model):
    """The tenant: a business running referral programs."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    currency = models.CharField(max_length=3, choices=CURRENCIES, default="EUR")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    language = models.CharField(
        max_length=8,
        choices=settings.LANGUAGES,
        default="en",
        help_text="The language of emails to its customers and sources.",
    )
    # Analytics settings: what a customer's revenue is worth to the business.
    gross_margin = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("1.0000"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text="Share of net revenue kept after the cost of sales (1 = 100%), for ROI.",
    )
    discount_rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.1000"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text="Yearly rate used to discount projected customer value (0.1 = 10%).",
    )
    horizon_years = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(30)],
        help_text="Years of future revenue counted in a source's projected value.",
    )
    widget_secret = models.CharField(
        max_length=64,
        default=_widget_secret,
        help_text="Signs the customer tokens the business's backend makes for /widget.js.",
    )
    test_of = models.OneToOneField(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="test_organization",
        help_text="Set on an organization's test twin: where its owner runs the whole flow "
        "as a test. Nothing in it counts in the real organization's numbers or is paid out.",
    )
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def is_test(self) -> bool:
        """A test twin: every record in it is a test (see ``rewards.services.testmode``)."""
        return self.test_of_id is not None


class TenantQuerySet(models.QuerySet):
    def for_organization(self, organization):
        return self.filter(organization=organization)


class StatusEvent(models.Model):
    """One change of an object's status: from what, to what, by whom or what, and when.

    Referrals and rewards keep their history in subclasses that add the foreign key to
    the object they describe.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=100, blank=True, default="")
    note = models.CharField(max_length=300, blank=True, default="")
    at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        abstract = True
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.from_status or 'new'} -> {self.to_status} by {self.actor_label}"

    #: The name of the subclass's foreign key to the object whose history it keeps.
    subject_field = ""

    @classmethod
    def record(cls, subject, *, from_status: str, actor=None, label: str = "", note: str = ""):
        """Write down that ``subject`` moved from ``from_status`` to its current status.

        Who did it: an explicit ``label`` ("hold released", "portal") wins, then the
        actor's email, then "system".
        """
        return cls.objects.create(
            organization_id=subject.organization_id,
            **{cls.subject_field: subject},
            from_status=from_status,
            to_status=subject.status,
            actor=actor,
            actor_label=(label or (actor.email if actor else "") or "system")[:100],
            note=(note or "")[:300],
        )


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    ANALYST = "analyst", "Analyst (read-only)"


ROLE_RANK = {Role.ANALYST: 1, Role.MANAGER: 2, Role.OWNER: 3}


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MANAGER)
    created_at = models.DateTimeField(default=dj_timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="uniq_membership")
        ]
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[minimum]


def _invitation_token() -> str:
    return secrets.token_urlsafe(32)


class Invitation(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MANAGER)
    token = models.CharField(max_length=64, unique=True, default=_invitation_token)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=dj_timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(
        null=True, blank=True, help_text="When an owner withdrew it: its link no longer works."
    )
    revoked_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "organization",
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="uniq_open_invitation",
            )
        ]

    def __str__(self):
        return f"Invitation of {self.email} to {self.organization}"


class CustomerQuerySet(TenantQuerySet):
    def referred(self):
        return self.filter(is_referred=True)


class Customer(models.Model):
    """A customer of the business, known by the business's own id and/or email."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CHURNED = "churned", "Churned"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="customers"
    )
    external_id = models.CharField(max_length=120, blank=True, default="")
    email = models.EmailField(blank=True, default="")
    name = models.CharField(max_length=200, blank=True, default="")
    phone = models.CharField(max_length=40, blank=True, default="")
    first_seen_at = models.DateTimeField(default=dj_timezone.now)
    is_referred = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["-first_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=~models.Q(external_id=""),
                name="uniq_customer_external_id",
            ),
            # A customer the business knows only by email is one customer per email, so
            # events racing for an unseen customer create one. Customers with the business's
            # own id may share an email (a joint account, a family address).
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=models.Q(external_id="") & ~models.Q(email=""),
                name="uniq_customer_email_without_id",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "email"]),
            models.Index(fields=["organization", "first_seen_at"]),
            # email__iexact (finding the customer an event names) compares UPPER(email).
            models.Index(F("organization"), Upper("email"), name="customer_email_upper"),
        ]

    def __str__(self):
        return self.name or self.email or self.external_id or f"Customer {self.pk}"


class SourceKind(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    AGENT = "agent", "Agent"
    INTERMEDIARY = "intermediary", "Intermediary"
    PARTNER = "partner", "Partner"
    EMPLOYEE = "employee", "Employee"


class ReferralSourceQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(active=True)

    def with_portal_token(self, token: str, *, now=None):
        """The active source whose portal link this is, while the link has not expired."""
        now = now or dj_timezone.now()
        return self.active().filter(
            models.Q(portal_token_expires_at__isnull=True)
            | models.Q(portal_token_expires_at__gt=now),
            portal_token=token,
        )


def _portal_token() -> str:
    return secrets.token_urlsafe(24)


class ReferralSource(models.Model):
    """Anyone who sends business: a customer, an agent, an intermediary, a partner, staff."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sources")
    kind = models.CharField(max_length=16, choices=SourceKind.choices, default=SourceKind.CUSTOMER)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True, default="")
    company = models.CharField(
        max_length=200, blank=True, default="", help_text="Agency, firm or branch."
    )
    customer = models.ForeignKey(
        Customer,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sources",
        help_text="The customer record of a customer who refers.",
    )
    active = models.BooleanField(default=True)
    portal_token = models.CharField(max_length=64, unique=True, default=_portal_token)
    portal_token_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="When the portal link stops working (never when empty)."
    )
    created_at = models.DateTimeField(default=dj_timezone.now)

    objects = ReferralSourceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        # The list's order, whole and by kind.
        indexes = [
            models.Index(fields=["organization", "kind", "name"], name="source_kind_name"),
            models.Index(fields=["organization", "name"], name="source_name"),
        ]

    def __str__(self):
        return self.name


class InsiderContribution(models.Model):
    """Knowledge a source brought: a tip, an introduction inside a firm, market news.

    The third role of a good customer, next to referrer and advocate. Staff log it with a
    date and a note, and may value it; the rewards app can reward it by hand.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="contributions"
    )
    source = models.ForeignKey(
        ReferralSource, on_delete=models.PROTECT, related_name="contributions"
    )
    occurred_on = models.DateField()
    note = models.TextField()
    value = MoneyField(null=True, blank=True)
    currency = models.CharField(max_length=3, choices=CURRENCIES)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=dj_timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_on", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(value__isnull=True) | models.Q(value__gte=0),
                name="contribution_value_not_negative",
            )
        ]
        indexes = [models.Index(fields=["source", "occurred_on"])]

    def __str__(self):
        return f"Contribution of {self.source} on {self.occurred_on}"


class CsvImport(models.Model):
    """An uploaded CSV file of customers or sources, kept between preview and confirmation.

    The text lives here rather than in the session (which is loaded on every request) or
    on disk. Only the uploader's latest pending file of each kind is kept; a confirmed
    import keeps its counts as a record and drops the text.
    """

    class Kind(models.TextChoices):
        CUSTOMERS = "customers", "Customers"
        SOURCES = "sources", "Sources"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    filename = models.CharField(max_length=200, blank=True, default="")
    content = models.TextField(blank=True, default="")
    row_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=dj_timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Import of {self.kind} {self.filename!r} into {self.organization_id}"


# The partner API and webhooks -------------------------------------------------------------
#
# They live here, in the leftmost domain app, because both the dashboard (owners create
# keys and endpoints) and the domain apps (referrals and rewards emit webhook events) use
# them, and neither may import the ``api`` surface. ``accounts.webhooks`` emits and sends.


class ApiKeyQuerySet(TenantQuerySet):
    def live(self):
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A secret that lets a business's own systems use the partner API for one organization.

    Only a SHA-256 digest of the key is stored (keys are long and random, so a plain digest
    is enough and lets a request find its key with one indexed lookup); the owner sees the
    whole key once, when it is created, and the prefix afterwards.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Write"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=24, help_text="The start of the key, shown to tell keys apart."
    )
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=dj_timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class WebhookEventType(models.TextChoices):
    REFERRAL_CREATED = "referral.created", "A referral was created"
    REFERRAL_CONVERTED = "referral.converted", "A referral became a customer"
    REWARD_APPROVED = "reward.approved", "A reward was approved"
    REWARD_FULFILLED = "reward.fulfilled", "A reward was fulfilled"
    REWARD_VOIDED = "reward.voided", "A reward was voided"
    REWARD_TAKEN_BACK = "reward.taken_back", "Part of a reward was taken back (a partial refund)"
    CREDIT_EXPIRING = "credit.expiring", "Credit expires soon"
    PAYOUT_PAID = "payout.paid", "A payout was paid"
    PAYOUT_FAILED = "payout.failed", "A payout failed"


class WebhookEndpoint(models.Model):
    """A URL of the business that receives signed events it subscribed to."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True, default="")
    events = models.JSONField(default=list, help_text="The event types it receives.")
    secret = models.CharField(
        max_length=64, help_text="Signs each delivery (HMAC-SHA256); shown to the owner once."
    )
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=dj_timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "active"])]

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    """One event sent to one endpoint: the exact body, and how each attempt went."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.CharField(max_length=40)
    event_type = models.CharField(max_length=40, choices=WebhookEventType.choices)
    body = models.TextField(help_text="The JSON sent, byte for byte the same on every attempt.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    log = models.JSONField(default=list, blank=True, help_text="Every attempt, oldest first.")
    created_at = models.DateTimeField(default=dj_timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["endpoint", "created_at"])]

    def __str__(self):
        return f"{self.event_type} {self.event_id} to {self.endpoint_id}"
