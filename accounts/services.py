"""Writes for organizations, members, customers and referral sources."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from .models import (
    Customer,
    Invitation,
    Membership,
    Organization,
    ReferralSource,
    Role,
    User,
)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organization_create(
    *, owner: User, name: str, currency: str, timezone_name: str
) -> Organization:
    """Create an organization and make ``owner`` its owner."""
    organization = Organization(
        name=name.strip(), slug=_unique_slug(name), currency=currency, timezone=timezone_name
    )
    organization.full_clean()
    organization.save()
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    return organization


def invitation_create(
    *, organization: Organization, email: str, role: str, invited_by: User
) -> Invitation:
    """Invite someone by email; they join when they accept the link while signed in."""
    email = email.strip().lower()
    if role not in Role.values:
        raise ValidationError({"role": "Unknown role."})
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise ValidationError({"email": "This person is already a member."})
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                organization=organization, email=email, role=role, invited_by=invited_by
            )
    except IntegrityError:
        raise ValidationError({"email": "An invitation to this address is already open."}) from None
    url = settings.SITE_URL + reverse("accounts:invitation_accept", args=[invitation.token])
    context = {"invitation": invitation, "url": url}
    send_mail(
        subject=f"You are invited to {organization.name} on Advocate",
        message=render_to_string("emails/invitation.txt", context),
        from_email=None,
        recipient_list=[email],
    )
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise ValidationError("This invitation has already been used.")
    if invitation.email.lower() != user.email.lower():
        raise ValidationError(
            f"This invitation was sent to {invitation.email}; sign in with that address to accept."
        )
    membership, _ = Membership.objects.get_or_create(
        user=user, organization=invitation.organization, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


def membership_change_role(*, membership: Membership, role: str, by: Membership) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": "Unknown role."})
    if membership.role == Role.OWNER and role != Role.OWNER:
        owners = Membership.objects.filter(organization=membership.organization, role=Role.OWNER)
        if owners.count() <= 1:
            raise ValidationError({"role": "An organization needs at least one owner."})
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


def customer_get_or_create(
    *,
    organization: Organization,
    email: str = "",
    external_id: str = "",
    name: str = "",
    phone: str = "",
) -> tuple[Customer, bool]:
    """Find a customer by external id, then by email; create one if neither matches."""
    email = (email or "").strip().lower()
    external_id = (external_id or "").strip()
    if not email and not external_id:
        raise ValidationError("A customer needs an email or an external id.")
    qs = Customer.objects.for_organization(organization)
    customer = None
    if external_id:
        customer = qs.filter(external_id=external_id).first()
    if customer is None and email:
        customer = qs.filter(email__iexact=email).order_by("first_seen_at").first()
    if customer is not None:
        changed = []
        if external_id and not customer.external_id:
            customer.external_id = external_id
            changed.append("external_id")
        if name and not customer.name:
            customer.name = name
            changed.append("name")
        if email and not customer.email:
            customer.email = email
            changed.append("email")
        if changed:
            customer.save(update_fields=changed)
        return customer, False
    try:
        with transaction.atomic():
            customer = Customer.objects.create(
                organization=organization,
                email=email,
                external_id=external_id,
                name=name,
                phone=phone,
            )
    except IntegrityError:
        # Another request created the same external id in the meantime.
        return qs.get(external_id=external_id), False
    return customer, True


def source_create(*, organization: Organization, **fields) -> ReferralSource:
    source = ReferralSource(organization=organization, **fields)
    if source.customer_id and source.customer.organization_id != organization.id:
        raise ValidationError({"customer": "Unknown customer."})
    source.full_clean()
    source.save()
    return source


def source_update(*, source: ReferralSource, **fields) -> ReferralSource:
    for name, value in fields.items():
        setattr(source, name, value)
    source.full_clean()
    source.save()
    return source
