"""Links and clicks: a source's personal link, vanity codes, QR codes, and /r/<code>'s hot path."""

import io
import re
from dataclasses import dataclass

import segno
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest

from accounts import services as account_services
from accounts.models import ReferralSource
from core.signing import digest
from core.site import absolute_url

from ..models import Program, ReferralLink, generate_code, vanity_code_validator

CODE_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{2,39}")


def hash_ip(ip: str) -> str:
    if not ip:
        return ""
    return digest("ip", ip, secret=settings.IP_HASH_SALT)


def link_get_or_create(*, program: Program, source: ReferralSource) -> ReferralLink:
    """The source's personal link into the program, created on first use."""
    return link_find_or_make(program=program, source=source)[0]


def link_find_or_make(*, program: Program, source: ReferralSource) -> tuple[ReferralLink, bool]:
    """(The source's link into the program, whether this call made it): False when it was
    there, or when a concurrent call made it first."""
    if program.organization_id != source.organization_id:
        raise ValidationError("The source and the program belong to different organizations.")
    if source.kind not in (program.allowed_source_kinds or []):
        raise ValidationError(
            {"source": f"This program does not accept sources of kind {source.get_kind_display()}."}
        )
    existing = ReferralLink.objects.filter(program=program, source=source).first()
    if existing is not None:
        return existing, False
    for _ in range(5):
        try:
            with transaction.atomic():
                link = ReferralLink.objects.create(
                    organization_id=program.organization_id,
                    program=program,
                    source=source,
                    code=generate_code(),
                )
                return link, True
        except IntegrityError:
            existing = ReferralLink.objects.filter(program=program, source=source).first()
            if existing is not None:
                return existing, False
    raise RuntimeError("Could not find a free referral code after 5 tries.")


#: Sources linked per transaction by ``program_links_create``.
LINK_BATCH = 1000


def program_links_create(*, program: Program, base_url: str = "") -> tuple[int, int]:
    """Give every active source of a kind the program accepts its link into the program,
    and those with an email and a live portal link their portal invitation (on
    ``base_url``): returns (links made, invitations sent).

    However many sources there are: ``LINK_BATCH`` at a time, in pk order, each batch in a
    transaction of its own with a few queries (one insert of its links, one of its
    invitations), so neither memory nor the query count grows with the sources, and a
    batch done stays done if a later one fails (the next run takes the rest)."""
    sources = (
        ReferralSource.objects.filter(
            organization_id=program.organization_id,
            active=True,
            kind__in=program.allowed_source_kinds or [],
        )
        .exclude(links__program=program)
        .order_by("pk")
        .only("pk", "email", "active", "portal_token", "portal_token_expires_at")
    )
    made = invited = 0
    after = 0
    while True:
        with transaction.atomic():
            # Locked, so a second click racing this one waits and then finds them linked.
            batch = list(sources.filter(pk__gt=after).select_for_update(of=("self",))[:LINK_BATCH])
            if not batch:
                break
            after = batch[-1].pk
            new = _links_insert(program, [s.pk for s in batch])
            made += len(new)
            invited += account_services.source_portal_links_send_many(
                sources=[s for s in batch if s.pk in new], base_url=base_url
            )
    return made, invited


def _links_insert(program: Program, source_ids: list[int]) -> set[int]:
    """Insert the sources' links into the program; the ids of the sources this made one
    for (not those that had one, made meanwhile by a visit to the portal)."""
    links = ReferralLink.objects.filter(program=program)
    todo = set(source_ids) - set(
        links.filter(source_id__in=source_ids).values_list("source_id", flat=True)
    )
    new: set[int] = set()
    for _ in range(5):  # a code taken (by another link) leaves its source for another try
        ReferralLink.objects.bulk_create(
            [
                ReferralLink(
                    organization_id=program.organization_id,
                    program=program,
                    source_id=pk,
                    code=generate_code(),
                )
                for pk in todo
            ],
            ignore_conflicts=True,
        )
        linked = set(links.filter(source_id__in=todo).values_list("source_id", flat=True))
        new |= linked
        todo -= linked
        if not todo:
            return new
    raise RuntimeError("Could not find free referral codes after 5 tries.")


def links_for_source(*, source: ReferralSource) -> list[ReferralLink]:
    """The source's link into every active program that accepts its kind, made where
    missing: a source added by staff can share at once, without a trip to each program."""
    if not source.active:
        return []
    programs = Program.objects.filter(
        organization_id=source.organization_id, status=Program.Status.ACTIVE
    ).order_by("pk")
    # A few programs per organization: their kinds are read here, which SQLite can do too.
    return [
        link_get_or_create(program=program, source=source)
        for program in programs
        if source.kind in (program.allowed_source_kinds or [])
    ]


def link_set_vanity_code(*, link: ReferralLink, vanity_code: str) -> ReferralLink:
    """Give a link a memorable code (or clear it with ""). Codes share one namespace."""
    vanity_code = (vanity_code or "").strip().lower()
    if not vanity_code:
        link.vanity_code = None
        link.save(update_fields=["vanity_code"])
        return link
    try:
        vanity_code_validator(vanity_code)
    except ValidationError as error:
        raise ValidationError({"vanity_code": error.messages}) from None
    taken = ReferralLink.objects.filter(Q(code=vanity_code) | Q(vanity_code=vanity_code)).exclude(
        pk=link.pk
    )
    if taken.exists():
        raise ValidationError({"vanity_code": "This code is already taken."})
    link.vanity_code = vanity_code
    try:
        with transaction.atomic():
            link.save(update_fields=["vanity_code"])
    except IntegrityError:
        raise ValidationError({"vanity_code": "This code is already taken."}) from None
    return link


def link_resolve(code: str) -> ReferralLink | None:
    """The live link for a code (or vanity code): active program, active source; else None."""
    code = (code or "").strip().lower()
    if not CODE_PATTERN.fullmatch(code):
        return None  # never let a malformed code (or a NUL byte) reach the database
    link = (
        ReferralLink.objects.select_related("program", "source", "program__organization")
        .filter(Q(code=code) | Q(vanity_code=code))
        .first()
    )
    if link is None or not link.is_live:
        return None
    return link


def link_url(link: ReferralLink, request: HttpRequest | None = None, *, base: str = "") -> str:
    """The link's public address, ``<SITE_URL>/r/<code>`` (``core.site``: the request's
    host only in development), never a ``Host`` header a client or a proxy chose."""
    return absolute_url(f"/r/{link.public_code}", request, base=base)


def qr_image(url: str, fmt: str) -> tuple[bytes, str]:
    """A QR code of ``url`` as SVG (for print) or PNG (for chat apps and documents)."""
    qr = segno.make(url, error="m")
    buffer = io.BytesIO()
    if fmt == "svg":
        qr.save(buffer, kind="svg", scale=8, border=2, xmldecl=False)
        return buffer.getvalue(), "image/svg+xml"
    qr.save(buffer, kind="png", scale=10, border=2)
    return buffer.getvalue(), "image/png"


def cookie_name(program_id: int) -> str:
    """The first-party cookie that remembers which link brought a visitor to a program."""
    return f"{settings.REFERRAL_COOKIE_PREFIX}{program_id}"


@dataclass(frozen=True)
class CodeWarning:
    """A referral code or attribution cookie an event came with that could not be used: the
    event is recorded as if it had not been given, and its answer says so."""

    param: str  # the field it came in: "code", or "cookie"
    code: str  # CODE_NOT_LIVE, COOKIE_NOT_VALID or CODE_NEEDS_EMAIL
    message: str


CODE_NOT_LIVE = "code_not_live"
COOKIE_NOT_VALID = "cookie_not_valid"
CODE_NEEDS_EMAIL = "code_needs_email"
NOT_LIVE_TEXT = (
    "Unknown or inactive referral code (its program is paused or ended or no longer "
    "accepts its source's kind, its source inactive, or it was renamed): the event was "
    "recorded without it."
)
NOT_SIGNED_TEXT = (
    "This is not an attribution cookie Advocate set, or its window has ended: the event "
    "was recorded without it."
)


def cookie_code_checked(value: str) -> tuple[str, CodeWarning | None]:
    """The referral code an attribution cookie's value carries, or ("", why not).

    /r/<code> sets the cookie with ``set_signed_cookie`` ("code:timestamp:signature", salted
    with the cookie's name): its signature and age are checked against the link's program
    and window, as the browser would have dropped it after. A bare code (kept by the shop
    itself) is taken as it is (whether it is live is the caller's to check)."""
    value = (value or "").strip()
    if ":" not in value:
        return value, None
    link = link_resolve(value.split(":", 1)[0])
    if link is None:
        return "", CodeWarning("cookie", CODE_NOT_LIVE, NOT_LIVE_TEXT)
    # Read as Django reads a signed cookie (its salt scheme included), from the value alone.
    carried = HttpRequest()
    name = cookie_name(link.program_id)
    carried.COOKIES[name] = value
    try:
        code = carried.get_signed_cookie(name, max_age=link.program.attribution_window_days * 86400)
    except signing.BadSignature:  # a forged or altered value, or one past its window
        return "", CodeWarning("cookie", COOKIE_NOT_VALID, NOT_SIGNED_TEXT)
    return code or "", None


# The hot path of /r/<code> lives in referrals/linkcache.py (the link, in process memory)
# and referrals/clicks.py (the click journal and its loader); docs/flows.md follows it.
