"""Queue a Celery task from a service, by name, without ever losing it.

Services name the task they queue (``"rewards.issue_rewards_for_conversion"``) instead of
importing it, so a domain app never imports a surface or a later app's tasks, and a
reader can search for the name. ``enqueue_on_commit`` is the one way services queue work.

Why a transactional outbox (and not a sweep for conversions without rewards):
work queued by services is of many kinds (rewards, introduction, reward and payout emails,
payouts), and a sweep would need one "what is missing?" query per kind, each a guess at
what the task would have done. The outbox needs nothing from the tasks but that they are
idempotent: ``enqueue_on_commit`` writes an ``OutboxMessage`` row in the transaction of
the business write, so the conversion and the promise of its reward commit together.

1. After the commit the row is relayed to the broker at once (``_relay``): claimed in one
   statement (marked sent, skipped if a drain holds it), then published. If the broker
   is down the error is logged, never raised: the request still answers, the row is put
   back and waits.
2. ``drain_outbox`` (the ``core.drain_outbox`` task, every 30 s on the beat schedule) sends
   every row that is due. Each row is locked with ``SELECT ... FOR UPDATE SKIP LOCKED``
   and marked sent only after the broker accepted it, in the same transaction: two drains
   (or a drain and a relay) never send one row at the same time.
3. A row is deleted when a worker has run its task (``task_success``). Until then it is due
   again ``OUTBOX_LEASE_SECONDS`` after each send (doubling, at most an hour): a message
   the broker lost (Redis crashed with it) or a worker lost (SIGKILL) is sent again, without
   waiting for Redis's own redelivery (an hour by default). Tasks must be idempotent; a
   second run finds the work done.
4. A task that raised after its retries is marked ``failed_at`` and left alone (the admin
   lists it and can send it again), unless the error was transient (database or mail server
   unreachable): then it is due again after its lease. A task retried with a countdown is
   not due again before its retry time.

The message carries the row's id as its Celery task id (``outbox-<id>``), which is how the
worker's signal handlers find the row.
"""

import logging
import numbers
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from celery import shared_task
from celery.signals import task_failure, task_retry, task_success
from django import db
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

log = logging.getLogger(__name__)

TASK_ID_PREFIX = "outbox-"


def celery_app():
    """The Celery app messages are published with (a test may point it at another broker)."""
    from config.celery import app

    return app


def send_task(name: str, *args, **kwargs) -> None:
    """Send the task now, outside the outbox: nothing re-sends it if the broker loses it."""
    celery_app().send_task(name, args=list(args), kwargs=kwargs or None)


def enqueue_on_commit(name: str, *args, **kwargs) -> None:
    """Queue the task with the current transaction: written to the outbox now, sent to the
    broker once the transaction commits (at once outside one), and sent again until a
    worker has run it. Arguments must be JSON (ids, not objects)."""
    from .models import OutboxMessage

    message = OutboxMessage.objects.create(task=name, args=list(args), kwargs=kwargs)
    transaction.on_commit(lambda: _relay(message.pk), robust=True)


def enqueue_many_on_commit(name: str, arguments: list[list]) -> None:
    """``enqueue_on_commit`` for many calls of one task (one list of arguments each): one
    insert, and one relay after the commit."""
    from .models import OutboxMessage

    if not arguments:
        return
    messages = OutboxMessage.objects.bulk_create(
        [OutboxMessage(task=name, args=list(args), kwargs={}) for args in arguments]
    )
    pks = [m.pk for m in messages]
    transaction.on_commit(lambda: _relay_many(pks), robust=True)


def waiting(name: str, *args) -> bool:
    """Whether a task queued with these arguments is still in the outbox, not yet accepted
    by the broker (e.g. Redis is down): for a page to say the work will follow."""
    from .models import OutboxMessage

    return OutboxMessage.objects.filter(
        task=name, args=list(args), sent_at__isnull=True, failed_at__isnull=True
    ).exists()


# Sending ---------------------------------------------------------------------------------

# After a failed relay, requests skip the broker for a few seconds (per broker URL) instead
# of each waiting on it: the drain sends what they queued.
RELAY_PAUSE_SECONDS = 10.0
_relay_paused_until: dict[str, float] = {}


def lease_seconds() -> int:
    return int(getattr(settings, "OUTBOX_LEASE_SECONDS", 300))


def _resend_delay(sends: int) -> timedelta:
    """How long a sent row waits for its worker before it is sent again: the lease, doubled
    at each send, at most an hour (a backlog after an outage is not flooded with copies)."""
    return timedelta(seconds=min(lease_seconds() * 2 ** max(sends - 1, 0), 3600))


def _publish(app, message, *, retry: bool) -> None:
    app.send_task(
        message.task,
        args=message.args,
        kwargs=message.kwargs or None,
        task_id=f"{TASK_ID_PREFIX}{message.pk}",
        retry=retry,
        retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
    )


def _publish_locked(messages: list, *, retry: bool) -> tuple[int, Exception | None]:
    """Publish rows locked by the caller's transaction; mark each sent once the broker has
    accepted it. Stops at the first broker error, which is recorded on the unsent rows; a
    row that cannot be published for another reason is put off by a lease and skipped, so
    it never blocks the rows behind it."""
    from .models import OutboxMessage

    app = celery_app()
    done: list = []
    sent = 0
    error = None
    now = timezone.now()  # one time for the batch: its rows are updated together below
    for index, message in enumerate(messages):
        try:
            _publish(app, message, retry=retry)
        except (BrokerError, OSError) as exc:
            error = exc
            unsent = [m.pk for m in messages[index:]]
            OutboxMessage.objects.filter(pk__in=unsent).update(
                last_error=f"{type(exc).__name__}: {exc}"[:2000]
            )
            break
        except Exception as exc:  # noqa: BLE001 - this message only: keep it, try it later
            log.exception("Outbox message %s could not be published", message.pk)
            message.next_attempt_at = now + timedelta(seconds=lease_seconds())
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        else:
            message.sent_at = now
            message.sends += 1
            message.next_attempt_at = now + _resend_delay(message.sends)
            message.last_error = ""
            sent += 1
        done.append(message)
    # One UPDATE per set of values (the rows sent together share them) rather than
    # bulk_update's CASE per row, which PostgreSQL evaluates for every row: seconds for the
    # thousand reward tasks of a bulk of events.
    groups: dict[tuple, list[int]] = {}
    for message in done:
        values = (message.sent_at, message.sends, message.next_attempt_at, message.last_error)
        groups.setdefault(values, []).append(message.pk)
    for (sent_at, sends, next_attempt_at, last_error), pks in groups.items():
        OutboxMessage.objects.filter(pk__in=pks).update(
            sent_at=sent_at, sends=sends, next_attempt_at=next_attempt_at, last_error=last_error
        )
    return sent, error


def _relay(pk: int) -> None:
    """Right after the commit: hand the row to the broker, or leave it to the drain."""
    _relay_many([pk])


def _relay_many(pks: list[int]) -> None:
    """Right after the commit: hand the rows to the broker, or leave them to the drain.

    The rows are claimed first, in one statement (marked sent and due again after their
    lease; rows a drain holds are skipped, the drain sends them), then published outside
    any transaction: a relay is one round trip to PostgreSQL, not a transaction of four. A
    row whose publish fails is put back as it was (the broker's error noted); one claimed
    by a process that died before publishing it is sent by the drain after its lease, as
    a message the broker lost is."""
    broker = str(celery_app().conf.broker_url)
    if time.monotonic() < _relay_paused_until.get(broker, 0.0):
        return
    error: Exception | None = None
    try:
        app = celery_app()
        now = timezone.now()
        messages = _claim(pks, now)
        for index, message in enumerate(messages):
            try:
                _publish(app, message, retry=False)
            except (BrokerError, OSError) as exc:
                error = exc
                _unclaim([m.pk for m in messages[index:]], now, f"{type(exc).__name__}: {exc}")
                break
            except Exception as exc:  # noqa: BLE001 - this message only: keep it, try it later
                log.exception("Outbox message %s could not be published", message.pk)
                _unclaim(
                    [message.pk],
                    now + timedelta(seconds=lease_seconds()),
                    f"{type(exc).__name__}: {exc}",
                )
    except Exception as exc:  # noqa: BLE001 - never fail the request that already committed
        error = exc
    if error is not None:
        _relay_paused_until[broker] = time.monotonic() + RELAY_PAUSE_SECONDS
        log.warning(
            "Outbox messages %s kept for the drain: the broker did not take them (%s: %s)",
            pks[:10],
            type(error).__name__,
            error,
        )


def _claim(pks: list[int], now: datetime) -> list:
    """Mark the unsent rows among ``pks`` sent at ``now`` (due again after their lease)
    and return them; a row another transaction holds (a drain sending it) is skipped."""
    from .models import OutboxMessage

    if connection.vendor != "postgresql":
        return _claim_portably(pks, now)
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    return list(
        OutboxMessage.objects.raw(
            f"WITH due AS (SELECT id FROM {table} WHERE id = ANY(%s::bigint[]) AND sent_at IS NULL "  # noqa: S608 - the table's name from the model, values as parameters
            "AND failed_at IS NULL ORDER BY id FOR UPDATE SKIP LOCKED) "
            f"UPDATE {table} AS o SET sent_at = %s, sends = o.sends + 1, last_error = '', "
            "next_attempt_at = %s::timestamptz + make_interval(secs => LEAST("
            "%s * power(2, o.sends), 3600)) FROM due WHERE o.id = due.id "
            "RETURNING o.id, o.task, o.args, o.kwargs, o.sends",
            [list(pks), now, now, lease_seconds()],
        )
    )


def _claim_portably(pks: list[int], now: datetime) -> list:
    """``_claim`` on databases without arrays or SKIP LOCKED (bin/dev's SQLite): each row
    taken by an UPDATE that only finds it unsent, so a drain that got there first keeps it.
    Without this the relay failed there on every commit and each task waited for the drain
    (up to 30 s)."""
    from .models import OutboxMessage

    claimed = []
    for message in OutboxMessage.objects.filter(
        pk__in=pks, sent_at__isnull=True, failed_at__isnull=True
    ).order_by("id"):
        sends = message.sends + 1
        next_attempt_at = now + _resend_delay(sends)
        taken = OutboxMessage.objects.filter(
            pk=message.pk, sent_at__isnull=True, failed_at__isnull=True
        ).update(sent_at=now, sends=sends, last_error="", next_attempt_at=next_attempt_at)
        if taken:
            message.sent_at, message.sends, message.last_error = now, sends, ""
            message.next_attempt_at = next_attempt_at
            claimed.append(message)
    return claimed


def _unclaim(pks: list[int], due: datetime, error: str) -> None:
    """The claimed rows were not published: unsent again, due at ``due``."""
    from .models import OutboxMessage

    OutboxMessage.objects.filter(pk__in=pks).update(
        sent_at=None, sends=F("sends") - 1, next_attempt_at=due, last_error=error[:2000]
    )


def drain_outbox(*, batch_size: int = 200, max_batches: int = 50) -> int:
    """Send every due outbox row (never sent, or sent and not run within its lease).

    Safe to run in several workers at once: each batch locks its rows with SKIP LOCKED, so
    a row is taken by one drain only, and is marked sent in the transaction that holds the
    lock, after the broker accepted it. Stops at the first broker error. Returns how many
    rows were sent.
    """
    from .models import OutboxMessage

    total = 0
    for _ in range(max_batches):
        with transaction.atomic():
            due = list(
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(failed_at__isnull=True, next_attempt_at__lte=timezone.now())
                .order_by("next_attempt_at", "id")[:batch_size]
            )
            if not due:
                break
            sent, error = _publish_locked(due, retry=True)
        total += sent
        if error is not None:
            log.warning(
                "Outbox drain stopped after %s messages: %s: %s", total, type(error).__name__, error
            )
            break
        if len(due) < batch_size:
            break
    if total:
        log.info("Outbox drain sent %s messages", total)
    return total


@shared_task(name="core.drain_outbox", ignore_result=True)
def drain_outbox_task() -> int:
    return drain_outbox()


# What the worker reports back -------------------------------------------------------------


def _outbox_pk(task_id: str | None) -> int | None:
    if not task_id or not task_id.startswith(TASK_ID_PREFIX):
        return None
    try:
        return int(task_id[len(TASK_ID_PREFIX) :])
    except ValueError:
        return None


@task_success.connect
def _task_done(sender=None, **kwargs) -> None:
    """The task ran: its row is done."""
    from .models import OutboxMessage

    pk = _outbox_pk(getattr(sender.request, "id", None) if sender else None)
    if pk is not None:
        OutboxMessage.objects.filter(pk=pk).delete()


@task_retry.connect
def _task_retried(sender=None, request=None, reason=None, **kwargs) -> None:
    """The task retries itself later: not due again before its retry time plus the lease."""
    from .models import OutboxMessage

    pk = _outbox_pk(getattr(request, "id", None))
    if pk is None:
        return
    when = getattr(reason, "when", None)
    now = timezone.now()
    if isinstance(when, datetime):
        eta = when if timezone.is_aware(when) else timezone.make_aware(when)
    elif isinstance(when, numbers.Real):
        eta = now + timedelta(seconds=float(when))
    else:
        eta = now
    OutboxMessage.objects.filter(pk=pk).update(
        next_attempt_at=max(eta, now) + timedelta(seconds=lease_seconds()),
        last_error=str(getattr(reason, "exc", "") or reason)[:2000],
    )


# Failures of what a task talks to, not of the task: worth sending it again later.
TRANSIENT_ERRORS = (db.OperationalError, db.InterfaceError, OSError)


@task_failure.connect
def _task_failed(sender=None, task_id=None, exception=None, **kwargs) -> None:
    """The task gave up. After a transient error (the database or the mail server was
    unreachable) it is sent again after its lease; after any other error the row is kept,
    out of the drain's way, for staff to look at and send again from the admin."""
    from .models import OutboxMessage

    pk = _outbox_pk(task_id)
    if pk is None:
        return
    error = f"{type(exception).__name__}: {exception}"[:2000]
    now = timezone.now()
    if isinstance(exception, TRANSIENT_ERRORS):
        OutboxMessage.objects.filter(pk=pk).update(
            next_attempt_at=now + timedelta(seconds=lease_seconds()), last_error=error
        )
    else:
        OutboxMessage.objects.filter(pk=pk).update(failed_at=now, last_error=error)


# Side effects done once ----------------------------------------------------------------


@contextmanager
def once(key: str) -> Iterator[bool]:
    """Do a side effect (an email) once per key, however often its task is delivered.

    Yields True to the one caller that should act, inside a transaction that holds the
    claim; the claim commits only if the block finishes. A worker killed mid-way rolls the
    claim back, so the redelivered task acts again; a concurrent delivery waits on the
    claim and then yields False::

        with once(f"referrals.introduction:{referral.pk}") as first:
            if first:
                send_the_email()
    """
    from .models import TaskClaim

    with transaction.atomic():
        try:
            with transaction.atomic():
                TaskClaim.objects.create(key=key[:200])
        except IntegrityError:
            yield False
            return
        yield True
