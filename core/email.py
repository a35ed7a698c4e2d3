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


def send_organization_email(name: str, *, organization, to: str, once_key: str = "", **context):
    """Send the email ``name`` on behalf of an organization: rendered in its language and
    time zone, with ``organization`` in the context. With ``once_key`` it is sent at most
    once however often the task that sends it is delivered (``core.tasks.once``): returns
    whether this call sent it."""
    from .tasks import once

    def send() -> None:
        send_templated_email(
            name,
            to=to,
            timezone_name=organization.timezone,
            language=organization.language,
            organization=organization,
            **context,
        )

    if not once_key:
        send()
        return True
    with once(once_key) as first:
        if first:
            send()
        return first
