import zoneinfo

from django import forms

from accounts.imports import MAX_BYTES
from accounts.models import CURRENCIES, Customer, ReferralSource, Role
from core.validators import validate_sane_date
from dashboard.fields import limit_choices

COMMON_TIMEZONES = sorted(zoneinfo.available_timezones())


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=200, label="Business name")
    currency = forms.ChoiceField(choices=CURRENCIES, initial="EUR")
    timezone = forms.ChoiceField(
        choices=[(tz, tz) for tz in COMMON_TIMEZONES], initial="Europe/Amsterdam", label="Time zone"
    )


class OrganizationSettingsForm(forms.Form):
    """The organization's name and time zone, and what analytics counts a customer worth.

    Rates are typed as percentages (100 = 100%) and stored as fractions."""

    name = forms.CharField(max_length=200, label="Business name")
    timezone = forms.ChoiceField(
        choices=[(tz, tz) for tz in COMMON_TIMEZONES],
        label="Time zone",
        help_text="Analytics periods start and end at midnight here.",
    )
    gross_margin = forms.DecimalField(
        label="Gross margin (%)",
        min_value=0,
        max_value=100,
        decimal_places=2,
        help_text="What is left of revenue after the cost of sales; ROI counts this share.",
    )
    discount_rate = forms.DecimalField(
        label="Discount rate (% a year)",
        min_value=0,
        max_value=100,
        decimal_places=2,
        help_text="Discounts next years' revenue in a source's projected value.",
    )
    horizon_years = forms.IntegerField(
        label="Horizon (years)",
        min_value=1,
        max_value=30,
        help_text="Years of future revenue counted in a source's projected value.",
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MANAGER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class SourceForm(forms.ModelForm):
    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = Customer.objects.for_organization(organization)
        self.fields["customer"].required = False
        limit_choices(self.fields["customer"], "external_id", "email__iexact", noun="customer")
        if self.instance.pk is None:
            self.fields["send_portal_link"] = forms.BooleanField(
                required=False,
                initial=True,
                label="Email them their portal link",
                help_text="Their links, QR codes, referrals, credit and payouts, privately.",
            )

    class Meta:
        model = ReferralSource
        fields = ["kind", "name", "email", "company", "customer", "active"]


class CustomerForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = ["name", "email", "external_id", "phone"]


class ContributionForm(forms.Form):
    occurred_on = forms.DateField(
        label="Day",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_sane_date],
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        help_text="What the source brought: a tip, an introduction, market knowledge.",
    )
    value = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        help_text="Optional: what it was worth to the business.",
    )


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it into parts."
            )
        return upload


class PortalRotateForm(forms.Form):
    expires_in_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        label="Expires after (days)",
        help_text="Leave empty for a link that never expires.",
    )
