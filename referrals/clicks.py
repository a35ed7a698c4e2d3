"""
Clicks: appended to a local journal on the hot path, loaded into the database in bulk.

The writer. Each web process appends every click as one JSON line, with one ``os.write``,
to a journal file of its own under ``CLICK_JOURNAL_DIR``:
``clicks-<host>-<pid>-<start>-<seq>.jsonl``, opened with ``O_APPEND``. A write that returned
is in the kernel's page cache, so a web process killed the next instant loses nothing. The
file is rotated by size (``CLICK_JOURNAL_ROTATE_BYTES``) and age
(``CLICK_JOURNAL_ROTATE_SECONDS``). The writer holds a shared ``flock`` on its current file;
the kernel drops it when the file is rotated or the process dies, however it dies, and that
is how the shipper knows no line will be appended any more (the file is *sealed*). A file
is created under a hidden temporary name and renamed once locked, so the shipper never sees
a new file unlocked.

The shipper (``ship()``, run in a loop by ``manage.py ship_clicks`` beside the web server
on each node). For each journal it locks the file's ``ClickJournalOffset`` row, reads the
complete lines past the offset, loads them with one COPY (a multi-row INSERT on SQLite)
and moves the offset, all in one transaction: a line is loaded exactly once, whether the
shipper crashes before, during or after it, or two shippers race. A sealed file that is
fully loaded is deleted, then its offset row.

Lines are JSON, so no header can break a line; control characters (NUL included, which
PostgreSQL refuses in text) are stripped from the user agent and referer, which are cut
to their column's 400 characters. The visitor's IP is hashed before it reaches the disk.
docs/operations.md says what a crash can lose and how several web nodes work.
"""

import errno
import fcntl
import json
import logging
import os
import re
import socket
import threading
import time
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from pathlib import Path

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection, transaction
from django.utils import timezone

from core.signing import fast_digest

from .models import Click, ClickJournalOffset, ReferralLink

log = logging.getLogger(__name__)

FIELD_MAX = 400  # Click.user_agent and Click.referer
LINE_FORMAT = 1  # the first field of every line; a new layout gets a new number
PREFIX, SUFFIX = "clicks-", ".jsonl"
READ_BYTES = 4 << 20  # what one shipping transaction loads at most (about 20,000 clicks)
ABANDONED_AFTER = 60  # seconds before an unlocked temporary file is removed

_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_quote = encode_basestring_ascii  # a str as a JSON string, ASCII only (C speed)
_JSON_IN = json.JSONDecoder()
_COPY_SQL = (
    f"COPY {Click._meta.db_table} "
    "(organization_id, link_id, at, ip_hash, user_agent, referer) FROM STDIN"
)


def clean(value: str) -> str:
    """A header value safe in a journal line and a text column: no control characters."""
    if not value:
        return ""
    if value.isprintable():  # the common case, at C speed: nothing to strip
        return value[:FIELD_MAX]
    return _CONTROL.sub("", value)[:FIELD_MAX]  # headers are at most 8 KB (gunicorn)


def encode(
    *, at: float, organization_id: int, link_id: int, ip_hash: str, user_agent: str, referer: str
) -> bytes:
    """One click as one journal line (ASCII JSON, ending in its only newline).

    ``json.dumps`` of the same list, written out: a third of its time on the hot path.
    """
    return (
        f"[{LINE_FORMAT},{float(at)!r},{int(organization_id)},{int(link_id)},"
        f"{_quote(ip_hash)},{_quote(clean(user_agent))},{_quote(clean(referer))}]\n"
    ).encode("ascii")


def decode(line: str) -> tuple:
    """A journal line as a Click row (organization, link, at, ip hash, user agent, referer).

    Raises ValueError for anything that is not a whole line of the known format.
    """
    try:
        fmt, at, organization_id, link_id, ip_hash, user_agent, referer = _JSON_IN.decode(line)
    except (TypeError, ValueError) as error:
        raise ValueError(f"not a click line: {line[:80]!r}") from error
    if (
        fmt != LINE_FORMAT
        or type(organization_id) is not int
        or type(link_id) is not int
        or type(at) is not float
        or type(ip_hash) is not str
        or type(user_agent) is not str
        or type(referer) is not str
    ):
        raise ValueError(f"not a click line: {line[:80]!r}")
    when = datetime.fromtimestamp(at, tz=UTC)
    return organization_id, link_id, when, clean(ip_hash)[:64], clean(user_agent), clean(referer)


# The writer ---------------------------------------------------------------------------------


def _node() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:64] or "node"


class Journal:
    """This process's current journal file. Thread-safe (runserver answers in threads)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._started = 0
        self._seq = 0
        self._size = 0
        self._max_bytes = 0
        self._rotate_at = 0.0
        self.path: Path | None = None

    def append(self, line: bytes, now: float) -> Path:
        """Append one line with one write; returns the file it went to. Raises OSError."""
        with self._lock:
            if self._fd is None or self._size >= self._max_bytes or now >= self._rotate_at:
                self._rotate(now)
            assert self._fd is not None and self.path is not None
            written = os.write(self._fd, line)
            self._size += written
            if written != len(line):
                # A short write (a full disk): end the fragment so it cannot run into the
                # next line. The shipper skips it; the caller stores this click another way.
                try:
                    self._size += os.write(self._fd, b"\n")
                finally:
                    self._close()
                raise OSError(errno.ENOSPC, "short write to the click journal")
            return self.path

    def _rotate(self, now: float) -> None:
        directory = Path(settings.CLICK_JOURNAL_DIR)
        directory.mkdir(parents=True, exist_ok=True)
        if not self._started:
            self._started = time.time_ns()
        self._seq += 1
        name = f"{PREFIX}{_node()}-{os.getpid()}-{self._started}-{self._seq:06d}{SUFFIX}"
        temporary = directory / f".{name}.tmp"
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        fd = os.open(temporary, flags, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # held until rotated or the process dies
            os.rename(temporary, directory / name)
        except BaseException:
            os.close(fd)
            raise
        self._close()  # releases the previous file's lock: the shipper may finish it
        self._fd, self.path, self._size = fd, directory / name, 0
        self._max_bytes = settings.CLICK_JOURNAL_ROTATE_BYTES
        self._rotate_at = now + settings.CLICK_JOURNAL_ROTATE_SECONDS

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self.path = None, None

    def close(self) -> None:
        """Seal the current file; the next click opens a new one."""
        with self._lock:
            self._close()

    def after_fork_in_child(self) -> None:
        # A forked child must not write into, nor keep locked, its parent's file.
        self._lock = threading.Lock()
        self._close()
        self._started, self._seq = 0, 0


journal = Journal()
os.register_at_fork(after_in_child=journal.after_fork_in_child)


def _settings_changed(setting, **kwargs):
    if setting.startswith("CLICK_JOURNAL_"):
        journal.close()


setting_changed.connect(_settings_changed, dispatch_uid="referrals.clicks")


# Crawlers and the apps that fetch a shared link for its preview card (chat apps, social
# networks): they name themselves "...bot/", "...bot-", "...Bot (", or by these names.
_NOT_A_PERSON = re.compile(
    r"(bot|crawler|spider)(/|-|\s\()|facebookexternalhit|facebookcatalog|whatsapp/"
    r"|skypeuripreview|embedly|pinterest/|iframely|outbrain|vkshare|w3c_validator",
    re.IGNORECASE,
)


def is_click(method: str, user_agent: str) -> bool:
    """Whether a request for a link is a person's click: a GET (not a HEAD from a link
    checker, an OPTIONS preflight or a scanner's PUT or DELETE), and not from a crawler or
    a link preview, which fetch a link once per share and per chat before any friend
    clicked (counted, they inflated clicks and deflated every conversion rate)."""
    return method == "GET" and _NOT_A_PERSON.search(user_agent) is None


def hash_ip(ip: str) -> str:
    """``services.hash_ip``'s value, computed faster (the key is derived once)."""
    return fast_digest("ip", ip, secret=settings.IP_HASH_SALT) if ip else ""


def record(*, organization_id: int, link_id: int, ip: str, user_agent: str, referer: str) -> None:
    """Store one click: a line in this process's journal (the database when that fails)."""
    now = time.time()
    ip_hash = hash_ip(ip)
    line = encode(
        at=now,
        organization_id=organization_id,
        link_id=link_id,
        ip_hash=ip_hash,
        user_agent=user_agent,
        referer=referer,
    )
    try:
        path = journal.append(line, now)
    except OSError:
        log.exception("The click journal is not writable; storing the click directly")
        Click.objects.create(
            organization_id=organization_id,
            link_id=link_id,
            at=datetime.fromtimestamp(now, tz=UTC),
            ip_hash=ip_hash,
            user_agent=clean(user_agent),
            referer=clean(referer),
        )
        return
    if settings.CLICK_JOURNAL_SHIP_EAGERLY:
        ship_file(path)


# The shipper --------------------------------------------------------------------------------


def ship(directory: Path | str | None = None) -> int:
    """Load every journal under the directory past its offset; delete the finished ones.

    Returns the number of clicks loaded.
    """
    directory = Path(directory or settings.CLICK_JOURNAL_DIR)
    if not directory.is_dir():
        return 0
    loaded = 0
    for path in sorted(directory.glob(f"{PREFIX}*{SUFFIX}")):
        loaded += ship_file(path)
    _remove_abandoned(directory)
    return loaded


def ship_file(path: Path) -> int:
    """Load one journal past its offset; delete it once sealed and loaded. Returns clicks."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, after the lock is used
    except FileNotFoundError:
        return 0
    with handle:
        sealed = _lock_exclusive(handle.fileno())  # no writer left: nothing more will come
        loaded, offset, more = 0, 0, True
        while more:
            count, reached, more = _ship_batch(path, handle)
            if reached is None:
                return loaded  # another shipper finished the file meanwhile
            loaded, offset = loaded + count, reached
        if sealed:
            torn = os.fstat(handle.fileno()).st_size - offset
            if torn:
                log.warning("%s: dropped %d bytes of a line torn by a crash", path.name, torn)
            path.unlink(missing_ok=True)
            ClickJournalOffset.objects.filter(name=path.name).delete()
    return loaded


def _ship_batch(path: Path, handle) -> tuple[int, int | None, bool]:
    """One transaction: lock the offset, load the whole lines past it, move it past them."""
    with transaction.atomic():
        ClickJournalOffset.objects.get_or_create(name=path.name)
        row = ClickJournalOffset.objects.select_for_update().get(name=path.name)
        if not path.exists():
            transaction.set_rollback(True)  # loaded and removed by another shipper
            return 0, None, False
        handle.seek(row.offset)
        data = handle.read(READ_BYTES)
        end = data.rfind(b"\n") + 1
        if not end:
            return 0, row.offset, False
        loaded = _insert(_decode_lines(path, data[:end]))
        row.offset += end
        row.updated_at = timezone.now()
        row.save(update_fields=["offset", "updated_at"])
    return loaded, row.offset, len(data) == READ_BYTES


def _decode_lines(path: Path, data: bytes) -> list[tuple]:
    rows = []
    text = data.decode("ascii", errors="replace")  # the writer writes ASCII only
    for line in text.split("\n")[:-1]:  # data ends with a newline
        try:
            rows.append(decode(line))
        except ValueError:
            log.warning("%s: skipped a line that is not a click: %r", path.name, line[:120])
    return rows


def _insert(rows: list[tuple]) -> int:
    """Insert the rows of links that still exist (a deleted link's clicks went with it)."""
    if not rows:
        return 0
    owners = dict(
        ReferralLink.objects.filter(pk__in={row[1] for row in rows}).values_list(
            "pk", "organization_id"
        )
    )
    kept = [row for row in rows if owners.get(row[1]) == row[0]]
    if len(kept) < len(rows):
        log.warning("Dropped %d clicks of links that no longer exist", len(rows) - len(kept))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, cursor.copy(_COPY_SQL) as copy:
            for row in kept:
                copy.write_row(row)
    else:
        Click.objects.bulk_create(
            [
                Click(
                    organization_id=org,
                    link_id=link,
                    at=at,
                    ip_hash=ip_hash,
                    user_agent=agent,
                    referer=referer,
                )
                for org, link, at, ip_hash, agent, referer in kept
            ],
            batch_size=500,
        )
    return len(kept)


def _lock_exclusive(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _remove_abandoned(directory: Path) -> None:
    """Remove temporary files of writers that died between creating and naming a journal."""
    for path in directory.glob(f".{PREFIX}*.tmp"):
        try:
            with open(path, "rb") as handle:
                too_old = time.time() - os.fstat(handle.fileno()).st_mtime > ABANDONED_AFTER
                if too_old and _lock_exclusive(handle.fileno()):
                    path.unlink(missing_ok=True)
        except FileNotFoundError:
            continue
