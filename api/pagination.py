"""Cursor pagination: stable pages however many rows arrive while a client walks them."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class InvalidCursor(ValidationError):
    def __init__(self):
        message = "Invalid cursor: follow next or previous as they were given."
        super().__init__({"cursor": [message]}, code="invalid_cursor")


class Cursor(CursorPagination):
    page_size = 20
    page_size_query_param = "limit"
    max_page_size = 100
    ordering = "-id"

    def decode_cursor(self, request):
        """A cursor that does not decode is bad input (a 400 on ``cursor``), not DRF's 404."""
        try:
            return super().decode_cursor(request)
        except NotFound as error:
            raise InvalidCursor() from error

    def paginate_queryset(self, queryset, request, view=None):
        """DRF's, with a cursor whose position is not a value of the ordering field (the
        cursor is only base64 of ``p=<position>``: it can be edited) taken as an invalid
        cursor, a 400, rather than a 500 from the database or the field."""
        if request.query_params.get(self.cursor_query_param) is None:
            return super().paginate_queryset(queryset, request, view)
        try:
            return super().paginate_queryset(queryset, request, view)
        except InvalidCursor:
            raise
        except (ValueError, TypeError, DjangoValidationError, DataError) as error:
            raise InvalidCursor() from error
