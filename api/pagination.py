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

    def get_page_size(self, request):
        """``limit``: a whole number from 1 (more than ``max_page_size`` gives that many); any
        other value is a 400 on ``limit``, where DRF fell back to the default silently."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw.strip())
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationError(
                {"limit": [f"Give a whole number from 1 to {self.max_page_size}."]},
                code="invalid",
            )
        return min(size, self.max_page_size)

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
