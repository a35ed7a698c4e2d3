"""
Choosing one of possibly a million rows in a form.

A ``ModelChoiceField`` renders every row of its queryset as an ``<option>``: fine for an
organization's three programs, not for its 50,000 sources or million customers (the page
was megabytes and seconds). ``limit_choices`` keeps the drop-down while the choices are
few and otherwise turns the field into a text box that takes the row's number (shown on
its page), or a natural key staff know (an email, the business's own customer id).
"""

from django import forms
from django.core.exceptions import ValidationError

SELECT_MAX = 500


class LookupInput(forms.TextInput):
    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "off", **(attrs or {})})


def limit_choices(field: forms.ModelChoiceField, *keys: str, noun: str) -> None:
    """Past ``SELECT_MAX`` choices, take the choice typed: its number, or one of ``keys``
    (field lookups such as ``email__iexact``) matching exactly one row."""
    queryset = field.queryset
    if queryset.order_by().values("pk")[: SELECT_MAX + 1].count() <= SELECT_MAX:
        return
    field.widget = LookupInput()
    hint = ", ".join(key.split("__")[0].replace("_", " ") for key in keys)
    field.help_text = f"Its number (on its page){', or ' + hint if hint else ''}."

    def prepare_value(value):
        if hasattr(value, "_meta"):
            return value.pk
        return value

    def to_python(value):
        value = (value or "").strip()
        if not value:
            return None
        candidates = []
        if value.isdecimal():  # "²" is a digit to isdigit() but no number to int()
            candidates.append(queryset.filter(pk=int(value)))
        candidates += [queryset.filter(**{key: value}) for key in keys]
        for candidate in candidates:
            found = list(candidate.order_by("pk")[:2])
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise ValidationError(f"Several {noun}s match that: give its number instead.")
        raise ValidationError(f"No {noun} matches that.")

    field.prepare_value = prepare_value
    field.to_python = to_python
