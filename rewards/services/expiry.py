"""Credit expiry: lots past their date are closed set-based; reminders go before they expire."""

import logging
from datetime import timedelta
from itertools import groupby

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .. import webhooks
from ..models import (
    CreditLot,
    CreditReminder,
    LedgerEntry,
)

log = logging.getLogger(__name__)

REMINDER_DAYS = (7, 1)  # expiry reminders, in days before a lot expires


def expire_credit_lots(*, now=None, batch_size: int = 100_000) -> int:
    """Expire every lot past its date, set-based, one statement per batch. Returns how many.

    The ``expire`` entry is dated when the lot expired (its ``expires_at``: the credit could
    not be spent from then on), so a run late after an outage puts the breakage on the day
    it happened; the lot's ``expired_at`` says when this task closed it (the analytics
    refresh builds those days again, ``analytics.rollups``).

    On PostgreSQL each batch is a single statement: it picks the batch (skipping lots a
    redemption holds right now: the next run takes them), closes the lots and writes their
    expiry entries, so a lot is either expired with its entry or not at all. Each batch
    commits without waiting for its WAL to reach the disk: after a crash the lost batches
    are simply open again and the next run expires them. bench/run expiry measures it
    (bench/README.md: what was tried, and what the time goes to).
    """
    now = now or timezone.now()
    if connection.vendor == "postgresql":
        return _expire_postgresql(now, batch_size)
    return _expire_portable(now, batch_size)


_EXPIRE_SQL = """
WITH batch AS (
    SELECT id, organization_id, account_id, remaining, expires_at FROM {lot}
    WHERE expired_at IS NULL AND remaining > 0 AND expires_at <= %(now)s
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), entries AS (
    INSERT INTO {entry}
        (organization_id, account_id, lot_id, kind, amount, idempotency_key, reference, at)
    SELECT organization_id, account_id, id, %(kind)s, -remaining, %(kind)s, '', expires_at
    FROM batch
)
UPDATE {lot} SET remaining = 0, expired_at = %(now)s
WHERE id = ANY(ARRAY(SELECT id FROM batch))
"""
# ``id = ANY(ARRAY(...))`` makes the update a primary-key lookup of the batch; a join with
# the batch lets the planner hash the whole lot table once per batch.
#
# No ORDER BY: every due lot expires in this run, so the order is free. When few lots are
# due the planner reads them by the partial index ``lot_open_by_expiry``; when many are, it
# scans the table and a batch is a stretch of neighbouring pages, so each page is written
# (and given its full-page image in the WAL after a checkpoint) once in the run, not once per
# batch as with batches in expiry order over lots that lie in no order.


def _expire_postgresql(now, batch_size: int) -> int:
    sql = _EXPIRE_SQL.format(lot=CreditLot._meta.db_table, entry=LedgerEntry._meta.db_table)
    params = {"now": now, "limit": batch_size, "kind": LedgerEntry.Kind.EXPIRE}
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            # Safe for this task only: a batch is all or nothing, and redone if lost.
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(sql, params)
            expired = cursor.rowcount
        total += expired
        if expired == 0:
            return total


def _expire_portable(now, batch_size: int) -> int:
    """The same for SQLite (the embedded development setup): three statements per batch."""
    entry_table = LedgerEntry._meta.db_table
    lot_table = CreditLot._meta.db_table
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                CreditLot.objects.select_for_update(skip_locked=True)
                .filter(expired_at__isnull=True, remaining__gt=0, expires_at__lte=now)
                .order_by("expires_at")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                return total
            placeholders = ",".join(["%s"] * len(ids))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {entry_table} "  # noqa: S608 - table names are our own
                    "(organization_id, account_id, lot_id, kind, amount, idempotency_key, "
                    "reference, at) "
                    "SELECT organization_id, account_id, id, %s, -remaining, %s, '', "
                    f"expires_at FROM {lot_table} WHERE id IN ({placeholders}) "
                    "AND expired_at IS NULL AND remaining > 0",
                    [LedgerEntry.Kind.EXPIRE, LedgerEntry.Kind.EXPIRE, *ids],
                )
                cursor.execute(
                    f"UPDATE {lot_table} SET remaining = 0, expired_at = %s "  # noqa: S608
                    f"WHERE id IN ({placeholders}) AND expired_at IS NULL",
                    [now, *ids],
                )
            total += len(ids)


# Expiry reminders -------------------------------------------------------------------------


def _due_for_reminder(now, days_before: int):
    """Open lots expiring within ``days_before`` days (and, for the early reminder, not yet
    within the next one's window), that have not had this reminder."""
    closer = [d for d in REMINDER_DAYS if d < days_before]
    qs = (
        CreditLot.objects.open(at=now)
        .filter(expires_at__lte=now + timedelta(days=days_before))
        .exclude(reminders__days_before=days_before)
    )
    if closer:
        qs = qs.filter(expires_at__gt=now + timedelta(days=max(closer)))
    return qs.select_related(
        "account", "account__source", "account__customer", "account__organization"
    ).order_by("account_id", "expires_at")


def send_expiry_reminders(*, now=None) -> int:
    """Email holders whose credit expires in 7 days, and again in 1 day: once each, ever.

    Each (lot, days_before) reminder is claimed by inserting its row, committed before the
    email is sent; the unique constraint makes a second claim fail, so a task delivered
    twice, or two workers running it at once, never send the same reminder twice. (The
    price: an email that fails after its claim is not retried.) Returns emails sent.
    """
    from ..notifications import send_credit_expiring

    now = now or timezone.now()
    sent = 0
    for days_before in REMINDER_DAYS:
        lots = _due_for_reminder(now, days_before)
        for _account_id, lots_of_account in groupby(
            lots.iterator(chunk_size=500), lambda x: x.account_id
        ):
            group = list(lots_of_account)
            account = group[0].account
            holder = account.holder
            if not getattr(holder, "email", ""):
                continue
            claimed = []
            for lot in group:
                try:
                    with transaction.atomic():
                        reminder = CreditReminder.objects.create(
                            organization_id=lot.organization_id,
                            lot=lot,
                            days_before=days_before,
                        )
                except IntegrityError:
                    continue  # claimed by another run: that run sends it
                claimed.append((lot, reminder))
            if not claimed:
                continue
            send_credit_expiring(account=account, lots=[lot for lot, _ in claimed])
            webhooks.credit_expiring(account, [lot for lot, _ in claimed], days_before)
            CreditReminder.objects.filter(pk__in=[r.pk for _, r in claimed]).update(
                sent_at=timezone.now()
            )
            sent += 1
    return sent
