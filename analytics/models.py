"""Daily rollups: each organization's figures per program, source and local day.

Analytics reads them for every whole day they cover, and the rows themselves only for the
days after (``report._read``). ``rollups.build`` writes them from the same reads the pages
use on raw rows, so a rollup is the sum the page would have read; a test checks each one.
"""

from django.db import models
from django.utils import timezone

from accounts.models import Organization, ReferralSource
from core.money import MoneyField
from referrals.models import Program


class DailyRollup(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(help_text="A day in the organization's time zone.")
    program = models.ForeignKey(
        Program, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    source = models.ForeignKey(
        ReferralSource, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # Volume
    clicks = models.PositiveIntegerField(default=0)
    referrals = models.PositiveIntegerField(default=0)
    link = models.PositiveIntegerField(default=0)
    email = models.PositiveIntegerField(default=0)
    phone = models.PositiveIntegerField(default=0)
    in_person = models.PositiveIntegerField(default=0)
    api = models.PositiveIntegerField(default=0)
    signups = models.PositiveIntegerField(default=0)
    customers_won = models.PositiveIntegerField(default=0)
    purchases = models.PositiveIntegerField(default=0)
    # Money (net revenue may be negative on a day of refunds)
    net = MoneyField(default=0)
    advocacy = MoneyField(default=0)
    contributions = MoneyField(default=0)
    cost = MoneyField(default=0)
    referrer = MoneyField(default=0)
    issued = MoneyField(default=0)
    voided = MoneyField(default=0)
    taken_back = MoneyField(default=0)
    expired = MoneyField(default=0)  # ledger amounts: negative
    paid = MoneyField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "day", "program", "source"],
                nulls_distinct=False,
                name="uniq_daily_rollup",
            )
        ]
        indexes = [models.Index(fields=["organization", "day"])]

    def __str__(self):
        return f"{self.organization_id} {self.day} {self.program_id}/{self.source_id}"


class RollupState(models.Model):
    """How far an organization's rollups go: every day up to ``built_through`` is rolled up."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    built_through = models.DateField()
    built_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.organization_id} through {self.built_through}"
