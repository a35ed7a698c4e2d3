from decimal import Decimal

from django import forms

from accounts.models import InsiderContribution, Organization, ReferralSource
from core.validators import MAX_CREDIT_LIFETIME_DAYS
from dashboard.fields import limit_choices
from referrals.models import Program
from rewards.models import Payout, RewardRule, TierBasis
from rewards.services import MANUAL_KINDS


class RewardRuleForm(forms.ModelForm):
    """A rule, validated by the model's own ``clean`` (so the service and the form agree)."""

    tiers = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=RewardRule._meta.get_field("tiers").help_text,
    )

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
            "currency",
            "hold_days",
            "credit_lifetime_days",
        ]

    def __init__(self, *args, program: Program, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.program = program
        self.instance.organization_id = program.organization_id
        self.organization = program.organization
        self.fields["currency"].required = False
        self.fields["currency"].initial = self.organization.currency
        self.fields["currency"].help_text = "Always the organization's currency."
        self.fields["tier_basis"].required = False

    def clean_currency(self):
        return self.cleaned_data.get("currency") or self.organization.currency

    def clean_tier_basis(self):
        return self.cleaned_data.get("tier_basis") or TierBasis.COUNT

    def clean_tiers(self):
        tiers = self.cleaned_data.get("tiers")
        return [] if tiers in (None, "") else tiers


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
