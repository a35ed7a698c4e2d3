"""Cursor pagination: stable pages however many rows arrive while a client walks them."""

from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    page_size = 20
    page_size_query_param = "limit"
    max_page_size = 100
    ordering = "-id"
