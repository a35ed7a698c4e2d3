from django import forms


class LeadForm(forms.Form):
    """What a friend leaves on the landing page; with ``consent_required`` the friend must
    also tick that they agree to be contacted (the program links its privacy notice)."""

    name = forms.CharField(max_length=200, label="Your name")
    # A referral keeps 254 characters (an address's limit in SMTP); the field's default of
    # 320 let a longer one through to the database, a 500.
    email = forms.EmailField(max_length=254, label="Your email")

    def __init__(
        self, *args, consent_required: bool = False, organization_name: str = "", **kwargs
    ):
        super().__init__(*args, **kwargs)
        if consent_required:
            self.fields["consent"] = forms.BooleanField(
                required=True,
                label=(
                    f"I agree that {organization_name or 'the business'} "
                    "may contact me about this offer."
                ),
                error_messages={"required": "Tick the box to agree, or we cannot contact you."},
            )


class PayoutDetailsForm(forms.Form):
    """How the source wants to be paid; the service checks the IBAN and what each method
    needs (``rewards.services.payout_details_update``)."""

    method = forms.ChoiceField(label="Pay me by", widget=forms.RadioSelect)
    account_holder = forms.CharField(
        max_length=200, required=False, label="Account holder", help_text="As your bank has it."
    )
    iban = forms.CharField(
        max_length=50,
        required=False,
        label="IBAN",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    bic = forms.CharField(
        max_length=20,
        required=False,
        label="BIC (optional)",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, methods=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["method"].choices = list(methods)


class PayoutForm(forms.Form):
    """A payout of a chosen amount; the service bounds it by what is payable."""

    amount = forms.CharField(
        max_length=20,
        required=False,
        label="Amount",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    key = forms.CharField(max_length=64, widget=forms.HiddenInput)
