import zoneinfo

from django import forms

from .models import CURRENCIES, Customer, ReferralSource, Role

COMMON_TIMEZONES = sorted(zoneinfo.available_timezones())


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=200, label="Business name")
    currency = forms.ChoiceField(choices=CURRENCIES, initial="EUR")
    timezone = forms.ChoiceField(
        choices=[(tz, tz) for tz in COMMON_TIMEZONES], initial="Europe/Amsterdam", label="Time zone"
    )


class InvitationForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MANAGER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class SourceForm(forms.ModelForm):
    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = Customer.objects.for_organization(organization)
        self.fields["customer"].required = False

    class Meta:
        model = ReferralSource
        fields = ["kind", "name", "email", "company", "customer", "active"]


class CustomerForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = ["name", "email", "external_id", "phone"]
