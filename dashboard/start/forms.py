from django import forms

from accounts.models import ReferralSource, SourceKind
from referrals.models import Program


class OfferForm(forms.ModelForm):
    """The program's side of the wizard's offer step: its name and what the friend sees."""

    class Meta:
        model = Program
        fields = ["name", "friend_offer", "landing_headline", "landing_text"]
        labels = {
            "name": "Program name",
            "friend_offer": "What the friend gets",
            "landing_headline": "Headline of the friend's page",
            "landing_text": "A few words under it (optional)",
        }
        widgets = {
            "landing_text": forms.Textarea(attrs={"rows": 2}),
            "friend_offer": forms.TextInput(attrs={"placeholder": "e.g. 10% off your first order"}),
        }

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.organization = organization
        self.fields["friend_offer"].required = True


class SourceRowForm(forms.Form):
    """One source typed in the wizard: a name, an email for the portal invitation, a kind."""

    name = forms.CharField(max_length=200, required=False)
    email = forms.EmailField(required=False, max_length=254)
    kind = forms.ChoiceField(choices=SourceKind.choices, initial=SourceKind.CUSTOMER)

    def clean(self):
        data = super().clean()
        if data.get("email") and not data.get("name"):
            raise forms.ValidationError("Give the source a name.")
        return data

    @property
    def is_filled(self) -> bool:
        return bool(getattr(self, "cleaned_data", {}).get("name"))


SourceRowFormSet = forms.formset_factory(SourceRowForm, extra=3, max_num=50, validate_max=True)


def existing_source_names(organization) -> set[str]:
    return {
        name.lower()
        for name in ReferralSource.objects.for_organization(organization).values_list(
            "name", flat=True
        )
    }
