"""Links and clicks: a source's personal link, vanity codes, QR codes, and /r/<code>'s hot path."""

import io
import re
from dataclasses import asdict, dataclass

import segno
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import ReferralSource
from core.signing import digest

from ..models import Click, Program, ReferralLink, generate_code, vanity_code_validator

CODE_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{2,39}")


def hash_ip(ip: str) -> str:
    if not ip:
        return ""
    return digest("ip", ip, secret=settings.IP_HASH_SALT)


def link_get_or_create(*, program: Program, source: ReferralSource) -> ReferralLink:
    """The source's personal link into the program, created on first use."""
    if program.organization_id != source.organization_id:
        raise ValidationError("The source and the program belong to different organizations.")
    if source.kind not in (program.allowed_source_kinds or []):
        raise ValidationError(
            {"source": f"This program does not accept sources of kind {source.get_kind_display()}."}
        )
    existing = ReferralLink.objects.filter(program=program, source=source).first()
    if existing is not None:
        return existing
    for _ in range(5):
        try:
            with transaction.atomic():
                return ReferralLink.objects.create(
                    organization_id=program.organization_id,
                    program=program,
                    source=source,
                    code=generate_code(),
                )
        except IntegrityError:
            existing = ReferralLink.objects.filter(program=program, source=source).first()
            if existing is not None:
                return existing
    raise RuntimeError("Could not find a free referral code after 5 tries.")


def link_set_vanity_code(*, link: ReferralLink, vanity_code: str) -> ReferralLink:
    """Give a link a memorable code (or clear it with ""). Codes share one namespace."""
    vanity_code = (vanity_code or "").strip().lower()
    link_cache_forget(link)
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
    if link is None or not link.program.is_live or not link.source.active:
        return None
    return link


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


# The hot path -----------------------------------------------------------------------------
# /r/<code> answers from a small cached snapshot of the link and writes the click with one
# INSERT that commits before the response: a restarted worker or web process loses no click.
# bench/bench_redirect.py measures it against a bare redirect.

LINK_CACHE_TTL = 30  # seconds; program and link changes invalidate at once, source changes by TTL


@dataclass(frozen=True)
class LinkSnapshot:
    link_id: int
    organization_id: int
    program_id: int
    public_code: str
    landing_mode: str
    destination_url: str
    window_days: int


def _link_cache_key(code: str) -> str:
    return f"referrals:link:{code}"


def link_snapshot(code: str) -> LinkSnapshot | None:
    """What the link path needs to know about a live code, from the cache when it can."""
    code = (code or "").strip().lower()
    if not CODE_PATTERN.fullmatch(code):
        return None
    key = _link_cache_key(code)
    cached = cache.get(key)
    if cached is not None:
        return LinkSnapshot(**cached) if cached else None
    link = link_resolve(code)
    snapshot = (
        LinkSnapshot(
            link_id=link.pk,
            organization_id=link.organization_id,
            program_id=link.program_id,
            public_code=link.public_code,
            landing_mode=link.program.landing_mode,
            destination_url=link.program.destination_url,
            window_days=link.program.attribution_window_days,
        )
        if link
        else None
    )
    cache.set(key, asdict(snapshot) if snapshot else {}, LINK_CACHE_TTL)
    return snapshot


def link_cache_forget(*links: ReferralLink) -> None:
    keys = []
    for link in links:
        keys.append(_link_cache_key(link.code))
        if link.vanity_code:
            keys.append(_link_cache_key(link.vanity_code))
    cache.delete_many(keys)


def click_insert(*, snapshot: LinkSnapshot, ip: str, user_agent: str, referer: str) -> None:
    """Store one click with a single INSERT, committed before the visitor gets an answer."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Click._meta.db_table} "  # noqa: S608 - our own table name
            "(organization_id, link_id, at, ip_hash, user_agent, referer) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [
                snapshot.organization_id,
                snapshot.link_id,
                timezone.now(),
                hash_ip(ip),
                (user_agent or "")[:400],
                (referer or "")[:400],
            ],
        )


def click_record(*, link: ReferralLink, ip: str, user_agent: str, referer: str) -> Click:
    return Click.objects.create(
        organization_id=link.organization_id,
        link=link,
        ip_hash=hash_ip(ip),
        user_agent=(user_agent or "")[:400],
        referer=(referer or "")[:400],
    )
