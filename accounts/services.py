"""Writes for organizations, members, customers, referral sources and CSV imports."""

import datetime
import hashlib
import logging
import secrets
import zoneinfo
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from core.email import send_organization_email
from core.tasks import enqueue_many_on_commit, enqueue_on_commit

from . import imports, keycache
from .models import (
    ApiKey,
    CsvImport,
    Customer,
    InsiderContribution,
    Invitation,
    Membership,
    Organization,
    ReferralSource,
    Role,
    SourceKind,
    User,
)
from .selectors import customer_find

log = logging.getLogger(__name__)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


SLUG_ATTEMPTS = 5


@transaction.atomic
def organization_create(
    *, owner: User, name: str, currency: str, timezone_name: str
) -> Organization:
    """Create an organization and make ``owner`` its owner.

    Two businesses of the same name signing up at once both find the same slug free: the
    one whose insert loses takes the next free slug instead of failing."""
    organization = Organization(
        name=name.strip(), slug=_unique_slug(name), currency=currency, timezone=timezone_name
    )
    organization.full_clean(exclude=["slug"])
    for attempt in range(SLUG_ATTEMPTS):
        try:
            with transaction.atomic():
                organization.save()
            break
        except IntegrityError:
            taken = Organization.objects.filter(slug=organization.slug).exists()
            if not taken or attempt == SLUG_ATTEMPTS - 1:
                raise
            organization.slug = _unique_slug(name)
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    return organization


@transaction.atomic
def test_twin_get_or_create(*, organization: Organization, owner: User) -> Organization:
    """The organization's test twin (``Organization.test_of``), made on first use, with
    ``owner`` as one of its owners. Test mode runs in it: see ``rewards.services.testmode``."""
    if organization.is_test:
        raise ValidationError("This is already a test organization.")
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    twin = Organization.objects.filter(test_of=organization).first()
    if twin is None:
        twin = Organization.objects.create(
            name=f"{organization.name} (test)"[:200],
            slug=_unique_slug(f"{organization.slug}-test"),
            currency=organization.currency,
            timezone=organization.timezone,
            language=organization.language,
            test_of=organization,
        )
    Membership.objects.get_or_create(user=owner, organization=twin, defaults={"role": Role.OWNER})
    return twin


def organization_settings_update(
    *,
    organization: Organization,
    name: str,
    timezone_name: str,
    gross_margin: Decimal,
    discount_rate: Decimal,
    horizon_years: int,
) -> Organization:
    """Change the organization's name, time zone and analytics settings (rates as fractions:
    ``gross_margin=Decimal("0.6")`` is 60%)."""
    organization.name = name.strip()
    organization.timezone = timezone_name
    organization.gross_margin = gross_margin
    organization.discount_rate = discount_rate
    organization.horizon_years = horizon_years
    organization.full_clean()
    organization.save(
        update_fields=["name", "timezone", "gross_margin", "discount_rate", "horizon_years"]
    )
    return organization


#: How long an invitation's link works: it may make its holder an owner, so not forever.
INVITATION_LIFETIME = timedelta(days=14)


INVITATION_REVOKED = "This invitation is no longer valid: ask the organization for a new one."


def invitation_is_expired(invitation: Invitation) -> bool:
    return invitation.created_at < timezone.now() - INVITATION_LIFETIME


def invitation_create(
    *, organization: Organization, email: str, role: str, invited_by: User, base_url: str = ""
) -> Invitation:
    """Invite someone by email; they join when they accept the link while signed in, within
    ``INVITATION_LIFETIME``. The link is on ``base_url`` (``core.site.base_url(request)``)
    when given, else ``SITE_URL``."""
    email = email.strip().lower()
    if role not in Role.values:
        raise ValidationError({"role": "Unknown role."})
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise ValidationError({"email": "This person is already a member."})
    # An expired invitation to the address gives way to the new one; a revoked one stays
    # (it is the record of who withdrew it, and no longer blocks the address).
    Invitation.objects.filter(
        organization=organization,
        email__iexact=email,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        created_at__lt=timezone.now() - INVITATION_LIFETIME,
    ).delete()
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                organization=organization, email=email, role=role, invited_by=invited_by
            )
    except IntegrityError:
        raise ValidationError({"email": "An invitation to this address is already open."}) from None
    url = (base_url or settings.SITE_URL).rstrip("/") + reverse(
        "accounts:invitation_accept", args=[invitation.token]
    )
    send_organization_email(
        "invitation", organization=organization, to=email, invitation=invitation, url=url
    )
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    invitation = _invitation_locked(invitation)
    if invitation.revoked_at is not None:
        raise ValidationError(INVITATION_REVOKED)
    if invitation.accepted_at is not None:
        raise ValidationError("This invitation has already been used.")
    if invitation_is_expired(invitation):
        raise ValidationError("This invitation has expired: ask for a new one.")
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


def _invitation_locked(invitation: Invitation) -> Invitation:
    """The invitation, locked; refused if it was deleted since it was read (an expired one
    gives way when its address is invited again)."""
    locked = Invitation.objects.select_for_update().filter(pk=invitation.pk).first()
    if locked is None:
        raise ValidationError(INVITATION_REVOKED)
    return locked


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, by: User) -> Invitation:
    """Withdraw an open invitation: its link no longer lets anyone join, and the address can
    be invited again. Revoking a revoked one changes nothing; an accepted one is refused
    (remove the member instead)."""
    invitation = _invitation_locked(invitation)
    if invitation.revoked_at is not None:
        return invitation
    if invitation.accepted_at is not None:
        raise ValidationError(
            "This invitation has already been accepted: remove the member instead."
        )
    invitation.revoked_at = timezone.now()
    invitation.revoked_by = by
    invitation.save(update_fields=["revoked_at", "revoked_by"])
    log.info(
        "invitation %s to organization %s revoked by %s",
        invitation.pk,
        invitation.organization_id,
        by.pk,
    )
    return invitation


def _owners_locked(organization_id: int) -> list[int]:
    """The ids of the organization's owners, locked until the transaction ends.

    The owners are locked before they are counted: two owners demoting (or removing) each
    other at the same moment each counted two owners and left the organization with none.
    A membership deleted by a transaction this one waited for is no longer in the list.
    """
    return list(
        Membership.objects.select_for_update()
        .filter(organization_id=organization_id, role=Role.OWNER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


LAST_OWNER = "An organization needs at least one owner."


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, by: Membership) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": "Unknown role."})
    if by.organization_id != membership.organization_id:
        raise ValidationError("Unknown member.")
    owners = _owners_locked(membership.organization_id)
    # Checked under the lock, as for a removal: an owner demoted or removed a moment ago
    # (by another owner's request that committed while this one waited) changes no role.
    if by.pk not in owners:
        raise PermissionDenied("Only an owner can change roles.")
    if role != Role.OWNER and membership.pk in owners and len(owners) <= 1:
        raise ValidationError({"role": LAST_OWNER})
    # Removed by another owner while this request waited: nothing to change.
    if not Membership.objects.filter(pk=membership.pk).update(role=role):
        raise ValidationError("This person is no longer a member.")
    membership.role = role
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, by: Membership) -> None:
    """Take a member out of the organization (and out of its test twin, if any).

    Only an owner may, and never the last owner (an owner may leave while another owner
    remains). The person loses access at their next request (``accounts.tenancy`` reads
    their memberships on every request); what they made (API keys, sources, rewards
    granted) stays with the organization, except the open invitations they sent, which are
    revoked. Removing someone already removed changes nothing.
    """
    if by.organization_id != membership.organization_id:
        raise ValidationError("Unknown member.")
    owners = _owners_locked(membership.organization_id)
    # Checked under the lock: an owner removed or demoted a moment ago removes no one.
    if by.pk not in owners:
        raise PermissionDenied("Only an owner can remove members.")
    if membership.pk in owners and len(owners) <= 1:
        raise ValidationError(f"{LAST_OWNER} Make someone else an owner first.")
    removed, _ = Membership.objects.filter(pk=membership.pk).delete()
    if not removed:
        return
    Membership.objects.filter(
        user_id=membership.user_id, organization__test_of_id=membership.organization_id
    ).delete()
    # What they sent and nobody accepted yet goes with them: a removed owner must not come
    # back through an invitation they sent to an address of their own.
    Invitation.objects.filter(
        organization_id=membership.organization_id,
        invited_by_id=membership.user_id,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
    ).update(revoked_at=timezone.now(), revoked_by_id=by.user_id)
    log.info(
        "member %s removed from organization %s by %s",
        membership.user_id,
        membership.organization_id,
        by.user_id,
    )


class _NotLookedUp:
    """customer_get_or_create's default for ``found``: look the customer up."""


NOT_LOOKED_UP = _NotLookedUp()


def customer_get_or_create(
    *,
    organization: Organization,
    email: str = "",
    external_id: str = "",
    name: str = "",
    phone: str = "",
    first_seen_at: datetime.datetime | None = None,
    found: Customer | None | _NotLookedUp = NOT_LOOKED_UP,
) -> tuple[Customer, bool]:
    """Find a customer by external id, then by email; create one if neither matches.

    Safe under concurrency: the unique constraints (the business's id; the email of a
    customer known only by email) let one of several racing calls create the customer,
    and the others find it. ``first_seen_at`` (default now) dates a new customer.
    ``found`` is what the caller's own ``customer_find`` with the same email and id just
    returned (a customer or None), so it is not looked up twice.
    """
    email = (email or "").strip().lower()
    external_id = (external_id or "").strip()
    if not email and not external_id:
        raise ValidationError("A customer needs an email or an external id.")
    customer = (
        customer_find(organization=organization, email=email, external_id=external_id)
        if isinstance(found, _NotLookedUp)
        else found
    )
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
                first_seen_at=first_seen_at or timezone.now(),
            )
    except IntegrityError:
        # Another request created the same customer in the meantime (and has committed:
        # the insert waited for it).
        customer = customer_find(organization=organization, email=email, external_id=external_id)
        if customer is None:
            raise
        return customer, False
    return customer, True


def customer_upsert(
    *,
    organization: Organization,
    external_id: str,
    email: str = "",
    name: str = "",
    phone: str = "",
) -> tuple[Customer, bool]:
    """Create the customer with this external id, or bring its details up to date.

    A customer known so far only by this email (from an event, without an id) is that
    customer, and takes the id (``customer_find``); one with another id is someone else.
    Only the details given are written (an empty value leaves the stored one alone).
    Returns (customer, created); two requests racing on one new id create it once.
    """
    external_id = (external_id or "").strip()
    if not external_id:
        raise ValidationError({"external_id": "An upsert needs the customer's external id."})
    fields = {"email": (email or "").strip().lower(), "name": name or "", "phone": phone or ""}
    fields = {key: value for key, value in fields.items() if value}
    for _ in range(3):
        customer = customer_find(
            organization=organization, email=fields.get("email", ""), external_id=external_id
        )
        if customer is not None and customer.external_id != external_id:
            # Known only by email until now: it takes the id, unless a concurrent request
            # gave it one, or gave this id to another customer, meanwhile (then look again).
            try:
                with transaction.atomic():
                    taken = Customer.objects.filter(pk=customer.pk, external_id="").update(
                        external_id=external_id
                    )
            except IntegrityError:
                continue
            if not taken:
                continue
            customer.external_id = external_id
        if customer is not None:
            changed = [key for key, value in fields.items() if getattr(customer, key) != value]
            for key in changed:
                setattr(customer, key, fields[key])
            if changed:
                customer.full_clean(validate_unique=False, validate_constraints=False)
                customer.save(update_fields=changed)
            return customer, False
        customer = Customer(organization=organization, external_id=external_id, **fields)
        customer.full_clean(validate_unique=False, validate_constraints=False)
        try:
            with transaction.atomic():
                customer.save()
        except IntegrityError:
            continue  # created by a concurrent request: update that one
        return customer, True
    raise ValidationError({"external_id": "This customer is being changed; try again."})


def source_create(*, organization: Organization, **fields) -> ReferralSource:
    source = ReferralSource(organization=organization, **fields)
    if source.customer is not None and source.customer.organization_id != organization.id:
        raise ValidationError({"customer": "Unknown customer."})
    source.full_clean()
    source.save()
    return source


def source_update(*, source: ReferralSource, **fields) -> ReferralSource:
    # Read from the database: a ModelForm has already put its values on the instance.
    was_active = (
        ReferralSource.objects.filter(pk=source.pk).values_list("active", flat=True).first()
    )
    for name, value in fields.items():
        setattr(source, name, value)
    if source.active and was_active is False:
        # Reactivated here as by ``source_reactivate``: with a new portal link, since the
        # one it had may have leaked (the edit page's Active box brought the old one back).
        source.portal_token = _new_portal_token()
        source.portal_token_expires_at = None
    source.full_clean()
    source.save()
    return source


def source_deactivate(*, source: ReferralSource) -> ReferralSource:
    """Stop a source: its links stop working; its history stays."""
    if source.active:
        source.active = False
        source.save(update_fields=["active"])
    return source


def source_reactivate(*, source: ReferralSource) -> ReferralSource:
    """Start a source again, with a new portal link: the one it had may have leaked."""
    if not source.active:
        source.active = True
        source.portal_token = _new_portal_token()
        source.portal_token_expires_at = None
        source.save(update_fields=["active", "portal_token", "portal_token_expires_at"])
    return source


def _new_portal_token() -> str:
    return ReferralSource._meta.get_field("portal_token").default()


MAX_PORTAL_LINK_DAYS = 3_650


def source_portal_rotate(
    *, source: ReferralSource, expires_in_days: int | None = None
) -> ReferralSource:
    """A new portal link for the source: the old one is dead at once. Optionally it expires."""
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_PORTAL_LINK_DAYS:
        raise ValidationError(
            {"expires_in_days": f"Between 1 and {MAX_PORTAL_LINK_DAYS:,} days, or never."}
        )
    source.portal_token = _new_portal_token()
    source.portal_token_expires_at = (
        timezone.now() + datetime.timedelta(days=expires_in_days) if expires_in_days else None
    )
    source.save(update_fields=["portal_token", "portal_token_expires_at"])
    return source


def source_portal_link_is_live(source: ReferralSource) -> bool:
    """Whether the source's portal link works now (it may have been made to expire)."""
    expires_at = source.portal_token_expires_at
    return expires_at is None or expires_at > timezone.now()


def source_portal_link_send(*, source: ReferralSource, base_url: str = "") -> None:
    """Email the source its portal link (after the transaction commits), on ``base_url``
    (``core.site.base_url(request)``) when given, else on ``SITE_URL``."""
    if not source.active:
        raise ValidationError("An inactive source has no portal link to send.")
    if not source.email:
        raise ValidationError({"email": "The source has no email address to send it to."})
    if not source_portal_link_is_live(source):
        raise ValidationError("The portal link has expired: make a new one, then send that.")
    enqueue_on_commit(PORTAL_LINK_TASK, source.pk, source.portal_token, *_base_arg(base_url))


PORTAL_LINK_TASK = "accounts.send_portal_link"


def _base_arg(base_url: str) -> list[str]:
    # The base travels with the task only when it is not the default (development on
    # another host or port), so production's tasks carry no address a client chose.
    return [base_url] if base_url and base_url.rstrip("/") != settings.SITE_URL else []


def source_portal_links_send_many(*, sources: list[ReferralSource], base_url: str = "") -> int:
    """``source_portal_link_send`` for many sources in one insert, skipping (rather than
    refusing) those without an email, inactive or with an expired link: how many are
    on their way. Each source needs its pk, email, active, portal_token and expiry."""
    extra = _base_arg(base_url)
    arguments = [
        [source.pk, source.portal_token, *extra]
        for source in sources
        if source.active and source.email and source_portal_link_is_live(source)
    ]
    enqueue_many_on_commit(PORTAL_LINK_TASK, arguments)
    return len(arguments)


# Insider contributions ------------------------------------------------------------------


def organization_today(organization: Organization) -> datetime.date:
    return timezone.localdate(timezone=zoneinfo.ZoneInfo(organization.timezone))


def contribution_log(
    *,
    source: ReferralSource,
    occurred_on: datetime.date,
    note: str,
    value: Decimal | None = None,
    created_by: User | None,
) -> InsiderContribution:
    """Record knowledge a source brought, on the day it happened, optionally valued."""
    organization = source.organization
    note = (note or "").strip()
    errors = {}
    if not note:
        errors["note"] = "Say what the source contributed."
    if occurred_on is None:
        errors["occurred_on"] = "Give the day of the contribution."
    elif occurred_on > organization_today(organization):
        errors["occurred_on"] = "The day cannot be in the future."
    if value is not None and Decimal(value) < 0:
        errors["value"] = "The value cannot be negative."
    if errors:
        raise ValidationError(errors)
    contribution = InsiderContribution(
        organization=organization,
        source=source,
        occurred_on=occurred_on,
        note=note,
        value=value,
        currency=organization.currency,
        created_by=created_by,
    )
    contribution.full_clean()
    contribution.save()
    return contribution


# CSV imports ----------------------------------------------------------------------------

IMPORT_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


def csv_import_start(
    *, organization: Organization, kind: str, data: bytes, filename: str, created_by: User
) -> CsvImport:
    """Keep an uploaded file for its preview. A file that cannot be read at all is refused.

    Only the uploader's latest pending file of a kind is kept, and pending files of the
    organization older than a day are dropped, so stored uploads stay bounded.
    """
    if kind not in CsvImport.Kind.values:
        raise ValidationError("Unknown kind of import.")
    text = imports.decode(data)
    _, _, rows = imports.read(kind, text)
    if not rows:
        raise ValidationError("The file has a header but no rows.")
    pending = CsvImport.objects.for_organization(organization).filter(confirmed_at__isnull=True)
    pending.filter(created_at__lt=timezone.now() - IMPORT_LIFETIME).delete()
    pending.filter(created_by=created_by, kind=kind).delete()
    return CsvImport.objects.create(
        organization=organization,
        kind=kind,
        filename=(filename or "")[:200],
        content=text,
        row_count=len(rows),
        created_by=created_by,
    )


def csv_import_is_expired(csv_import: CsvImport) -> bool:
    return csv_import.created_at < timezone.now() - IMPORT_LIFETIME


def csv_import_confirm(*, csv_import: CsvImport) -> ImportResult:
    """Import the whole file or nothing, checked again against the data as it is now."""
    try:
        with transaction.atomic():
            locked = CsvImport.objects.select_for_update().get(pk=csv_import.pk)
            if locked.confirmed_at is not None:
                raise ValidationError("This file has already been imported.")
            if csv_import_is_expired(locked):
                raise ValidationError("This upload has expired; upload the file again.")
            organization = locked.organization
            result = imports.preview(
                organization=organization, kind=locked.kind, text=locked.content, lock=True
            )
            if not result.is_valid:
                raise ValidationError(
                    f"{len(result.error_rows)} row(s) have errors; nothing was imported."
                )
            created, updated = imports.apply(organization=organization, result=result)
            locked.confirmed_at = timezone.now()
            locked.content = ""
            locked.created_count, locked.updated_count = created, updated
            locked.save(update_fields=["confirmed_at", "content", "created_count", "updated_count"])
    except IntegrityError:
        # Someone created a matching row between our checks and our writes.
        raise ValidationError(
            "The data changed while importing; nothing was imported. Upload the file again."
        ) from None
    return ImportResult(created=created, updated=updated)


@transaction.atomic
def source_for_customer(*, customer: Customer) -> ReferralSource:
    """The customer's own referral source (kind customer), made on first use.

    The customer's row is locked first, so two first visits at once make one source.
    """
    Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk").first()
    source = (
        ReferralSource.objects.filter(customer=customer, kind=SourceKind.CUSTOMER)
        .order_by("pk")
        .first()
    )
    if source is None:
        source = ReferralSource.objects.create(
            organization_id=customer.organization_id,
            kind=SourceKind.CUSTOMER,
            customer=customer,
            name=customer.name or customer.email or customer.external_id,
            email=customer.email,
        )
    return source


# API keys -------------------------------------------------------------------------------

API_KEY_PREFIX = "adv_live_"
API_KEY_SHOWN = 8  # characters of the secret part kept visible after the prefix
API_KEY_TOUCH_SECONDS = 60  # last_used_at is written at most once a minute per key


def api_key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_create(
    *, organization: Organization, name: str, scopes: list[str], created_by: User | None
) -> tuple[ApiKey, str]:
    """Create a key. Returns it with the whole secret, which is shown once and never stored."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Name the key after the system that uses it."
    scopes = sorted(set(scopes or []))
    if not scopes or any(scope not in ApiKey.Scope.values for scope in scopes):
        errors["scopes"] = "Choose read, write, or both."
    if errors:
        raise ValidationError(errors)
    raw = API_KEY_PREFIX + secrets.token_urlsafe(30).replace("-", "x").replace("_", "y")
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name[:100],
        prefix=raw[: len(API_KEY_PREFIX) + API_KEY_SHOWN],
        key_hash=api_key_hash(raw),
        scopes=scopes,
        created_by=created_by,
    )
    return api_key, raw


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Stop a key at once; it stays listed, revoked, for the record."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        # Every web process forgets the keys it remembers (accounts.keycache): now, and
        # again once the revocation is committed, so that a request reading the key in
        # between is not remembered as live.
        keycache.new_generation()
        transaction.on_commit(keycache.new_generation, robust=True)
    return api_key


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The live key for a presented secret (with its organization), or None.

    Each web process remembers the keys it has read (``accounts.keycache``): no query for a
    known key, and a revoked one is refused at the next request all the same. The key's
    ``last_used_at`` is written at most once a minute (per process)."""
    raw = (raw or "").strip()
    if not raw.startswith(API_KEY_PREFIX) or len(raw) > 100:
        return None
    digest = api_key_hash(raw)
    api_key = keycache.lookup(
        digest,
        lambda: (
            ApiKey.objects.select_related("organization")
            .filter(key_hash=digest, revoked_at__isnull=True)
            .first()
        ),
    )
    if api_key is not None:
        now = timezone.now()
        stale = now - timedelta(seconds=API_KEY_TOUCH_SECONDS)
        if api_key.last_used_at is None or api_key.last_used_at < stale:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now
    return api_key
