"""
Idempotency keys on every POST: the same key with the same request gets the first answer
(status and body, byte for byte); the same key with another request is a 409.

Race-safe by the database rather than by a lock of our own: the record is inserted in the
transaction that does the work. A second request with the key blocks on the unique index
until the first commits, then finds its stored answer and replays it; if the first failed
(a bug, a 5xx) its transaction and record are gone, and the second does the work itself.
A 4xx answer is stored too, and the work behind it is rolled back: a bad request changes
nothing, and sending it again gives the same error.
"""

import hashlib
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
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0")
    digest.update(request.path.encode())
    digest.update(b"\0")
    digest.update(request.body)
    return digest.hexdigest()


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
    *, organization: Organization, key: str, fingerprint: str, call: Callable[[], Response]
) -> HttpResponse:
    """Answer with ``call()`` once per key; replay its answer after that.

    The work runs in one transaction with the record. A bulk of events holds the rows it
    locks until it commits, so two such transactions may deadlock; PostgreSQL then aborts
    one, whose work is rolled back whole, and it is simply run again.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _run_once(organization=organization, key=key, fingerprint=fingerprint, call=call)
        except OperationalError as error:
            if attempt == ATTEMPTS or not _is_deadlock(error):
                raise
    raise AssertionError("unreachable")


def _run_once(
    *, organization: Organization, key: str, fingerprint: str, call: Callable[[], Response]
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
                if record.fingerprint != fingerprint:
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
