"""System checks of this project's own settings (``manage.py check``)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}  # noqa: S104 - a name, not a bind


@register(Tags.security, deploy=True)
def check_site_url(app_configs=None, **kwargs) -> list[Error]:
    """With DEBUG off every link that leaves the site (emails, share links and previews, QR
    codes, the widget) is built from SITE_URL (``core.site``), never from the request's
    host: left unset it is ``http://localhost:8000`` and every such link is dead."""
    if settings.DEBUG:
        return []
    try:
        parts = urlsplit(settings.SITE_URL or "")
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:  # "http://[::1" or "https://host:port": not an address at all
        parts, host = None, ""
    local = host in _LOCAL_HOSTS or host.endswith(".localhost")
    if parts is not None and parts.scheme in ("http", "https") and host and not local:
        return []
    return [
        Error(
            f"SITE_URL is {settings.SITE_URL!r}: with DEBUG off, the links in emails, share "
            "links, QR codes and the widget would point there.",
            hint="Set SITE_URL to the site's public address, e.g. https://refer.example.com.",
            id="core.E001",
        )
    ]
