"""
Tenancy and the people a business deals with.

Every tenant-owned row carries its organization, and every manager here has
``for_organization(org)`` so that views, tasks and admin scope queries the same way.
"""

import secrets
import zoneinfo

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone as dj_timezone

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
    discount_rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default="0.0800",
        help_text="Yearly rate used to discount projected customer value.",
    )
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


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

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "organization",
                condition=models.Q(accepted_at__isnull=True),
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
    created_at = models.DateTimeField(default=dj_timezone.now)

    objects = ReferralSourceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["organization", "kind"])]

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
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
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
