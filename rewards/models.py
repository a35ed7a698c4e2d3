"""
Reward rules, the rewards they issue, the credit ledger, and payouts.

Both money ledgers are append-only: a balance is the sum of an account's entries, never a
stored number alone, and a correction is a new entry, never an edit.

- The credit ledger (``CreditLot`` + ``LedgerEntry``): credit a holder spends with the
  business. Grants open lots with an expiry date; redemptions, expiries and clawbacks
  consume lots, first to expire first. Never below zero.
- The payout balance (``PayoutBalanceEntry``): money owed to a holder in cash or gift
  cards. Approved cash rewards add to it, payouts take from it, and a clawback that cannot
  be recovered from credit is written here as a debt (a negative entry), so it is deducted
  from whatever the holder is given next: the next payout or the next credit grant.
"""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q, Sum
from django.utils import timezone

from accounts.models import (
    CURRENCIES,
    Customer,
    InsiderContribution,
    Organization,
    ReferralSource,
    StatusEvent,
    TenantQuerySet,
    User,
)
from core.money import MoneyField, cents, format_money
from core.validators import (
    MAX_CREDIT_LIFETIME_DAYS,
    MAX_HOLD_DAYS,
    max_credit_lifetime_days,
    max_hold_days,
    normalize_bic,
    normalize_iban,
    validate_bic,
    validate_iban,
)
from referrals.models import Conversion, Program

ZERO = Decimal("0")


class TierBasis(models.TextChoices):
    COUNT = "count", "Number of customers sent"
    VALUE = "value", "Value of customers sent"


TIER_KEY = {TierBasis.COUNT: "min_referrals", TierBasis.VALUE: "min_value"}
PAID_OUT_KINDS = ("cash", "gift_card")  # reward kinds paid through payouts, not as credit


def _decimal_or_none(value) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return None


class RewardRule(models.Model):
    """What a program pays, to whom, for which event.

    Tiers: ``count`` counts the source's converted referrals in the program (the one being
    rewarded included), ``value`` sums their purchases less refunds; the highest tier whose
    threshold is reached replaces the rule's amount or percent.
    """

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
    amount = MoneyField(default=ZERO, help_text="The fixed amount.")
    percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=ZERO,
        validators=[
            MinValueValidator(ZERO, message="A percent cannot be negative."),
            MaxValueValidator(Decimal("100"), message="A percent cannot be over 100."),
        ],
        help_text="Percent of the purchase amount.",
    )
    cap = MoneyField(null=True, blank=True, help_text="At most this per reward.")
    lifetime_cap = MoneyField(
        null=True,
        blank=True,
        help_text="At most this in all, per friend.",
    )
    tiers = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            'Rising rates, e.g. [{"min_referrals": 5, "amount": "30"}] (or "percent"); by value: '
            '[{"min_value": "1000", "percent": "7"}]. The best tier reached applies.'
        ),
    )
    tier_basis = models.CharField(
        max_length=16,
        choices=TierBasis.choices,
        default=TierBasis.COUNT,
    )
    reward_kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CREDIT)
    currency = models.CharField(max_length=3, choices=CURRENCIES)
    hold_days = models.PositiveIntegerField(
        default=0, validators=[max_hold_days], help_text="Refund window before approval."
    )
    credit_lifetime_days = models.PositiveIntegerField(
        default=365,
        validators=[MinValueValidator(1), max_credit_lifetime_days],
        help_text="How long granted credit lasts.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(hold_days__lte=MAX_HOLD_DAYS)
                & models.Q(credit_lifetime_days__lte=MAX_CREDIT_LIFETIME_DAYS),
                name="rule_days_bounded",
            ),
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
            models.CheckConstraint(
                condition=models.Q(lifetime_cap__isnull=True) | models.Q(lifetime_cap__gte=0),
                name="rule_lifetime_cap_not_negative",
            ),
        ]

    def __str__(self):
        return self.name or f"{self.get_formula_display()} to {self.get_beneficiary_display()}"

    def clean(self):
        errors = {}
        if self.amount is not None and self.amount < 0:
            errors["amount"] = "The amount cannot be negative."
        elif self.formula == self.Formula.FIXED and not self.amount:
            errors["amount"] = "A fixed reward needs an amount above zero."
        if self.formula == self.Formula.PERCENT:
            if not self.percent:
                errors.setdefault("percent", "A percent reward needs a percent above zero.")
            if self.trigger == self.Trigger.SIGNUP:
                errors["trigger"] = (
                    "A signup has no amount to take a percent of: use a fixed amount, "
                    "or a purchase or advocacy trigger."
                )
        if self.cap is not None and self.cap < 0:
            errors["cap"] = "The cap cannot be below zero."
        if self.lifetime_cap is not None and self.lifetime_cap < 0:
            errors["lifetime_cap"] = "The lifetime cap cannot be below zero."
        if self.beneficiary == self.Beneficiary.FRIEND and self.reward_kind in PAID_OUT_KINDS:
            errors["reward_kind"] = (
                "A friend's reward is credit or a coupon; cash and gift cards are paid out "
                "to sources."
            )
        if self.program_id and self.currency:
            currency = self.program.organization.currency
            if self.currency != currency:
                errors["currency"] = (
                    f"Rewards are paid in the organization's currency ({currency}), "
                    f"not {self.currency}."
                )
        tier_error = self._tier_error()
        if tier_error:
            errors["tiers"] = tier_error
        if errors:
            raise ValidationError(errors)

    def _tier_error(self) -> str:
        if not isinstance(self.tiers, list):
            return "Tiers are a list of {threshold, rate} objects."
        key = TIER_KEY.get(self.tier_basis, "min_referrals")
        thresholds = set()
        for tier in self.tiers:
            if not isinstance(tier, dict) or key not in tier:
                return f'Each tier of this basis needs "{key}" and an "amount" or a "percent".'
            threshold = _decimal_or_none(tier[key])
            if threshold is None or threshold < 0:
                return f'"{key}" must be a number of zero or more.'
            if threshold in thresholds:
                # Which of the two would pay is only the order they were typed in.
                return f"Two tiers start at {threshold.normalize():f}: give each its own threshold."
            thresholds.add(threshold)
            rate_key = "amount" if self.formula == self.Formula.FIXED else "percent"
            if rate_key not in tier:
                formula = self.get_formula_display().lower()
                return f'Each tier of a {formula} rule needs "{rate_key}".'
            rate = _decimal_or_none(tier[rate_key])
            if rate is None or rate < 0:
                return f'A tier\'s "{rate_key}" cannot be negative.'
            if rate_key == "percent" and rate > 100:
                return "A tier's percent cannot be over 100."
        return ""


class RewardQuerySet(TenantQuerySet):
    def kept(self):
        """Rewards not voided: what the business gives, or will give once the hold ends."""
        return self.exclude(status=Reward.Status.VOID)

    def cost(self) -> Decimal:
        """What the rewards cost: the value of those not voided, less what partial refunds
        took back (see ``Reward.value``), to the cent."""
        return cents(self.aggregate(total=reward_cost_sum())["total"])


def reward_cost_sum(among: Q | None = None) -> Sum:
    """The aggregate behind ``RewardQuerySet.cost``, for totals grouped by source, kind or
    day: the value of the rewards not voided, less what partial refunds took back (of the
    rewards ``among`` selects, when given)."""
    kept = ~Q(status=Reward.Status.VOID)
    return Sum(F("amount") - F("taken_back"), filter=kept & among if among else kept)


class Reward(models.Model):
    """What a rule paid for a conversion (or staff gave by hand), to a source or a customer.

    ``amount`` is what was issued and never changes; a partial refund of the purchase takes
    back its share into ``taken_back`` (written as ledger or payout-balance entries when the
    reward was already given), and a full refund voids the reward.
    """

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
    amount = MoneyField()
    taken_back = MoneyField(
        default=ZERO,
        help_text="Taken back by partial refunds of the purchase, in proportion.",
    )
    currency = models.CharField(max_length=3, choices=CURRENCIES)
    reward_kind = models.CharField(
        max_length=16, choices=RewardRule.Kind.choices, default=RewardRule.Kind.CREDIT
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    hold_until = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True, default="")
    void_reason = models.CharField(max_length=200, blank=True, default="")
    coupon_code = models.CharField(max_length=32, blank=True, default="")
    payout = models.ForeignKey(
        "Payout",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        help_text="The payout that pays this cash or gift-card reward.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the beneficiary was emailed about it."
    )
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    contribution = models.OneToOneField(
        InsiderContribution,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reward",
        help_text="The insider's contribution this manual reward thanks: rewarded once.",
    )

    objects = RewardQuerySet.as_manager()

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
            models.CheckConstraint(
                condition=models.Q(taken_back__gte=0) & models.Q(taken_back__lte=F("amount")),
                name="reward_taken_back_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "created_at"]),
            models.Index(fields=["organization", "created_at"], name="reward_org_created"),
            models.Index(
                fields=["hold_until"],
                condition=models.Q(status="pending"),
                name="reward_pending_by_hold",
            ),
        ]

    def __str__(self):
        return f"{format_money(self.amount, self.currency)} to {self.source or self.customer}"

    @property
    def beneficiary(self):
        return self.source or self.customer

    @property
    def value(self) -> Decimal:
        """What the reward is worth now: its amount less what partial refunds took back."""
        return self.amount - self.taken_back

    @property
    def is_paid_out(self) -> bool:
        """Cash and gift-card rewards are paid through payouts; credit and coupons are not."""
        return self.reward_kind in PAID_OUT_KINDS


class RewardEvent(StatusEvent):
    """The history of a reward: every change of status, and who or what made it."""

    subject_field = "reward"

    reward = models.ForeignKey(Reward, on_delete=models.CASCADE, related_name="events")


class CreditAccount(models.Model):
    """A holder's account with the business: one per source or customer.

    It carries both ledgers of the holder (credit lots and entries, and the payout
    balance), and its row lock serializes every movement of the holder's money.
    """

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
        # The balances list's order (newest first).
        indexes = [
            models.Index(fields=["organization", "created_at", "id"], name="account_org_created")
        ]

    def __str__(self):
        return f"Credit of {self.source or self.customer}"

    @property
    def holder(self):
        return self.source or self.customer


class CreditLotQuerySet(TenantQuerySet):
    def open(self, at=None):
        """Lots that can be spent at ``at`` (default now): something left, not past their date,
        not closed by the expiry task."""
        return self.filter(
            remaining__gt=0, expired_at__isnull=True, expires_at__gt=at or timezone.now()
        )


class CreditLot(models.Model):
    """Credit granted at once, with one expiry date. ``remaining`` is what is left of it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(CreditAccount, on_delete=models.CASCADE, related_name="lots")
    reward = models.OneToOneField(
        Reward, on_delete=models.PROTECT, null=True, blank=True, related_name="lot"
    )
    amount = MoneyField()
    remaining = MoneyField()
    granted_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    expired_at = models.DateTimeField(null=True, blank=True)

    objects = CreditLotQuerySet.as_manager()

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
            # What a ledger entry's one foreign key refers to (see LedgerEntry).
            models.UniqueConstraint(
                fields=["id", "account", "organization"], name="lot_id_account_organization"
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

    # organization and lot lead the composite indexes below, (organization, kind, at) and
    # the unique (lot, idempotency_key): an index of their own would only slow every write.
    #
    # One database constraint, not three: (lot, account, organization) must be a lot's own
    # (``lot_id_account_organization`` on CreditLot; migration rewards 0009, PostgreSQL).
    # It also says what three separate keys could not, that an entry moves credit on a lot
    # of its own account and organization, and costs one check per new entry instead of
    # three (a third of the time expiry took to write a million entries).
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="entries", db_constraint=False
    )
    lot = models.ForeignKey(
        CreditLot,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = MoneyField()
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


class PayoutBalanceEntry(models.Model):
    """One movement of the money owed to a holder outside credit (cash, gift cards).

    The balance is the sum of the account's entries. Negative means the holder owes the
    business (a clawback that credit could not cover): the next payout or credit grant
    settles it first. ``idempotency_key`` makes every write replay-safe.
    """

    class Kind(models.TextChoices):
        EARNED = "earned", "Reward earned"
        VOID = "void", "Reward voided"
        DEBT = "debt", "Debt (clawback not recovered)"
        PAYOUT = "payout", "Payout"
        SETTLEMENT = "settlement", "Debt settled from credit"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="balance_entries"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = MoneyField()
    reward = models.ForeignKey(
        Reward, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payout = models.ForeignKey(
        "Payout", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    idempotency_key = models.CharField(max_length=200)
    note = models.CharField(max_length=300, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "payout balance entries"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "idempotency_key"], name="uniq_balance_entry_key"
            ),
        ]
        # Debt at an instant (analytics) moves a snapshot of the balances by the entries
        # between two instants: a few entries, not every entry of the organization.
        indexes = [models.Index(fields=["organization", "at"], name="balance_entry_org_at")]

    def __str__(self):
        return f"{self.kind} {self.amount}"


MAX_PAYOUT_KEY_LENGTH = 255
#: A provider's reference for a payout: room for a whole key with a provider's prefix
#: (the manual bank transfer's "manual:<key>"), so two keys never show one reference.
MAX_PROVIDER_REFERENCE_LENGTH = 300


class Payout(models.Model):
    """Money paid to a source: requested -> processing -> paid | failed.

    The idempotency key is unique per organization and is what the provider is called with,
    so a payout retried after a crash is paid exactly once.
    """

    class Method(models.TextChoices):
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        GIFT_CARD = "gift_card", "Gift card (by email)"
        CREDIT = "credit", "Account credit"

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        PROCESSING = "processing", "Processing"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(ReferralSource, on_delete=models.PROTECT, related_name="payouts")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="payouts")
    amount = MoneyField()
    currency = models.CharField(max_length=3, choices=CURRENCIES)
    method = models.CharField(max_length=16, choices=Method.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    # The whole Idempotency-Key the API takes (api.idempotency.MAX_KEY_LENGTH).
    idempotency_key = models.CharField(max_length=MAX_PAYOUT_KEY_LENGTH)
    provider_reference = models.CharField(
        max_length=MAX_PROVIDER_REFERENCE_LENGTH, blank=True, default=""
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    requested_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    # The bank details as they were when the payout was asked for: finance pays these even
    # if the source changes its details while the transfer waits.
    account_holder = models.CharField(max_length=200, blank=True, default="")
    iban = models.CharField(max_length=34, blank=True, default="")
    bic = models.CharField(max_length=11, blank=True, default="")

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"], name="uniq_payout_idempotency_key"
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payout_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "created_at"]),
            models.Index(fields=["organization", "created_at", "id"], name="payout_org_created"),
            # Cash paid in a period (analytics): the payouts paid between two instants, a few
            # minutes of them since the rollups' cut, not every payout of the organization.
            models.Index(
                fields=["organization", "paid_at"],
                condition=models.Q(status="paid"),
                name="payout_org_paid_at",
            ),
        ]

    def __str__(self):
        return f"Payout {self.pk} of {format_money(self.amount, self.currency)} to {self.source}"


class PayoutDetails(models.Model):
    """How a source wants to be paid, kept by the source itself in its portal: the method
    and, for a bank transfer, the account holder, IBAN and (optional) BIC."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    source = models.OneToOneField(
        ReferralSource, on_delete=models.CASCADE, related_name="payout_details"
    )
    method = models.CharField(
        max_length=16, choices=Payout.Method.choices, default=Payout.Method.BANK_TRANSFER
    )
    account_holder = models.CharField(max_length=200, blank=True, default="")
    iban = models.CharField(max_length=34, blank=True, default="", validators=[validate_iban])
    bic = models.CharField(max_length=11, blank=True, default="", validators=[validate_bic])
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "payout details"

    def __str__(self):
        return f"Payout details of {self.source}"

    def save(self, *args, **kwargs):
        self.iban = normalize_iban(self.iban)
        self.bic = normalize_bic(self.bic)
        super().save(*args, **kwargs)

    @property
    def has_bank_account(self) -> bool:
        return bool(self.account_holder and self.iban)

    @property
    def iban_masked(self) -> str:
        """The IBAN as the portal shows it back: country and last four only."""
        if not self.iban:
            return ""
        return f"{self.iban[:2]}•• •••• {self.iban[-4:]}"


class GiftCard(models.Model):
    """A gift card sent by the email gift-card provider: its record of each payment.

    The code is derived from the payout's idempotency key with an HMAC, so a retry sends
    the same code; only its last four characters are stored.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    payout = models.OneToOneField(Payout, on_delete=models.PROTECT, related_name="gift_card")
    code_last4 = models.CharField(max_length=4)
    amount = MoneyField()
    currency = models.CharField(max_length=3, choices=CURRENCIES)
    email = models.EmailField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Gift card ...{self.code_last4} for payout {self.payout_id}"


class CreditReminder(models.Model):
    """A reminder that a lot expires soon, claimed before the email is sent: never twice."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    lot = models.ForeignKey(CreditLot, on_delete=models.CASCADE, related_name="reminders")
    days_before = models.PositiveSmallIntegerField()
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lot", "days_before"], name="uniq_reminder_per_lot"),
        ]

    def __str__(self):
        return f"{self.days_before}-day reminder for lot {self.lot_id}"
