"""
Idempotency keys on every POST: the same key with the same request gets the first answer
(status and body, byte for byte); the same key with another request is a 409. The same
request is the same method, path and JSON (parsed: its whitespace and the order of an
object's keys do not matter), or the same bytes for a body that is not JSON.

Race-safe by the database rather than by a lock of our own: the record is inserted in the
transaction that does the work. A second request with the key blocks on the unique index
until the first commits, then finds its stored answer and replays it; if the first failed
(a bug, a 5xx) its transaction and record are gone, and the second does the work itself.
A 4xx answer is stored too, and the work behind it is rolled back: a bad request changes
nothing, and sending it again gives the same error.
"""

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, OperationalError, transaction
from django.http import HttpResponse
from psycopg import errors
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts.models import Organization

from .errors import IdempotencyConflict
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def key_from(request) -> str:
    """The request's Idempotency-Key ("" without one); a malformed key is a 400."""
    key = request.headers.get(HEADER, "")
    if not key:
        return ""
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise exceptions.ValidationError(
            {HEADER: [f"Use up to {MAX_KEY_LENGTH} printable characters."]}
        )
    return key


def fingerprint(request) -> str:
    """What makes two requests with one key the same request: the method, the path and the
    body's JSON in a canonical form (the raw bytes of a body that is not JSON)."""
    return _digest(request, _canonical_body(request.body))


def raw_fingerprint(request) -> str:
    """The fingerprint over the raw body, as keys stored before canonical JSON have it."""
    return _digest(request, request.body)


def _digest(request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0")
    digest.update(request.path.encode())
    digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()


class _Number(str):
    """A JSON number as it was written: 10.5, 10.50 and "10.50" stay three values (one
    parsed as a float would lose digits, or be taken for the string)."""


def _canonical_body(body: bytes) -> bytes:
    """The JSON of the body with sorted keys and no whitespace; the body itself when it is
    not JSON (or too deeply nested to walk)."""
    if not body:
        return body
    try:
        value = json.loads(body, parse_int=_Number, parse_float=_Number, parse_constant=_Number)
        return b"json\0" + _canonical(value).encode()
    except (ValueError, RecursionError):
        return body


def _canonical(value) -> str:
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{json.dumps(k)}:{_canonical(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    if isinstance(value, _Number):
        return str.__str__(value)
    return json.dumps(value)  # a string (escaped to ASCII), true, false or null


class _Undo(Exception):
    def __init__(self, response: Response):
        self.response = response


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        record.response_body, status=record.status_code, content_type="application/json"
    )
    response["Idempotent-Replayed"] = "true"
    return response


ATTEMPTS = 3


def _is_deadlock(error: OperationalError) -> bool:
    cause = error.__cause__
    return isinstance(cause, errors.DeadlockDetected | errors.SerializationFailure)


def run(
    *,
    organization: Organization,
    key: str,
    fingerprint: str,
    call: Callable[[], Response],
    also: tuple[str, ...] = (),
) -> HttpResponse:
    """Answer with ``call()`` once per key; replay its answer after that.

    The work runs in one transaction with the record. A bulk of events holds the rows it
    locks until it commits, so two such transactions may deadlock; PostgreSQL then aborts
    one, whose work is rolled back whole, and it is simply run again. A record stored with
    one of the fingerprints ``also`` (an older form of the same request's) is the same
    request too.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _run_once(
                organization=organization,
                key=key,
                fingerprint=fingerprint,
                call=call,
                also=also,
            )
        except OperationalError as error:
            if attempt == ATTEMPTS or not _is_deadlock(error):
                raise
    raise AssertionError("unreachable")


def _run_once(
    *,
    organization: Organization,
    key: str,
    fingerprint: str,
    call: Callable[[], Response],
    also: tuple[str, ...] = (),
) -> HttpResponse:
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        organization=organization, key=key, fingerprint=fingerprint
                    )
            except IntegrityError:
                record = IdempotencyRecord.objects.get(organization=organization, key=key)
                if record.fingerprint != fingerprint and record.fingerprint not in also:
                    raise IdempotencyConflict() from None
                return _replay(record)
            try:
                with transaction.atomic():
                    response = call()
                    if response.status_code >= 400:
                        raise _Undo(response)
            except _Undo as undo:
                response = undo.response
                if response.status_code >= 500:
                    raise  # keep nothing, not even the record: the key stays free
            body = JSONRenderer().render(response.data) if response.data is not None else b""
            record.status_code = response.status_code
            record.response_body = body.decode()
            record.save(update_fields=["status_code", "response_body"])
    except _Undo as undo:
        return undo.response
    first = HttpResponse(body, status=response.status_code, content_type="application/json")
    for name, value in response.items():
        if name.lower() not in ("content-type", "content-length"):
            first[name] = value
    return first
