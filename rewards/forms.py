from django import forms

from .models import RewardRule


class RewardRuleForm(forms.ModelForm):
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
            "reward_kind",
            "hold_days",
            "credit_lifetime_days",
        ]


class VoidForm(forms.Form):
    reason = forms.CharField(max_length=200)
