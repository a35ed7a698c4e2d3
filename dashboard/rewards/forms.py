from decimal import Decimal

from django import forms

from accounts.models import InsiderContribution, Organization, ReferralSource
from core.validators import MAX_CREDIT_LIFETIME_DAYS
from dashboard.fields import limit_choices
from referrals.models import Program
from rewards.models import Payout, RewardRule, TierBasis
from rewards.services import MANUAL_KINDS
from rewards.words import rule_in_words


class TierForm(forms.Form):
    """One row of a rule's tiers: from this much sent, this rate."""

    threshold = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        label="From",
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "e.g. 5"}),
    )
    rate = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        label="Pays",
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "e.g. 30"}),
    )

    def clean(self):
        data = super().clean()
        if (data.get("threshold") is None) != (data.get("rate") is None):
            raise forms.ValidationError("Give both the threshold and what it pays, or neither.")
        return data


TierFormSet = forms.formset_factory(TierForm, extra=3, max_num=20, validate_max=True)

#: What each field shows next to it: the formula a field belongs to (the page's script shows
#: only the fields of the chosen formula), or "" for every formula.
FORMULA_OF = {"amount": "fixed", "percent": "percent", "cap": "percent"}


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


class RewardRuleForm(forms.ModelForm):
    """A rule in plain fields: the formula picks amount or percent (with a cap), tiers are
    rows (``TierFormSet``, prefix ``tiers``), the currency is always the organization's.
    Validated by the model's own ``clean`` (so the service and the form agree)."""

    # Filled from the tier rows in ``clean``; the model's tier errors are shown here.
    tiers = forms.JSONField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = RewardRule
        fields = [
            "name",
            "beneficiary",
            "trigger",
            "formula",
            "amount",
            "percent",
            "cap",
            "lifetime_cap",
            "tier_basis",
            "tiers",
            "reward_kind",
            "hold_days",
            "credit_lifetime_days",
        ]
        widgets = {"formula": forms.RadioSelect}
        labels = {
            "name": "Name (optional)",
            "beneficiary": "Who gets it",
            "trigger": "When",
            "formula": "How much",
            "amount": "Amount",
            "percent": "Percent of the purchase",
            "cap": "At most (per reward)",
            "lifetime_cap": "At most in all, per friend",
            "tier_basis": "Tiers count",
            "reward_kind": "Paid as",
            "hold_days": "Hold (days)",
            "credit_lifetime_days": "Credit lasts (days)",
        }

    def __init__(self, *args, program: Program, **kwargs):
        data = args[0] if args else kwargs.get("data")
        super().__init__(*args, **kwargs)
        self.instance.program = program
        self.instance.organization_id = program.organization_id
        self.organization = program.organization
        self.instance.currency = self.organization.currency
        self.fields["tier_basis"].required = False
        self.fields[
            "hold_days"
        ].help_text = (
            "Days to wait before the reward is given, e.g. your refund window. 0 gives it at once."
        )
        self.fields["amount"].required = False
        self.fields["percent"].required = False
        currency = self.organization.currency
        self.fields["amount"].help_text = f"In {currency}."
        self.fields["cap"].help_text = f"In {currency}. Empty: no cap."
        self.fields["lifetime_cap"].help_text = f"In {currency}. Empty: no limit."
        initial_rows = [
            {"threshold": tier.get("min_value", tier.get("min_referrals")), "rate": rate}
            for tier in (self.instance.tiers or [])
            if isinstance(tier, dict)
            for rate in [tier.get("amount", tier.get("percent"))]
        ]
        # A post without the rows (an older form, a script) has no tiers.
        posted = data is not None and "tiers-TOTAL_FORMS" in data
        self.tier_rows = TierFormSet(
            data if posted else None, prefix="tiers", initial=initial_rows or None
        )

    def words(self) -> str:
        """What the rule being filled in pays, in words (as far as its fields are valid)."""
        if self.is_bound:
            self.is_valid()  # fills the instance with every field that is valid
            self.instance.tiers = self.cleaned_data.get("tiers") or []
        else:
            for name, value in self.initial.items():  # the defaults the form offers
                if name in self.fields and name != "tiers":
                    setattr(self.instance, name, value)
        return rule_in_words(self.instance, currency=self.organization.currency)

    def fields_for_formula(self):
        """(field, formula) pairs for the template: which formula shows each field."""
        return [(self[name], FORMULA_OF.get(name, "")) for name in self.fields if name != "tiers"]

    def clean_amount(self):
        return self.cleaned_data.get("amount") or Decimal("0")

    def clean_percent(self):
        return self.cleaned_data.get("percent") or Decimal("0")

    def clean_tier_basis(self):
        return self.cleaned_data.get("tier_basis") or TierBasis.COUNT

    def clean_tiers(self):
        """The tier rows as the rule stores them, e.g. [{"min_referrals": 5, "amount": "30"}]."""
        if not self.tier_rows.is_bound:
            return []
        if not self.tier_rows.is_valid():
            raise forms.ValidationError("Check the tier rows below.")
        basis = self.data.get(self.add_prefix("tier_basis")) or TierBasis.COUNT
        formula = self.data.get(self.add_prefix("formula")) or RewardRule.Formula.FIXED
        rate_key = "percent" if formula == RewardRule.Formula.PERCENT else "amount"
        tiers = []
        for row in self.tier_rows.cleaned_data:
            if not row or row.get("threshold") is None:
                continue
            if basis == TierBasis.VALUE:
                threshold: object = _plain(row["threshold"])
                key = "min_value"
            else:
                if row["threshold"] != row["threshold"].to_integral_value():
                    # int() would quietly make "from 5.5 referrals" pay from 5.
                    raise forms.ValidationError(
                        f"A tier counts whole referrals: {_plain(row['threshold'])} is not one."
                    )
                threshold, key = int(row["threshold"]), "min_referrals"
            tiers.append({key: threshold, rate_key: _plain(row["rate"])})
        return tiers


class VoidForm(forms.Form):
    reason = forms.CharField(max_length=200, strip=True)


class ManualRewardForm(forms.Form):
    """A reward given by hand, e.g. for an insider's contribution."""

    source = forms.ModelChoiceField(queryset=ReferralSource.objects.none())
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    reward_kind = forms.ChoiceField(
        choices=[(k.value, k.label) for k in MANUAL_KINDS], initial=MANUAL_KINDS[0]
    )
    credit_lifetime_days = forms.IntegerField(
        min_value=1,
        max_value=MAX_CREDIT_LIFETIME_DAYS,
        initial=365,
        help_text="For credit: how long it lasts.",
    )
    note = forms.CharField(
        max_length=300, help_text="What it is for, e.g. the insider's contribution."
    )
    contribution = forms.ModelChoiceField(
        queryset=InsiderContribution.objects.none(),
        required=False,
        help_text="The insider's contribution this thanks, if any.",
    )

    def __init__(self, *args, organization: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = ReferralSource.objects.for_organization(
            organization
        ).order_by("name")
        limit_choices(self.fields["source"], "email__iexact", noun="source")
        self.fields["contribution"].queryset = (
            InsiderContribution.objects.for_organization(organization)
            .filter(reward__isnull=True)
            .select_related("source")
        )


METHOD_CHOICES = [("", "As the rewards were promised")] + list(Payout.Method.choices)


class AdjustmentForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=14, decimal_places=2, help_text="Positive adds credit, negative takes it away."
    )
    note = forms.CharField(max_length=200, label="Reason")


class PayoutRequestForm(forms.Form):
    method = forms.ChoiceField(choices=METHOD_CHOICES, required=False)


class PayoutBatchForm(forms.Form):
    method = forms.ChoiceField(choices=METHOD_CHOICES, required=False)
    fingerprint = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)


class MarkPaidForm(forms.Form):
    reference = forms.CharField(
        max_length=200, required=False, help_text="The bank's reference, if any."
    )
