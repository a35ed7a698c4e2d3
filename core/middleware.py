"""
Middleware shared by every surface.

``ControlCharacterMiddleware`` keeps control characters out of the views. PostgreSQL cannot
store a NUL in text: a NUL that reached a lookup or an INSERT (a token in the URL, a list
filter, an idempotency key, the User-Agent of a click) was a 500. Rather than guard every
view, a request carrying one is answered here with a 400 that says what was wrong.

``PermissionsPolicyMiddleware`` sets the Permissions-Policy header from settings.
"""

import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

# C0 control characters: never part of a URL, a cookie or a header a browser sends.
CONTROL = re.compile(r"[\x00-\x1f]")
# In form text a person may type tab and new lines (a textarea); the other C0 are refused.
CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Free-text headers views store (a click keeps both): cleaned rather than refused, since a
# broken client should still reach the landing page, and its click still count.
CLEANED_HEADERS = ("HTTP_USER_AGENT", "HTTP_REFERER")


def _bad_request(request: HttpRequest, where: str) -> HttpResponse:
    message = (
        f"Bad request: the {where} contains a control character (such as NUL), "
        "which is never valid here."
    )
    if request.path.startswith(tuple(getattr(settings, "JSON_ERROR_PATH_PREFIXES", ()))):
        # A partner system reads errors in the API's one shape (docs/api.md).
        body = {
            "error": {
                "type": "invalid_request_error",
                "code": "control_character",
                "message": message,
                "param": where,
            }
        }
        return JsonResponse(body, status=400)
    return HttpResponseBadRequest(message + "\n", content_type="text/plain; charset=utf-8")


def _form_problem(request: HttpRequest) -> str:
    """Where a control character sits in a posted form, or ""."""
    if request.method != "POST" or request.content_type not in FORM_TYPES:
        return ""  # JSON and other bodies are left to the view that parses them
    # A body that cannot be parsed raises MultiPartParserError, which Django answers with a
    # 400 of its own. Reading the form here is what CsrfViewMiddleware does next anyway.
    try:
        post = request.POST
        files = request.FILES
    except OSError:
        return ""  # the client went away (UnreadablePostError); CsrfViewMiddleware answers
    for key, values in post.lists():
        if CONTROL.search(key) or any(CONTROL_IN_TEXT.search(value) for value in values):
            return "form"
    for _field, uploads in files.lists():
        if any(CONTROL.search(upload.name or "") for upload in uploads):
            return "name of an uploaded file"
    return ""


def control_character_problem(request: HttpRequest) -> str:
    """Where a request carries a control character it must not, or "" when it is clean."""
    if CONTROL.search(request.path):
        return "path"
    if request.META.get("QUERY_STRING") and any(
        CONTROL.search(key) or any(CONTROL.search(value) for value in values)
        for key, values in request.GET.lists()
    ):
        return "query string"
    if request.META.get("HTTP_COOKIE") and any(
        CONTROL.search(name) or CONTROL.search(value) for name, value in request.COOKIES.items()
    ):
        return "Cookie header"
    return _form_problem(request)


class ControlCharacterMiddleware:
    """Answer 400 for a control character in the path, query, cookies or a form value, and
    strip them from the User-Agent and Referer before any view reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = control_character_problem(request)
        if problem:
            return _bad_request(request, problem)
        meta = request.META
        for header in CLEANED_HEADERS:
            value = meta.get(header)
            if value and CONTROL.search(value):
                meta[header] = CONTROL.sub("", value)
        return self.get_response(request)


class PermissionsPolicyMiddleware:
    """Set ``Permissions-Policy`` from ``settings.PERMISSIONS_POLICY`` (feature -> origins).

    An empty list of origins turns the feature off for every frame, this page included.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.header = ", ".join(
            f"{feature}=({' '.join(origins)})"
            for feature, origins in getattr(settings, "PERMISSIONS_POLICY", {}).items()
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.header:
            response.headers.setdefault("Permissions-Policy", self.header)
        return response
