"""
Reading, checking and applying CSV files of customers and of referral sources.

One pass over the file builds a preview: every row with its parsed values, what it would
do (create, update or nothing) and what is wrong with it. The same pass runs again when
staff confirm, inside the transaction that writes, so a file is imported whole or not at
all and always against the data as it is at that moment.

Services and selectors call ``decode``, ``preview`` and ``apply``; views use only the
limits and ``escape_cell``.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection
from django.db.models.functions import Lower

from .models import CsvImport, Customer, Organization, ReferralSource, SourceKind

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
LOOKUP_CHUNK = 2_000

CUSTOMER_COLUMNS = ["external_id", "email", "name", "phone"]
CUSTOMER_REQUIRED = ["external_id", "email", "name"]
SOURCE_COLUMNS = ["kind", "name", "email", "company", "customer_external_id", "active"]
SOURCE_REQUIRED = ["kind", "name", "email"]

COLUMNS = {CsvImport.Kind.CUSTOMERS: CUSTOMER_COLUMNS, CsvImport.Kind.SOURCES: SOURCE_COLUMNS}
REQUIRED = {CsvImport.Kind.CUSTOMERS: CUSTOMER_REQUIRED, CsvImport.Kind.SOURCES: SOURCE_REQUIRED}

TRUE_WORDS = {"yes", "y", "true", "1", "active"}
FALSE_WORDS = {"no", "n", "false", "0", "inactive"}

# Spreadsheets run a cell that starts with one of these as a formula. Exports put a quote
# in front (see ``escape_cell``); imports take it off again, so a file round-trips.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    """Make a text cell safe to open in a spreadsheet (no formula injection)."""
    if value and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


@dataclass
class ImportRow:
    number: int  # as a spreadsheet shows it: the header is row 1
    values: dict[str, str]
    errors: list[str] = field(default_factory=list)
    action: str = ""  # create | update | unchanged
    wanted: dict[str, object] = field(default_factory=dict)  # the fields the row sets
    changes: list[str] = field(default_factory=list)
    instance: object | None = None  # the existing row an update applies to

    @property
    def change_labels(self) -> list[str]:
        return [name.removesuffix("_id") for name in self.changes]


@dataclass
class ImportPreview:
    kind: str
    columns: list[str]
    ignored_columns: list[str]
    rows: list[ImportRow]

    @property
    def error_rows(self) -> list[ImportRow]:
        return [row for row in self.rows if row.errors]

    @property
    def is_valid(self) -> bool:
        return bool(self.rows) and not self.error_rows

    def count(self, action: str) -> int:
        return sum(1 for row in self.rows if row.action == action and not row.errors)


def decode(data: bytes) -> str:
    """The file's text: UTF-8, with or without a byte order mark; anything else is refused."""
    if len(data) > MAX_BYTES:
        raise ValidationError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(
            "The file is not UTF-8 text. In your spreadsheet, save it as "
            "“CSV UTF-8 (comma delimited)” and upload it again."
        ) from None
    if "\x00" in text:
        # PostgreSQL cannot store it, and a CSV file never has it: likely a spreadsheet.
        raise ValidationError(
            "The file is not CSV text (it holds binary data): export it from your "
            "spreadsheet as “CSV UTF-8”."
        )
    if not text.strip():
        raise ValidationError("The file is empty.")
    return text


def _delimiter(text: str) -> str:
    """Comma, or the semicolon or tab that spreadsheets in many locales write instead."""
    first_line = text.split("\n", 1)[0]
    return max([",", ";", "\t"], key=first_line.count)


def read(kind: str, text: str) -> tuple[list[str], list[str], list[ImportRow]]:
    """The import's columns, the file's other (ignored) ones, and one row per non-blank line.

    A file the import cannot read at all (no header, too many rows, broken quoting)
    raises ValidationError; problems of a single row are left for the checks.
    """
    columns, required = COLUMNS[kind], REQUIRED[kind]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    rows: list[ImportRow] = []
    try:
        # "External ID" and "external_id" name the same column.
        header = [name.strip().lower().replace(" ", "_") for name in next(reader, [])]
        missing = [name for name in required if name not in header]
        if missing:
            raise ValidationError(
                "The first row must name the columns: "
                f"{','.join(columns)} (missing: {', '.join(missing)})."
            )
        duplicated = sorted({name for name in header if name and header.count(name) > 1})
        if duplicated:
            raise ValidationError(f"Columns named twice: {', '.join(duplicated)}.")
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise ValidationError(
                    f"The file has more than {MAX_ROWS:,} rows; split it into smaller files."
                )
            values = {name: "" for name in columns}
            for name, cell in zip(header, cells, strict=False):
                if name in values:
                    values[name] = unescape_cell(cell.strip())
            row = ImportRow(number=number, values=values)
            if len(cells) > len(header):
                row.errors.append(
                    f"This row has {len(cells)} cells but the header names {len(header)}."
                )
            rows.append(row)
    except csv.Error as error:
        raise ValidationError(f"The file is not valid CSV: {error}.") from None
    ignored = [name for name in header if name and name not in columns]
    return columns, ignored, rows


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), LOOKUP_CHUNK):
        yield items[start : start + LOOKUP_CHUNK]


def _check_length(row: ImportRow, model, name: str) -> None:
    limit = model._meta.get_field(name).max_length
    if len(row.values[name]) > limit:
        row.errors.append(f"{name} is longer than {limit} characters.")


def _check_email(row: ImportRow) -> str:
    email = row.values["email"].lower()
    row.values["email"] = email
    if email:
        try:
            validate_email(email)
        except ValidationError:
            row.errors.append(f"{email!r} is not a valid email address.")
    return email


def _check_duplicate(row: ImportRow, column: str, key: str, seen: dict[str, int]) -> None:
    if not key:
        return
    if key in seen:
        row.errors.append(f"{column} {key!r} is also on row {seen[key]}.")
    else:
        seen[key] = row.number


def _decide(row: ImportRow, instance, wanted: dict[str, object]) -> None:
    """Create, or update only the fields whose new value differs (empty cells keep values)."""
    row.wanted = wanted
    if instance is None:
        row.action = "create"
        return
    row.instance = instance
    row.changes = [name for name, value in wanted.items() if getattr(instance, name) != value]
    row.action = "update" if row.changes else "unchanged"


def _update(model, rows: list[ImportRow]) -> int:
    """Write each update's changed fields: one statement per set of changed columns.

    ``executemany`` sends the rows together (psycopg pipelines them). Django's
    ``bulk_update`` builds a CASE per field in Python and took over a minute for 25,000
    rows, one ``update()`` per row half a minute: past a web worker's timeout.
    Only plain values are written (text, booleans, ids), so no field conversion is needed.
    """
    by_columns: dict[tuple[str, ...], list[list]] = {}
    for row in rows:
        if row.action == "update":
            names = tuple(sorted(row.changes))
            params = [row.wanted[name] for name in names] + [row.instance.pk]
            by_columns.setdefault(names, []).append(params)
    quote = connection.ops.quote_name
    meta = model._meta
    with connection.cursor() as cursor:
        for names, params in by_columns.items():
            assignments = ", ".join(f"{quote(meta.get_field(n).column)} = %s" for n in names)
            # Table and column names come from the model, never from the file.
            sql = (
                f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608
                f"WHERE {quote(meta.pk.column)} = %s"
            )
            cursor.executemany(sql, params)
    return sum(len(params) for params in by_columns.values())


# Customers ------------------------------------------------------------------------------


def _customers_by_external_id(
    organization: Organization, external_ids: Iterable[str], *, lock: bool
) -> dict[str, Customer]:
    found: dict[str, Customer] = {}
    for chunk in _chunks(sorted(set(external_ids))):
        qs = Customer.objects.for_organization(organization).filter(external_id__in=chunk)
        if lock:
            qs = qs.select_for_update()
        found.update({customer.external_id: customer for customer in qs})
    return found


def _customers_known_by_email_only(
    organization: Organization, emails: Iterable[str], *, lock: bool
) -> dict[str, Customer]:
    """The customers without an id yet (one per email), by their lower-cased email."""
    found: dict[str, Customer] = {}
    for chunk in _chunks(sorted(set(emails))):
        qs = (
            Customer.objects.for_organization(organization)
            .annotate(_email=Lower("email"))
            .filter(external_id="", _email__in=chunk)
            .order_by("first_seen_at", "pk")
        )
        if lock:
            qs = qs.select_for_update()
        for customer in qs:
            found.setdefault(customer.email.lower(), customer)
    return found


def check_customers(organization: Organization, rows: list[ImportRow], *, lock: bool) -> None:
    """Each row updates the customer with its id; else the customer known so far only by its
    email, who takes the id (as ``selectors.customer_find`` finds them); else it creates one.
    A customer with another id is someone else, even with the same email."""
    existing = _customers_by_external_id(
        organization,
        [row.values["external_id"] for row in rows if row.values["external_id"]],
        lock=lock,
    )
    by_email = _customers_known_by_email_only(
        organization,
        [
            row.values["email"].lower()
            for row in rows
            if row.values["email"] and row.values["external_id"] not in existing
        ],
        lock=lock,
    )
    adopted: set[int] = set()  # each email-only customer takes the id of one row only
    seen: dict[str, int] = {}
    for row in rows:
        external_id = row.values["external_id"]
        if not external_id:
            row.errors.append("external_id is missing.")
        _check_length(row, Customer, "external_id")
        _check_duplicate(row, "external_id", external_id, seen)
        email = _check_email(row)
        _check_length(row, Customer, "email")
        _check_length(row, Customer, "name")
        _check_length(row, Customer, "phone")
        wanted = {
            name: value
            for name, value in (
                ("email", email),
                ("name", row.values["name"]),
                ("phone", row.values["phone"]),
            )
            if value
        }
        instance = existing.get(external_id)
        if instance is None and email and external_id:
            instance = by_email.get(email)
            if instance is not None and instance.pk not in adopted:
                adopted.add(instance.pk)
                wanted = {"external_id": external_id, **wanted}
            else:
                instance = None
        _decide(row, instance, wanted)


def apply_customers(organization: Organization, rows: list[ImportRow]) -> tuple[int, int]:
    new = [
        Customer(
            organization=organization,
            external_id=row.values["external_id"],
            email=row.values["email"],
            name=row.values["name"],
            phone=row.values["phone"],
        )
        for row in rows
        if row.action == "create"
    ]
    Customer.objects.bulk_create(new, batch_size=1000)
    return len(new), _update(Customer, rows)


# Sources --------------------------------------------------------------------------------


def _sources_by_email(
    organization: Organization, emails: Iterable[str], *, lock: bool
) -> dict[str, list[ReferralSource]]:
    found: dict[str, list[ReferralSource]] = {}
    for chunk in _chunks(sorted(set(emails))):
        qs = (
            ReferralSource.objects.for_organization(organization)
            .annotate(email_lower=Lower("email"))
            .filter(email_lower__in=chunk)
            .order_by("pk")
        )
        if lock:
            qs = qs.select_for_update()
        for source in qs:
            found.setdefault(source.email_lower, []).append(source)
    return found


def _parse_active(row: ImportRow) -> bool | None:
    word = row.values["active"].lower()
    if not word:
        return None
    if word in TRUE_WORDS:
        row.values["active"] = "yes"
        return True
    if word in FALSE_WORDS:
        row.values["active"] = "no"
        return False
    row.errors.append(f"active must be yes or no, not {row.values['active']!r}.")
    return None


def check_sources(organization: Organization, rows: list[ImportRow], *, lock: bool) -> None:
    emails = [row.values["email"].lower() for row in rows if row.values["email"]]
    existing = _sources_by_email(organization, emails, lock=lock)
    customers = _customers_by_external_id(
        organization,
        [row.values["customer_external_id"] for row in rows if row.values["customer_external_id"]],
        lock=False,
    )
    kinds = ", ".join(SourceKind.values)
    seen: dict[str, int] = {}
    for row in rows:
        kind = row.values["kind"].lower()
        row.values["kind"] = kind
        if not kind:
            row.errors.append("kind is missing.")
        elif kind not in SourceKind.values:
            row.errors.append(f"Unknown kind {kind!r}: use one of {kinds}.")
        if not row.values["name"]:
            row.errors.append("name is missing.")
        _check_length(row, ReferralSource, "name")
        email = _check_email(row)
        _check_length(row, ReferralSource, "email")
        _check_duplicate(row, "email", email, seen)
        _check_length(row, ReferralSource, "company")
        customer = None
        customer_external_id = row.values["customer_external_id"]
        if customer_external_id:
            customer = customers.get(customer_external_id)
            if customer is None:
                row.errors.append(f"No customer with external_id {customer_external_id!r}.")
        active = _parse_active(row)
        matches = existing.get(email, []) if email else []
        if len(matches) > 1:
            row.errors.append(
                f"{len(matches)} sources already use {email}; give them distinct emails first."
            )
        wanted: dict[str, object] = {"kind": kind, "name": row.values["name"]}
        if row.values["company"]:
            wanted["company"] = row.values["company"]
        if customer is not None:
            wanted["customer_id"] = customer.pk
        if active is not None:
            wanted["active"] = active
        _decide(row, matches[0] if matches else None, wanted)


def apply_sources(organization: Organization, rows: list[ImportRow]) -> tuple[int, int]:
    new = [
        ReferralSource(organization=organization, email=row.values["email"], **row.wanted)
        for row in rows
        if row.action == "create"
    ]
    ReferralSource.objects.bulk_create(new, batch_size=1000)
    updated = _update(ReferralSource, rows)
    _new_portal_links(
        [
            row.instance.pk
            for row in rows
            if row.action == "update" and "active" in row.changes and row.wanted["active"]
        ]
    )
    return len(new), updated


def _new_portal_links(source_ids: list[int]) -> None:
    """Sources the file reactivates get a new portal link, as ``source_reactivate`` gives
    them: the link a stopped source had may have leaked."""
    if not source_ids:
        return
    token = ReferralSource._meta.get_field("portal_token").default
    quote = connection.ops.quote_name
    meta = ReferralSource._meta
    token_column = quote(meta.get_field("portal_token").column)
    expires_column = quote(meta.get_field("portal_token_expires_at").column)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {quote(meta.db_table)} SET {token_column} = %s, "  # noqa: S608
            f"{expires_column} = NULL WHERE {quote(meta.pk.column)} = %s",
            [[token(), pk] for pk in source_ids],
        )


CHECKS = {CsvImport.Kind.CUSTOMERS: check_customers, CsvImport.Kind.SOURCES: check_sources}
APPLY = {CsvImport.Kind.CUSTOMERS: apply_customers, CsvImport.Kind.SOURCES: apply_sources}


def preview(
    *, organization: Organization, kind: str, text: str, lock: bool = False
) -> ImportPreview:
    """Every row of the file with its parsed values, its action and its errors.

    ``lock`` locks the rows an update would change (used when confirming, inside the
    transaction that writes).
    """
    columns, ignored, rows = read(kind, text)
    CHECKS[kind](organization, rows, lock=lock)
    return ImportPreview(kind=kind, columns=columns, ignored_columns=ignored, rows=rows)


def apply(*, organization: Organization, result: ImportPreview) -> tuple[int, int]:
    """Write a valid preview; returns (created, updated). Call inside a transaction."""
    if not result.is_valid:
        raise ValidationError("The file has errors; nothing was imported.")
    return APPLY[result.kind](organization, result.rows)
