from django import forms


class LeadForm(forms.Form):
    """What a friend leaves on the landing page; with ``consent_required`` the friend must
    also tick that they agree to be contacted (the program links its privacy notice)."""

    name = forms.CharField(max_length=200, label="Your name")
    email = forms.EmailField(label="Your email")

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
