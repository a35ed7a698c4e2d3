from django import forms

from accounts.models import ReferralSource, SourceKind
from analytics.period import DEFAULT_PRESET, PRESETS, Filters, Period, period_for
from analytics.selectors import ALL_TIME_END, ALL_TIME_START
from dashboard.fields import limit_choices
from referrals.models import Program

#: The longest custom period a page reads (ten years of days).
MAX_DAYS = 3660


class PeriodForm(forms.Form):
    """The period and filters of an analytics page, from the query string."""

    period = forms.ChoiceField(choices=list(PRESETS.items()), required=False)
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    program = forms.ModelChoiceField(queryset=Program.objects.none(), required=False)
    source = forms.ModelChoiceField(queryset=ReferralSource.objects.none(), required=False)
    kind = forms.ChoiceField(choices=[("", "Every kind"), *SourceKind.choices], required=False)

    def __init__(self, *args, organization, default=DEFAULT_PRESET, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.default = default
        self.fields["period"].initial = default
        self.fields["program"].queryset = Program.objects.for_organization(organization)
        self.fields["program"].empty_label = "Every program"
        self.fields["source"].queryset = ReferralSource.objects.for_organization(
            organization
        ).order_by("name")
        self.fields["source"].empty_label = "Every source"
        # Thousands of sources are no drop-down: past a few hundred, the source's number.
        limit_choices(self.fields["source"], "name__iexact", "email__iexact", noun="source")

    def clean(self):
        data = super().clean()
        preset = data.get("period") or self.default
        if preset == "custom":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise forms.ValidationError("A custom period needs a first and a last day.")
            if start < ALL_TIME_START or end > ALL_TIME_END:
                # The days of the all-time period: beyond them a period has no day after it
                # to end on, or no period before it to stand beside.
                raise forms.ValidationError(
                    f"Choose days from {ALL_TIME_START:%d %b %Y} to {ALL_TIME_END:%d %b %Y}."
                )
            if end < start:
                self.add_error("end", "The last day cannot come before the first.")
            elif (end - start).days >= MAX_DAYS:
                self.add_error("end", f"A period can be at most {MAX_DAYS} days long.")
        data["period"] = preset
        return data

    def period_and_filters(self) -> tuple[Period, Filters]:
        """The chosen period and filters; the default period when the input is not valid
        (the page shows the form's errors beside it)."""
        if not self.is_valid():
            return period_for(organization=self.organization, preset=self.default), Filters()
        data = self.cleaned_data
        period = period_for(
            organization=self.organization,
            preset=data["period"],
            start=data.get("start"),
            end=data.get("end"),
        )
        filters = Filters(
            program_id=data["program"].pk if data.get("program") else None,
            source_id=data["source"].pk if data.get("source") else None,
            source_kind=data.get("kind") or "",
        )
        return period, filters
