"""Daily rollups: each organization's figures per program, source and local day.

Analytics reads them for what happened before the instant they are built up to, and the rows
themselves only for what happened from it on (``report._read``, ``rollups.cut``).
``rollups.build`` writes them from the same reads the pages use on raw rows, so a rollup is
the sum the page would have read; a test checks each one.

Three grains hold the same columns: ``DailyRollup`` per program and *source* (what a source's
figures and the table of sources read), and ``KindRollup`` per program and *kind of source*,
summed from it (what every read without a source reads: the totals, the kinds, the days and
months), and ``SourceRollup`` every day per program and source (all time per source). A
million customers make millions of source-days but a few thousand kind-days.
"""

from django.db import models
from django.utils import timezone

from accounts.models import Customer, Organization, ReferralSource
from core.money import MoneyField
from referrals.models import Program


class RollupSums(models.Model):
    """The summed columns of a rollup row (one definition each in ``rollups.COLUMNS``)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    program = models.ForeignKey(
        Program, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
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
    # Net revenue no source is credited with (on the row of no program and no source).
    uncredited = MoneyField(default=0)
    cost = MoneyField(default=0)
    referrer = MoneyField(default=0)
    issued = MoneyField(default=0)
    voided = MoneyField(default=0)
    taken_back = MoneyField(default=0)
    expired = MoneyField(default=0)  # ledger amounts: negative
    granted = MoneyField(default=0)  # credit granted on the ledger
    paid = MoneyField(default=0)

    class Meta:
        abstract = True


class RollupColumns(RollupSums):
    day = models.DateField(help_text="A day in the organization's time zone.")

    class Meta:
        abstract = True


class DailyRollup(RollupColumns):
    source = models.ForeignKey(
        ReferralSource, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "day", "program", "source"],
                nulls_distinct=False,
                name="uniq_daily_rollup",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "day"]),
            # The days of a few sources (a page's top ten, one source's filter).
            models.Index(fields=["source", "day"], name="dailyrollup_source_day"),
        ]

    def __str__(self):
        return f"{self.organization_id} {self.day} {self.program_id}/{self.source_id}"


class KindRollup(RollupColumns):
    """The daily rollups of one program and day summed per kind of source (None: rows of no
    source), written by ``rollups.build`` from ``DailyRollup`` in the same transaction."""

    # None, not "": the rows of no source, as a read grouped by the source's kind has them.
    kind = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "day", "program", "kind"],
                nulls_distinct=False,
                name="uniq_kind_rollup",
            )
        ]

    def __str__(self):
        return f"{self.organization_id} {self.day} {self.program_id}/{self.kind}"


class SourceRollup(RollupSums):
    """Every day's rollups of one program and source summed (``Σ DailyRollup``, kept so by
    ``rollups.build`` in the transaction that replaces days): what a read of every day per
    source reads (the overview's top sources of all time), a row per source, not per day."""

    source = models.ForeignKey(
        ReferralSource, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "program", "source"],
                nulls_distinct=False,
                name="uniq_source_rollup",
            )
        ]
        indexes = [
            # The ranking of every source by its net revenue of every day (``ranked_sources``)
            # reads this index alone, in source order: a few MB, not the table's columns.
            models.Index(
                fields=["organization", "source"], include=["net"], name="sourcerollup_net_cover"
            ),
        ]

    def __str__(self):
        return f"{self.organization_id} {self.program_id}/{self.source_id}"


class WonSums(models.Model):
    """The net revenue (purchases minus refunds, credited, advocacy aside) of the customers
    won on ``won_day`` (their referral's ``converted_at``, local) bought on ``day`` (local):
    the two dates new business and the value of the customers won tie together. New business
    of a period sums the rows with both days in it, the value of its customers won the rows
    with ``won_day`` in it (any ``day``). Written by ``rollups.build`` for the purchase days
    it builds, like the daily rollups."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(help_text="The local day of the purchase or refund.")
    won_day = models.DateField(help_text="The local day the customer was won.")
    value = MoneyField(default=0)

    class Meta:
        abstract = True


class WonRollup(WonSums):
    """``WonSums`` per program and source: what a read by source, or of one source, reads."""

    source = models.ForeignKey(ReferralSource, on_delete=models.CASCADE, related_name="+")

    class Meta:
        indexes = [
            # Covering: the sums of the customers won in a period by source read the index.
            models.Index(
                fields=["organization", "won_day"],
                include=["source", "program", "day", "value"],
                name="wonrollup_won_day_cover",
            ),
            # The figures of the few sources a page shows (``Filters.source_ids``): read from
            # this index alone, not by filtering every source's rows of the period.
            models.Index(
                fields=["organization", "source", "won_day"],
                include=["program", "day", "value"],
                name="wonrollup_source_cover",
            ),
            models.Index(fields=["organization", "day"], name="wonrollup_day"),
        ]

    def __str__(self):
        return f"{self.organization_id} {self.day}/{self.won_day} {self.source_id}"


class WonKindRollup(WonSums):
    """``WonRollup`` summed per kind of source (by each source's kind when summed, summed
    again when a source changes kind, as ``KindRollup``): what every read without a source
    reads, a few thousand rows where the rows per source are hundreds of thousands."""

    kind = models.CharField(max_length=32)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "won_day"], name="wonkindrollup_won_day"),
            models.Index(fields=["organization", "day"], name="wonkindrollup_day"),
        ]

    def __str__(self):
        return f"{self.organization_id} {self.day}/{self.won_day} {self.kind}"


class BalanceSnapshot(models.Model):
    """Each credit account's payout balance (the sum of its ``PayoutBalanceEntry`` rows) at
    the instant the rollups are built up to (``RollupState.balances_at``), written by
    ``rollups.rebuild``: the unrecovered debt at any instant is this balance moved by the
    entries between the two instants, a few rows, not every entry ever. ``lowest`` is the
    lowest balance the account ever had up to then: only an account that has owed can owe
    at an earlier instant, so a read of an earlier instant moves those accounts alone."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    account_id = models.BigIntegerField()
    source = models.ForeignKey(
        ReferralSource, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    balance = MoneyField(default=0)
    lowest = MoneyField(
        null=True,
        blank=True,
        help_text="The lowest balance the account had at any instant up to the snapshot's "
        "(None: not known, a snapshot written before it was kept).",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "account_id"], name="uniq_balance_snapshot"
            )
        ]

    def __str__(self):
        return f"{self.organization_id} {self.account_id}: {self.balance}"


class RollupState(models.Model):
    """How far an organization's rollups go: every row of an instant before ``built_until``
    is rolled up, the rows of ``built_through`` (its local day) up to it, and every row with
    only a date before that day. Rollups written before ``built_until`` existed (None) cover
    every day up to ``built_through`` whole."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    built_through = models.DateField()
    built_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The instant the rollups are built up to (a few minutes before they were "
        "built): the pages read the rows from it on.",
    )
    built_from = models.DateField(
        null=True, blank=True, help_text="The first day rolled up (the first event's)."
    )
    built_at = models.DateTimeField(default=timezone.now)
    kinds_digest = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Every source's kind when the rows per kind were summed: when a source "
        "changes kind, the refresh sums them again.",
    )
    ranked_by_net = models.JSONField(
        null=True,
        blank=True,
        help_text="The first sources ranked by their net revenue of every day, [[source id, "
        '"sum"], ...] as rollups.ranked_sources gives them, written with the sums it ranks '
        "(None: not written yet).",
    )
    won_built = models.BooleanField(
        default=False,
        help_text="The rows of new business and of the value of the customers won (WonRollup) "
        "cover every day the daily rollups cover.",
    )
    timezone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="The time zone whose local days the rollups hold: when the organization "
        "moves to another, they are built again (empty: built before it was recorded).",
    )
    balances_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The instant of the payout balances in BalanceSnapshot: the instant the "
        "rollups are built up to.",
    )

    def __str__(self):
        return f"{self.organization_id} through {self.built_until or self.built_through}"


class CustomerFact(models.Model):
    """What retention and value need of one customer, none of it depending on "now".

    ``started_at`` is the first purchase (None: never bought); per span of N days,
    ``again_N`` says whether they bought again N days or more after it and ``revenue_N`` is
    their net revenue before start + N days. Whether a span is *over* depends on now, so it
    is decided when read (``facts``). Built and kept current by ``facts.rebuild``/``refresh``.
    """

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    referred = models.BooleanField()
    started_at = models.DateTimeField(null=True)
    start_day = models.DateField(null=True, help_text="started_at's day in the org's time zone.")
    # The referral that won the customer (the first converted), if any.
    source = models.ForeignKey(
        ReferralSource,
        on_delete=models.DO_NOTHING,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    program = models.ForeignKey(
        Program,
        on_delete=models.DO_NOTHING,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    again_30 = models.BooleanField(default=False)
    again_90 = models.BooleanField(default=False)
    again_180 = models.BooleanField(default=False)
    again_365 = models.BooleanField(default=False)
    revenue_30 = MoneyField(default=0)
    revenue_90 = MoneyField(default=0)
    revenue_180 = MoneyField(default=0)
    revenue_365 = MoneyField(default=0)
    revenue = MoneyField(default=0, help_text="Net revenue of every purchase to date.")

    class Meta:
        indexes = [
            models.Index(fields=["organization", "start_day"], name="customerfact_start"),
            models.Index(
                fields=["organization", "source"],
                include=["started_at", "again_365", "program"],
                condition=models.Q(referred=True),
                name="customerfact_referred_source",
            ),
        ]

    def __str__(self):
        return f"{self.organization_id} customer {self.customer_id}"


class CohortRollup(models.Model):
    """The customer facts summed per organization, start day (local) and referred: every
    customer counted whether or not a span is over (the reader decides by the day).
    ``day`` None holds the customers who never bought."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(null=True)
    referred = models.BooleanField()
    customers = models.PositiveIntegerField(default=0)
    revenue = MoneyField(default=0)  # every purchase to date
    buying_30 = models.PositiveIntegerField(default=0)
    buying_90 = models.PositiveIntegerField(default=0)
    buying_180 = models.PositiveIntegerField(default=0)
    buying_365 = models.PositiveIntegerField(default=0)
    revenue_30 = MoneyField(default=0)
    revenue_90 = MoneyField(default=0)
    revenue_180 = MoneyField(default=0)
    revenue_365 = MoneyField(default=0)
    squares_30 = models.DecimalField(max_digits=36, decimal_places=4, default=0)
    squares_90 = models.DecimalField(max_digits=36, decimal_places=4, default=0)
    squares_180 = models.DecimalField(max_digits=36, decimal_places=4, default=0)
    squares_365 = models.DecimalField(max_digits=36, decimal_places=4, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "day", "referred"],
                nulls_distinct=False,
                name="uniq_cohort_rollup",
            )
        ]

    def __str__(self):
        return f"{self.organization_id} {self.day} referred={self.referred}"


class FactState(models.Model):
    """How current an organization's customer facts are: every purchase recorded and every
    referral converted before ``recorded_through``, and every customer up to
    ``last_customer_id``, is in them."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    recorded_through = models.DateTimeField()
    last_customer_id = models.BigIntegerField(default=0)
    built_at = models.DateTimeField(default=timezone.now)
    # The source values: historic up to ``values_until`` (the daily rollups' cut then, in
    # their last day ``values_through``; the end of that day when None), recent revenue
    # from the start of ``recent_from`` up to the same instant.
    values_through = models.DateField(null=True)
    values_until = models.DateTimeField(null=True, blank=True)
    recent_from = models.DateField(null=True)
    timezone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="The time zone whose local days the facts' start days are: when the "
        "organization moves to another, they are built again (empty: built before it was "
        "recorded).",
    )

    def __str__(self):
        return f"{self.organization_id} facts as of {self.recorded_through}"


class SourceValue(models.Model):
    """Per organization, program and source: the net revenue credited to date (to the end of
    ``FactState.values_through``, from the daily rollups) and the credited net revenue of
    still-active customers, advocacy aside, from ``FactState.recent_from`` to the same end
    (the R of a projection is read from it and the rows at its two edges, see ``value``)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    program = models.ForeignKey(
        Program, on_delete=models.CASCADE, null=True, related_name="+", db_index=False
    )
    source = models.ForeignKey(
        ReferralSource, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    historic = MoneyField(default=0)
    recent = MoneyField(default=0)

    def __str__(self):
        return f"{self.organization_id} {self.program_id}/{self.source_id}"
