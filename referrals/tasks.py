"""Celery tasks of the referrals app."""

from celery import shared_task
from django.conf import settings

from core.email import send_organization_email

from .models import Referral
from .services import link_get_or_create


@shared_task(
    name="referrals.send_introduction_email",
    bind=True,
    max_retries=5,
    acks_late=True,
    reject_on_worker_lost=True,
)
def send_introduction_email(self, referral_id: int) -> bool:
    """Email the friend an introduction naming the source, with the source's link: once,
    however often the task is delivered (``core.tasks.once``)."""
    referral = (
        Referral.objects.select_related("program__organization", "source")
        .filter(pk=referral_id)
        .first()
    )
    if referral is None or not referral.friend_email:
        return False
    link = link_get_or_create(program=referral.program, source=referral.source)
    try:
        return send_organization_email(
            "introduction",
            organization=referral.program.organization,
            to=referral.friend_email,
            once_key=f"referrals.introduction:{referral.pk}",
            referral=referral,
            url=f"{settings.SITE_URL}/r/{link.public_code}",
        )
    except OSError as exc:
        raise self.retry(exc=exc, countdown=2**self.request.retries) from exc


@shared_task(
    name="referrals.send_friend_welcome_email",
    bind=True,
    max_retries=5,
    acks_late=True,
    reject_on_worker_lost=True,
)
def send_friend_welcome_email(self, referral_id: int, base_url: str = "") -> bool:
    """Email the friend who left their details on the landing page what they were offered,
    their code and what happens next: once per referral, however often the form was sent
    or the task delivered. ``base_url`` is the site's address when it was enqueued."""
    referral = (
        Referral.objects.select_related("program__organization", "source", "link")
        .filter(pk=referral_id)
        .first()
    )
    if referral is None or not referral.friend_email or referral.link is None:
        return False
    base = base_url or settings.SITE_URL
    try:
        return send_organization_email(
            "friend_welcome",
            organization=referral.program.organization,
            to=referral.friend_email,
            once_key=f"referrals.friend_welcome:{referral.pk}",
            referral=referral,
            program=referral.program,
            code=referral.link.public_code,
            url=f"{base}/r/{referral.link.public_code}",
            site_url=base,
        )
    except OSError as exc:
        raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
