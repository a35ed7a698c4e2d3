from decimal import Decimal

from django import forms
from django.utils import timezone

from accounts.models import ReferralSource, SourceKind
from core.validators import validate_sane_datetime
from dashboard.fields import limit_choices
from referrals.models import VELOCITY_AT_LEAST_ONE, Channel, Conversion, Program


class ProgramForm(forms.ModelForm):
    allowed_source_kinds = forms.MultipleChoiceField(
        choices=SourceKind.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=list(SourceKind.values),
        label="Who may refer",
    )
    destination_url = forms.URLField(required=False, assume_scheme="https")
    velocity_limit_per_hour = forms.IntegerField(
        min_value=1,
        max_value=2_147_483_647,
        initial=Program._meta.get_field("velocity_limit_per_hour").default,
        error_messages={"min_value": VELOCITY_AT_LEAST_ONE},
        label="Velocity limit per hour",
        help_text=Program._meta.get_field("velocity_limit_per_hour").help_text,
    )
    logo_url = forms.URLField(
        required=False,
        assume_scheme="https",
        max_length=500,
        label="Logo URL",
        help_text=Program._meta.get_field("logo_url").help_text,
    )
    privacy_url = forms.URLField(
        required=False,
        assume_scheme="https",
        max_length=500,
        label="Privacy notice URL",
        help_text=Program._meta.get_field("privacy_url").help_text,
    )

    class Meta:
        model = Program
        fields = [
            "name",
            "status",
            "friend_offer",
            "landing_headline",
            "landing_text",
            "landing_mode",
            "destination_url",
            "attribution_window_days",
            "attribution_model",
            "allowed_source_kinds",
            "velocity_limit_per_hour",
            "logo_url",
            "brand_color",
            "privacy_url",
            "consent_required",
            "friend_email_subject",
            "friend_email_intro",
            "source_email_subject",
            "source_email_intro",
        ]
        widgets = {
            "landing_text": forms.Textarea(attrs={"rows": 3}),
            "brand_color": forms.TextInput(attrs={"placeholder": "#2563eb", "size": 8}),
            "friend_email_intro": forms.Textarea(attrs={"rows": 3}),
            "source_email_intro": forms.Textarea(attrs={"rows": 3}),
        }


class LinkForm(forms.Form):
    source = forms.ModelChoiceField(queryset=ReferralSource.objects.none())

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = ReferralSource.objects.for_organization(
            organization
        ).active()
        limit_choices(self.fields["source"], "email__iexact", noun="source")


class IntroductionForm(forms.Form):
    program = forms.ModelChoiceField(queryset=Program.objects.none())
    source = forms.ModelChoiceField(queryset=ReferralSource.objects.none())
    channel = forms.ChoiceField(
        choices=[(c, label) for c, label in Channel.choices if c not in (Channel.LINK, Channel.API)]
    )
    friend_name = forms.CharField(max_length=200)
    friend_email = forms.EmailField(required=False)
    friend_phone = forms.CharField(max_length=40, required=False)

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = Program.objects.for_organization(organization).active()
        self.fields["source"].queryset = ReferralSource.objects.for_organization(
            organization
        ).active()
        limit_choices(self.fields["source"], "email__iexact", noun="source")


class ConversionForm(forms.Form):
    kind = forms.ChoiceField(choices=Conversion.Kind.choices, initial=Conversion.Kind.PURCHASE)
    external_id = forms.CharField(max_length=200, label="Order or event id")
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"), initial=0)
    occurred_at = forms.DateTimeField(
        initial=timezone.now, label="When", validators=[validate_sane_datetime]
    )
    refund_of = forms.CharField(
        max_length=200, required=False, label="Refunded order id", help_text="For a refund."
    )


class EventForm(forms.Form):
    """An event about a customer, attributed to a referral by code or by the customer."""

    kind = forms.ChoiceField(choices=Conversion.Kind.choices, initial=Conversion.Kind.PURCHASE)
    external_id = forms.CharField(max_length=200, label="Order or event id")
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"), initial=0)
    occurred_at = forms.DateTimeField(
        initial=timezone.now, label="When", validators=[validate_sane_datetime]
    )
    email = forms.EmailField(required=False, label="Customer's email")
    customer_external_id = forms.CharField(max_length=120, required=False, label="Customer's id")
    name = forms.CharField(max_length=200, required=False, label="Customer's name")
    code = forms.CharField(
        max_length=40,
        required=False,
        label="Referral code",
        help_text="If the customer gave one; it wins over matching by email.",
    )
    refund_of = forms.CharField(
        max_length=200, required=False, label="Refunded order id", help_text="For a refund."
    )

    def clean(self):
        data = super().clean()
        refund = data.get("kind") == Conversion.Kind.REFUND
        if not data.get("email") and not data.get("customer_external_id") and not refund:
            # A refund names its order, which knows the customer.
            raise forms.ValidationError("Give the customer's email or id.")
        return data


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=200)
