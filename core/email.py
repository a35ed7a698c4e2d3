"""Emails rendered from templates: ``templates/emails/<name>.txt`` and ``<name>_subject.txt``."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone, translation


def render_email(
    name: str, *, timezone_name: str = "UTC", language: str = "en", **context
) -> tuple[str, str]:
    """(subject, body) of the email ``name``, rendered in a language and a time zone."""
    context = {"site_url": settings.SITE_URL, **context}
    with timezone.override(timezone_name), translation.override(language):
        subject = render_to_string(f"emails/{name}_subject.txt", context)
        body = render_to_string(f"emails/{name}.txt", context)
    return " ".join(subject.split()), body


def send_templated_email(
    name: str, *, to: str, timezone_name: str = "UTC", language: str = "en", **context
) -> None:
    """Render the email ``name`` and send it to one address."""
    subject, body = render_email(name, timezone_name=timezone_name, language=language, **context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
