from django import forms


class LeadForm(forms.Form):
    """What a friend leaves on the landing page."""

    name = forms.CharField(max_length=200, label="Your name")
    email = forms.EmailField(label="Your email")
