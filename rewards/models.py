"""
Reward rules, the rewards they issue, and the credit ledger.

The ledger is append-only: a balance is the sum of an account's entries, never a stored
number alone. Grants open lots with an expiry date; redemptions and expiries consume lots.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from accounts.models import CURRENCIES, Customer, Organization, ReferralSource, TenantQuerySet, User
from referrals.models import Conversion, Program

ZERO = Decimal("0")


class RewardRule(models.Model):
    class Beneficiary(models.TextChoices):
        REFERRER = "referrer", "Referrer (the source)"
        FRIEND = "friend", "Friend (the new customer)"

    class Trigger(models.TextChoices):
        SIGNUP = "signup", "Friend signs up"
        FIRST_PURCHASE = "first_purchase", "Friend's first purchase"
        EVERY_PURCHASE = "every_purchase", "Every purchase of the friend"
        ADVOCACY = "advocacy", "Advocacy (existing customer buys again)"

    class Formula(models.TextChoices):
        FIXED = "fixed", "Fixed amount"
        PERCENT = "percent", "Percent of the amount"

    class Kind(models.TextChoices):
        CREDIT = "credit", "Account credit"
        CASH = "cash", "Cash"
        GIFT_CARD = "gift_card", "Gift card"
        COUPON = "coupon", "Coupon code"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="reward_rules")
    name = models.CharField(max_length=200, blank=True, default="")
    beneficiary = models.CharField(
        max_length=16, choices=Beneficiary.choices, default=Beneficiary.REFERRER
    )
    trigger = models.CharField(
        max_length=20, choices=Trigger.choices, default=Trigger.FIRST_PURCHASE
    )
    formula = models.CharField(max_length=16, choices=Formula.choices, default=Formula.FIXED)
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, default=ZERO, help_text="The fixed amount."
    )
    percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=ZERO,
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("100"))],
        help_text="Percent of the purchase amount.",
    )
    cap = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="At most this per reward."
    )
    lifetime_cap = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="At most this in all, per friend.",
    )
    tiers = models.JSONField(
        default=list,
        blank=True,
        help_text='Rising rates, e.g. [{"min_referrals": 5, "amount": "30"}] or with "percent".',
    )
    tier_basis = models.CharField(
        max_length=16,
        choices=[("count", "Number of customers sent"), ("value", "Value of customers sent")],
        default="count",
    )
    reward_kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CREDIT)
    currency = models.CharField(max_length=3, choices=CURRENCIES)
    hold_days = models.PositiveIntegerField(default=0, help_text="Refund window before approval.")
    credit_lifetime_days = models.PositiveIntegerField(
        default=365, validators=[MinValueValidator(1)], help_text="How long granted credit lasts."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="rule_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(percent__gte=0) & models.Q(percent__lte=100),
                name="rule_percent_0_100",
            ),
            models.CheckConstraint(
                condition=models.Q(cap__isnull=True) | models.Q(cap__gte=0),
                name="rule_cap_not_negative",
            ),
        ]

    def __str__(self):
        return self.name or f"{self.get_formula_display()} to {self.get_beneficiary_display()}"

    def clean(self):
        errors = {}
        if self.amount is not None and self.amount < 0:
            errors["amount"] = "The amount cannot be negative."
        if self.formula == self.Formula.FIXED and not self.amount:
            errors["amount"] = "A fixed reward needs an amount above zero."
        if self.formula == self.Formula.PERCENT and not self.percent:
            errors["percent"] = "A percent reward needs a percent above zero."
        if self.cap is not None and self.cap < 0:
            errors["cap"] = "The cap cannot be below zero."
        if self.lifetime_cap is not None and self.lifetime_cap < 0:
            errors["lifetime_cap"] = "The lifetime cap cannot be below zero."
        if (
            self.program_id
            and self.currency
            and self.currency != self.program.organization.currency
        ):
            currency = self.program.organization.currency
            errors["currency"] = f"Rewards are paid in the organization's currency ({currency})."
        if not isinstance(self.tiers, list):
            errors["tiers"] = "Tiers are a list."
        else:
            for tier in self.tiers:
                if (
                    not isinstance(tier, dict)
                    or "min_referrals" not in tier
                    and "min_value" not in tier
                ):
                    errors["tiers"] = 'Each tier needs "min_referrals" (or "min_value") and a rate.'
                    break
        if errors:
            raise ValidationError(errors)


class Reward(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        FULFILLED = "fulfilled", "Fulfilled"
        VOID = "void", "Void"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="rewards")
    rule = models.ForeignKey(
        RewardRule, on_delete=models.PROTECT, null=True, blank=True, related_name="rewards"
    )
    conversion = models.ForeignKey(
        Conversion, on_delete=models.PROTECT, null=True, blank=True, related_name="rewards"
    )
    source = models.ForeignKey(
        ReferralSource, on_delete=models.PROTECT, null=True, blank=True, related_name="rewards"
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="rewards"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, choices=CURRENCIES)
    reward_kind = models.CharField(
        max_length=16, choices=RewardRule.Kind.choices, default=RewardRule.Kind.CREDIT
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    hold_until = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True, default="")
    void_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One reward per rule and conversion: a task delivered twice issues nothing new.
            models.UniqueConstraint(
                fields=["rule", "conversion"],
                condition=models.Q(rule__isnull=False, conversion__isnull=False),
                name="uniq_reward_per_rule_conversion",
            ),
            models.CheckConstraint(
                condition=models.Q(source__isnull=False) | models.Q(customer__isnull=False),
                name="reward_has_beneficiary",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="reward_amount_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["organization", "status", "created_at"])]

    def __str__(self):
        return f"{self.amount} {self.currency} to {self.source or self.customer}"


class CreditAccount(models.Model):
    """The credit balance holder: one per source or customer."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    source = models.OneToOneField(
        ReferralSource,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="credit_account",
    )
    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="credit_account"
    )
    currency = models.CharField(max_length=3, choices=CURRENCIES)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(source__isnull=False) & models.Q(customer__isnull=True))
                | (models.Q(source__isnull=True) & models.Q(customer__isnull=False)),
                name="credit_account_one_holder",
            )
        ]

    def __str__(self):
        return f"Credit of {self.source or self.customer}"

    @property
    def holder(self):
        return self.source or self.customer


class CreditLot(models.Model):
    """Credit granted at once, with one expiry date. ``remaining`` is what is left of it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(CreditAccount, on_delete=models.CASCADE, related_name="lots")
    reward = models.OneToOneField(
        Reward, on_delete=models.PROTECT, null=True, blank=True, related_name="lot"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    remaining = models.DecimalField(max_digits=12, decimal_places=2)
    granted_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    expired_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["expires_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(remaining__gte=0), name="lot_remaining_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(remaining__lte=models.F("amount")),
                name="lot_remaining_le_amount",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=models.Q(remaining__gt=0, expired_at__isnull=True),
                name="lot_open_by_expiry",
            ),
        ]

    def __str__(self):
        return f"{self.remaining}/{self.amount} until {self.expires_at:%Y-%m-%d}"


class LedgerEntry(models.Model):
    """One movement of credit on one lot. Positive adds to the balance, negative takes from it."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Grant"
        REDEEM = "redeem", "Redemption"
        EXPIRE = "expire", "Expiry"
        CLAWBACK = "clawback", "Clawback"
        ADJUSTMENT = "adjustment", "Adjustment"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    lot = models.ForeignKey(CreditLot, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    idempotency_key = models.CharField(max_length=200)
    reference = models.CharField(max_length=200, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            # Every movement touches one lot; a key is used once per lot, so a grant,
            # a redemption or an expiry replayed writes nothing new.
            models.UniqueConstraint(
                fields=["lot", "idempotency_key"], name="uniq_ledger_entry_key"
            ),
        ]
        indexes = [models.Index(fields=["organization", "kind", "at"])]

    def __str__(self):
        return f"{self.kind} {self.amount}"
