"""
The referral link as the click path needs it, kept in each web process's memory.

``/r/<code>`` is the busiest URL of the service, so it answers from ``get(code)``: a dict
lookup, no network round trip. A miss (a first visit, or an entry older than
``LINK_LOCAL_TTL`` seconds) reads PostgreSQL through ``services.link_resolve``, never
Redis: the link works with Redis down.

Invalidation. A saved or deleted program, link, source or organization (the signals
connected in ``apps.py``) drops this process's entries at once and, after its transaction
commits, bumps the one ``LinkCacheVersion`` row. Every process reads that row at most every
``LINK_VERSION_CHECK_SECONDS`` and drops its entries when it moved, so a paused program or
an edited landing page is live everywhere within about a second. What bypasses ``save()``
(``QuerySet.update``) is live after the TTL. When the database cannot be reached, an entry
outlives its TTL rather than fail the visitor: its clicks still go to the journal.

A surface may keep what it derives from a link in ``LiveLink.extras`` (the portal keeps the
redirect target and the rendered landing page there); it is dropped with the entry.
"""

import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F

from . import services
from .models import LinkCacheVersion

log = logging.getLogger(__name__)

MAX_ENTRIES = 10_000  # codes kept per process; a flood of unknown codes only resets the dict


@dataclass(slots=True, eq=False)
class LiveLink:
    link_id: int
    organization_id: int
    program_id: int
    public_code: str
    landing_mode: str
    destination_url: str
    window_days: int
    extras: dict = field(default_factory=dict)


_entries: dict[str, tuple[float, LiveLink | None]] = {}
_UNSEEN = object()
_seen_version: object = _UNSEEN
_next_check = 0.0
_lock = threading.Lock()
_clock = time.monotonic  # tests move it


def get(code: str) -> LiveLink | None:
    """The live link for a code (or vanity code), or None for an unknown or inactive one."""
    now = _clock()
    if now >= _next_check:
        _check_version(now)
    entry = _entries.get(code)
    if entry is not None and entry[0] > now:
        return entry[1]
    return _load(code, now, entry)


def forget_local() -> None:
    """Drop this process's entries (the next visit of each code reads the database)."""
    _entries.clear()


def _load(code: str, now: float, previous) -> LiveLink | None:
    try:
        link = services.link_resolve(code)
    except DatabaseError:
        if previous is None:
            raise
        log.warning("Serving link %r from memory: the database is unreachable", code)
        _entries[code] = (now + settings.LINK_LOCAL_TTL, previous[1])
        return previous[1]
    live = (
        LiveLink(
            link_id=link.pk,
            organization_id=link.organization_id,
            program_id=link.program_id,
            public_code=link.public_code,
            landing_mode=link.program.landing_mode,
            destination_url=link.program.destination_url,
            window_days=link.program.attribution_window_days,
        )
        if link is not None
        else None
    )
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()
    _entries[code] = (now + settings.LINK_LOCAL_TTL, live)
    return live


def _check_version(now: float) -> None:
    global _next_check, _seen_version
    with _lock:
        if now < _next_check:
            return  # another thread just checked
        _next_check = now + settings.LINK_VERSION_CHECK_SECONDS
    try:
        version = LinkCacheVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    except DatabaseError:
        log.warning("Links version unreadable; in-process links live out their TTL")
        return
    if version != _seen_version:
        _seen_version = version
        _entries.clear()


def bump() -> None:
    """Tell every process that links changed (they drop their entries at their next check)."""
    forget_local()
    try:
        if not LinkCacheVersion.objects.filter(pk=1).update(version=F("version") + 1):
            LinkCacheVersion.objects.get_or_create(pk=1, defaults={"version": 1})
    except DatabaseError:
        log.warning("Could not bump the links version; other processes catch up by TTL")


def on_link_change(sender, instance=None, created=False, using="default", **kwargs) -> None:
    """post_save/post_delete of what a link shows. A new row changes no existing link."""
    if created:
        return
    forget_local()
    transaction.on_commit(bump, using=using)


def connect_signals() -> None:
    from django.db.models.signals import post_delete, post_save

    from accounts.models import Organization, ReferralSource

    from .models import Program, ReferralLink

    for model in (Organization, Program, ReferralLink, ReferralSource):
        uid = f"linkcache-{model._meta.label}"
        post_save.connect(on_link_change, sender=model, dispatch_uid=uid)
        post_delete.connect(on_link_change, sender=model, dispatch_uid=uid)
