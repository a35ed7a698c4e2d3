"""Celery tasks of the accounts app."""

from celery import shared_task
from django.conf import settings

from core.email import send_templated_email
from core.tasks import once

from .models import ReferralSource


@shared_task(
    name="accounts.send_portal_link",
    bind=True,
    max_retries=5,
    acks_late=True,
    reject_on_worker_lost=True,
)
def send_portal_link(self, source_id: int, token: str) -> bool:
    """Email a source the address of its portal, once per request to send it.

    The token is the one the source had when staff asked: if it was rotated since, the
    old address is dead and this email is not sent.
    """
    source = (
        ReferralSource.objects.select_related("organization")
        .filter(pk=source_id, portal_token=token)
        .first()
    )
    if source is None or not source.active or not source.email:
        return False
    organization = source.organization
    try:
        with once(f"accounts.portal_link:{self.request.id or token}") as first:
            if not first:
                return False
            send_templated_email(
                "portal_link",
                to=source.email,
                timezone_name=organization.timezone,
                language=organization.language,
                organization=organization,
                source=source,
                url=f"{settings.SITE_URL}/me/{source.portal_token}/",
            )
    except OSError as exc:
        raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
    return True
