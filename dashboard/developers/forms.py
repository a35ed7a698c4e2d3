from django import forms

from accounts.models import ApiKey, WebhookEventType


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="The system that will use it, e.g. Shop.")
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        initial=[ApiKey.Scope.READ, ApiKey.Scope.WRITE],
        widget=forms.CheckboxSelectMultiple,
    )


class WebhookForm(forms.Form):
    url = forms.URLField(max_length=500, label="URL", assume_scheme="https")
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(
        choices=WebhookEventType.choices, widget=forms.CheckboxSelectMultiple
    )
