"""
One error shape for every 4xx of the API:

    {"error": {"type": "invalid_request_error", "code": "min_value", "param": "amount",
               "message": "Ensure this value is greater than or equal to 0.",
               "errors": [{"param": "amount", "code": "min_value", "message": "..."}]}}

``type`` says what kind of problem it is; ``code`` and ``param`` name the first problem;
``errors`` lists every field's problems (one entry per message, nested fields named with
dots and list positions: ``events[3].amount``). A 5xx is a bug and has no contract.
"""

import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.settings import api_settings

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    406: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "body_too_large"


class IdempotencyConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This Idempotency-Key was used with a different request."
    default_code = "idempotency_key_reused"
    error_type = "idempotency_error"


class MissingReference(exceptions.NotFound):
    """An id in the request body that is not one of the organization's objects."""

    def __init__(self, param: str, what: str, value):
        super().__init__(f"No such {what}: {value!r}.", code="resource_missing")
        self.param = param


def _flatten(detail, prefix: str = "") -> list[dict]:
    """Every message of a DRF error detail, with the dotted name of the field it is about."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            if key in (api_settings.NON_FIELD_ERRORS_KEY, "__all__"):
                name = prefix
            elif isinstance(key, int) or str(key).isdigit():
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_flatten(value, name))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [_one(item, prefix) for item in detail]
        out = []
        for index, item in enumerate(detail):
            if item:
                out.extend(_flatten(item, f"{prefix}[{index}]"))
        return out
    return [_one(detail, prefix)]


def _one(item, param: str) -> dict:
    return {
        "param": param or None,
        "code": getattr(item, "code", None) or "invalid",
        "message": str(item),
    }


def error_body(
    *, status_code: int, code: str, message: str, param: str | None = None, errors=None
) -> dict:
    body = {
        "type": TYPES.get(status_code, "api_error"),
        "code": code,
        "message": message,
        "param": param,
    }
    if errors is not None:
        body["errors"] = errors
    return {"error": body}


def validation_error_body(detail) -> dict:
    errors = _flatten(detail) or [{"param": None, "code": "invalid", "message": "Invalid input."}]
    first = errors[0]
    return error_body(
        status_code=400,
        code=first["code"],
        message=first["message"],
        param=first["param"],
        errors=errors,
    )


def exception_handler(exc, context):
    """DRF's exception handler for the API: every known error in the one shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=get_error_detail(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django answers 500 and logs it

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))

    if isinstance(exc, exceptions.ValidationError):
        body = validation_error_body(exc.detail)
    else:
        detail = exc.detail
        body = error_body(
            status_code=exc.status_code,
            code=getattr(detail, "code", None) or exc.default_code,
            message=str(detail),
            param=getattr(exc, "param", None),
        )
        if getattr(exc, "error_type", None):
            body["error"]["type"] = exc.error_type
    return Response(body, status=exc.status_code, headers=headers)
