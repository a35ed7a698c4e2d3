"""Form helpers every surface uses."""

from typing import Any

from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.http import HttpResponse
from django.shortcuts import render


def add_form_errors(form, error: ValidationError, fields: dict[str, str] | None = None) -> None:
    """Put a service's ValidationError on the form, field by field where it names fields;
    ``fields`` maps the service's names to the form's where they differ."""
    if hasattr(error, "error_dict"):
        for field, errs in error.message_dict.items():
            field = (fields or {}).get(field, field)
            form.add_error(field if field in form.fields else None, errs)
    else:
        form.add_error(None, error.messages)


def call_service(form, service, /, **kwargs) -> tuple[bool, Any]:
    """Call a service with what a valid form gave: ``(True, its result)``, or ``(False,
    None)`` with the ValidationError it raised put on the form, field by field."""
    try:
        return True, service(**kwargs)
    except ValidationError as error:
        add_form_errors(form, error)
        return False, None


def render_form(request, template: str, context: dict) -> HttpResponse:
    """Render a page with a form: 400 when a form on it has errors, so a refused post is
    never mistaken for a success."""
    refused = any(isinstance(v, BaseForm) and v.errors for v in context.values())
    return render(request, template, context, status=400 if refused else 200)
