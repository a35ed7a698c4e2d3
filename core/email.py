"""Emails rendered from templates: ``templates/emails/<name>_subject.txt``, ``<name>.txt``
(the plain-text part) and ``<name>.html`` (the HTML part, extending ``emails/base.html``).

Every email goes out as plain text with an HTML alternative. The HTML may use inline
styles (mail clients drop stylesheets); the site's Content-Security-Policy governs pages,
not emails. Links in emails are absolute: built on ``site_url``, which the caller sets from
``core.site.base_url`` (the request's host in development, ``SITE_URL`` in production).
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import TemplateDoesNotExist
from django.template.loader import get_template, render_to_string
from django.utils import timezone, translation

DEFAULT_ACCENT = "#2563eb"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_email_parts(
    name: str, *, timezone_name: str = "UTC", language: str = "en", **context
) -> RenderedEmail:
    """The subject, text and HTML of the email ``name``, in a language and a time zone."""
    program = context.get("program")
    context = {
        "site_url": settings.SITE_URL,
        "accent": getattr(program, "brand_color", "") or DEFAULT_ACCENT,
        **context,
    }
    with timezone.override(timezone_name), translation.override(language):
        subject = " ".join(render_to_string(f"emails/{name}_subject.txt", context).split())
        text = render_to_string(f"emails/{name}.txt", context)
        try:
            template = get_template(f"emails/{name}.html")
        except TemplateDoesNotExist:  # a test (tests/rewards/test_email_html.py) finds these
            html = ""
        else:
            html = template.render({**context, "subject": subject})
    return RenderedEmail(subject, text, html)


def render_email(
    name: str, *, timezone_name: str = "UTC", language: str = "en", **context
) -> tuple[str, str]:
    """(subject, plain-text body) of the email ``name``."""
    email = render_email_parts(name, timezone_name=timezone_name, language=language, **context)
    return email.subject, email.text


def send_rendered(email: RenderedEmail, *, to: str) -> None:
    """Send a rendered email to one address: text, with the HTML as its alternative."""
    message = EmailMultiAlternatives(email.subject, email.text, settings.DEFAULT_FROM_EMAIL, [to])
    if email.html:
        message.attach_alternative(email.html, "text/html")
    message.send()


def send_templated_email(
    name: str, *, to: str, timezone_name: str = "UTC", language: str = "en", **context
) -> None:
    """Render the email ``name`` and send it to one address."""
    send_rendered(
        render_email_parts(name, timezone_name=timezone_name, language=language, **context), to=to
    )


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
