"""
How the demo seeder writes its rows: ``COPY`` on PostgreSQL, multi-row ``INSERT`` elsewhere.

The seeder builds records (plain objects standing for unsaved rows, ``record(model)``) and
hands them over a batch at a time. The writer gives each its primary key first (a block
from the table's own sequence on PostgreSQL, so rows written by anyone else meanwhile never
collide), fills in the foreign keys of related records saved in an earlier batch, and then
streams the rows with psycopg's
``cursor.copy``: one round trip per batch instead of one per ``INSERT`` of 5,000 rows, no
``RETURNING``, and no per-value SQL parameters. A million customers' worth of rows (about
fifteen million) load this way in minutes.

SQLite (``bin/dev``) keeps ``bulk_create``, with the keys handed out the same way so the
two paths build the very same rows.
"""

import contextlib
import json
import queue
import threading
from collections.abc import Callable, Iterator, Sequence

from django.db import connection, models, transaction
from django.db.models.enums import Choices

BATCH_SIZE = 5000  # rows per INSERT on SQLite


class Record:
    """An unsaved row of ``model``: a plain object, far cheaper to make than the model's
    instance (a tenth of the time), which matters at fifteen million rows.

    Attributes are the model's field attnames (``customer_id``) or relation names holding
    another record (``customer=...``, whose key the writer takes once it is saved); a field
    left out reads as its default. Make the class with ``record(model)``.
    """

    model: type[models.Model]
    id: int | None = None

    def __init__(self, **values):
        self.__dict__.update(values)

    @property
    def pk(self) -> int | None:
        return self.id

    @pk.setter
    def pk(self, value: int) -> None:
        self.id = value


def record(model: type[models.Model]) -> type[Record]:
    """The record class of ``model``: its constant defaults and choices as class attributes."""
    attributes: dict = {"model": model}
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.has_default() and not callable(field.default):
            attributes[field.attname] = field.default
        elif field.null or field.is_relation:
            attributes[field.attname] = None
        if field.is_relation:
            attributes.setdefault(field.name, None)
    for name, value in vars(model).items():
        if isinstance(value, type) and issubclass(value, Choices):
            attributes[name] = value
    return type(f"{model.__name__}Record", (Record,), attributes)


class RowWriter:
    """Writes records of a model, giving each its primary key.

    Inside ``batch()`` on PostgreSQL the records get their keys at once but are written
    by a thread of the writer's own, on its own connection and in a transaction per batch,
    while the seeder makes the next batch: the COPY's work in PostgreSQL and the seeder's
    in Python run side by side (a third less time on two cores). That needs every row the
    batch points at committed first, so it is only for a seeder not inside a transaction
    (a big demo); otherwise, and on SQLite, a batch is written where it is saved.
    """

    def __init__(self):
        self.copy = connection.vendor == "postgresql"
        self.next_ids: dict[type[models.Model], int] = {}  # SQLite: the next free key
        self.plans: dict[type[models.Model], tuple] = {}
        self.pending: list[tuple] | None = None
        self.thread: threading.Thread | None = None
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self.error: BaseException | None = None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Save everything of one batch, written in the background when possible."""
        if not self.copy or connection.in_atomic_block:
            with transaction.atomic():
                self.bulk_load()
                yield
            return
        if self.thread is None:
            self.thread = threading.Thread(target=self.background, name="seed-copy", daemon=True)
            self.thread.start()
        self.pending = []
        try:
            yield
        finally:
            pending, self.pending = self.pending, None
        self.hand_over(pending)

    def hand_over(self, item) -> None:
        while True:
            if self.error is not None:
                raise RuntimeError("writing the demo's rows failed") from self.error
            try:
                self.queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def background(self) -> None:
        try:
            while (pending := self.queue.get()) is not None:
                if self.error is None:
                    with transaction.atomic():
                        self.bulk_load()
                        for args in pending:
                            self.copy_rows(*args)
        except BaseException as error:  # noqa: BLE001 - handed to the seeder's thread
            self.error = error
        finally:
            connection.close()  # this thread's own connection

    def close(self) -> None:
        """Wait until every batch is written (raising what went wrong, if anything)."""
        if self.thread is not None:
            if self.error is None:
                self.hand_over(None)
            self.thread.join()
            self.thread = None
        if self.error is not None:
            raise RuntimeError("writing the demo's rows failed") from self.error

    def save(self, model: type[models.Model], rows: Sequence[Record]) -> None:
        if not rows:
            return
        self.assign_ids(model, rows)
        attnames, relations, defaults, json_columns = self.plan(model)
        for attname, name in relations:
            # A related record saved in an earlier batch: take its key, as bulk_create does.
            for row in rows:
                values = row.__dict__
                if values.get(attname) is None:
                    related = values.get(name)
                    if related is not None:
                        values[attname] = related.pk
        if self.pending is not None:
            self.pending.append((model, rows, attnames, defaults, json_columns))
        elif self.copy:
            self.copy_rows(model, rows, attnames, defaults, json_columns)
        else:
            model.objects.bulk_create(
                [
                    model(**dict(zip(attnames, self.values(row, attnames, defaults), strict=True)))
                    for row in rows
                ],
                batch_size=BATCH_SIZE,
            )

    def plan(self, model: type[models.Model]) -> tuple:
        if model not in self.plans:
            fields = model._meta.concrete_fields
            attnames = [f.attname for f in fields]
            relations = [(f.attname, f.name) for f in fields if f.is_relation]
            # What a field left out of a record holds: its default, made fresh when callable.
            defaults: dict[str, Callable[[], object]] = {
                f.attname: f.get_default for f in fields if f.has_default() and callable(f.default)
            }
            json_columns = {i for i, f in enumerate(fields) if isinstance(f, models.JSONField)}
            self.plans[model] = (attnames, relations, defaults, json_columns)
        return self.plans[model]

    @staticmethod
    def values(row: Record, attnames: list[str], defaults: dict) -> list:
        values = row.__dict__
        return [
            values[name]
            if name in values
            else defaults[name]()
            if name in defaults
            else getattr(row, name)
            for name in attnames
        ]

    def analyze(self) -> None:
        """Refresh the planner's statistics of the tables written: right after a load of
        millions of rows they describe the empty tables, and the dashboard's plans with
        them. Outside a transaction, VACUUM too: it marks the new pages all-visible, which
        lets counts read indexes alone (what autovacuum would do some minutes later).
        """
        if not self.copy:
            return
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            for model in self.plans:
                cursor.execute(f'{command} "{model._meta.db_table}"')

    def bulk_load(self) -> None:
        """Load the rest of the transaction in bulk: no foreign key checks when allowed, no
        waiting for the commit's flush.

        The records point only at rows the seeder wrote (keys it was handed by the
        sequences), so PostgreSQL's check of every new row at commit (a query per row and
        key, a third of the load's time) proves nothing; ``pg_restore --disable-triggers``
        does the same. It takes a superuser, as in development and the benchmarks; anyone
        else keeps the checks. ``tests/test_seed_demo.py`` checks every key afterwards.
        """
        if not self.copy:
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            if cursor.fetchone()[0]:
                cursor.execute("SET LOCAL session_replication_role = replica")
            # A crash would lose the last chunks of a demo, never corrupt it: no need to
            # wait for each commit to reach the disk.
            cursor.execute("SET LOCAL synchronous_commit = off")

    def assign_ids(self, model: type[models.Model], rows: Sequence[Record]) -> None:
        count = len(rows)
        table = model._meta.db_table
        with connection.cursor() as cursor:
            if self.copy:
                # One statement reserves the whole block: the sequence moves past it, so
                # nobody else is handed these keys. (Only a nextval() between the two calls
                # could land inside; the primary key would then refuse the COPY, loudly.)
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, 'id'),"
                    " nextval(pg_get_serial_sequence(%s, 'id')) + %s - 1)",
                    [table, table, count],
                )
                last = cursor.fetchone()[0]
                ids = range(last - count + 1, last + 1)
            else:
                if model not in self.next_ids:
                    cursor.execute(f'SELECT MAX("id") FROM "{table}"')  # noqa: S608 - our table
                    self.next_ids[model] = (cursor.fetchone()[0] or 0) + 1
                first = self.next_ids[model]
                ids = range(first, first + count)
                self.next_ids[model] = first + count
        for row, pk in zip(rows, ids, strict=True):
            row.id = pk

    def copy_rows(self, model, rows, attnames, defaults, json_columns) -> None:
        columns = ", ".join(f'"{f.column}"' for f in model._meta.concrete_fields)
        sql = f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN'
        values = self.values
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            write_row = copy.write_row
            for row in rows:
                line = values(row, attnames, defaults)
                for index in json_columns:
                    line[index] = json.dumps(line[index])
                write_row(line)
