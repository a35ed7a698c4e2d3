"""The site's own address, for links that leave the page (emails, share previews, QR codes).

In development (``DEBUG``) a link is built from the request's host, so ``bin/dev`` on any
``PORT`` mails working links; in production it is ``SITE_URL``, never a ``Host`` header a
client chose. A task that sends an email has no request: its caller passes
``base_url(request)`` along when it enqueues the task.
"""

from django.conf import settings


def base_url(request=None) -> str:
    """``scheme://host`` without a trailing slash."""
    if settings.DEBUG and request is not None:
        return f"{request.scheme}://{request.get_host()}"
    return settings.SITE_URL


def absolute_url(path: str, request=None, *, base: str = "") -> str:
    """``path`` (starting with /) on this site: on ``base`` when given (one stored at
    enqueue time), else on ``base_url(request)``."""
    return (base or base_url(request)).rstrip("/") + path
