"""The webhook events of referrals: what a business's endpoint is told, and when.

Payloads show a referral as the API does (``GET /api/v1/referrals/<id>``).
"""

from accounts.models import WebhookEventType
from accounts.webhooks import emit

from .models import Referral


def referral_payload(referral: Referral) -> dict:
    return {
        "id": referral.pk,
        "object": "referral",
        "program": referral.program_id,
        "source": referral.source_id,
        "link": referral.link_id,
        "customer": referral.friend_id,
        "friend_email": referral.friend_email,
        "friend_name": referral.friend_name,
        "friend_phone": referral.friend_phone,
        "channel": referral.channel,
        "status": referral.status,
        "flagged": referral.flagged,
        "rejection_reason": referral.rejection_reason,
        "created_at": referral.created_at,
        "signed_up_at": referral.signed_up_at,
        "converted_at": referral.converted_at,
    }


def referral_created(referral: Referral) -> None:
    emit(referral.organization_id, WebhookEventType.REFERRAL_CREATED, referral_payload(referral))


def referral_changed(referral: Referral, previous_status: str) -> None:
    """Tell the endpoints when a referral has just become a customer."""
    if referral.status == Referral.Status.CONVERTED and previous_status != referral.status:
        emit(
            referral.organization_id,
            WebhookEventType.REFERRAL_CONVERTED,
            referral_payload(referral),
        )
