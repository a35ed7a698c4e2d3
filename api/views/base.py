"""What every API view shares: the key, its scope, its rate, JSON only, the error shape,
bounded bodies and idempotency keys on POST. Views stay thin: an input serializer checks,
a domain service acts, an output serializer answers."""

from datetime import UTC

from django.conf import settings
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework import generics, mixins
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts.models import Organization

from .. import idempotency
from ..auth import ApiKeyAuthentication, HasScope
from ..errors import PayloadTooLarge
from ..pagination import Cursor
from ..parsers import JsonParser
from ..throttling import ApiKeyThrottle


class ApiView(generics.GenericAPIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [ApiKeyThrottle]
    parser_classes = [JsonParser]
    renderer_classes = [JSONRenderer]
    pagination_class = Cursor
    filter_backends: list = []

    @property
    def organization(self) -> Organization:
        return self.request.auth.organization

    def initial(self, request, *args, **kwargs):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > getattr(settings, "API_MAX_BODY_BYTES", 1_000_000):
            raise PayloadTooLarge()
        # Times go out in UTC, whatever zone an earlier request left active in this thread
        # (the dashboard activates the organization's own).
        timezone.activate(UTC)
        super().initial(request, *args, **kwargs)

    def dispatch(self, request, *args, **kwargs):
        """DRF's dispatch, with the handler run under the request's idempotency key."""
        self.args = args
        self.kwargs = kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            method = request.method.lower()
            handler = (
                getattr(self, method, self.http_method_not_allowed)
                if method in self.http_method_names
                else self.http_method_not_allowed
            )
            key = idempotency.key_from(request) if request.method == "POST" else ""
            if key:
                response = idempotency.run(
                    organization=self.organization,
                    key=key,
                    fingerprint=idempotency.fingerprint(request),
                    call=lambda: self._answer(handler, request, *args, **kwargs),
                    # Keys stored within a day before fingerprints took the parsed JSON.
                    also=(idempotency.raw_fingerprint(request),),
                )
            else:
                response = handler(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - DRF's own pattern: known errors become 4xx
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def _answer(self, handler, request, *args, **kwargs):
        try:
            return handler(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a 4xx is stored; anything else re-raises
            return self.handle_exception(exc)

    def get_exception_handler(self):
        from ..errors import exception_handler

        return exception_handler

    # Helpers for thin views -------------------------------------------------------------

    def validated(self, serializer_class, data=None, **kwargs) -> dict:
        data = self.request.data if data is None else data
        if not isinstance(data, dict):
            raise ValidationError({"non_field_errors": ["Send a JSON object."]})
        serializer = serializer_class(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def answer(self, serializer_class, instance, status: int = 200) -> Response:
        return Response(serializer_class(instance, context={"request": self.request}).data, status)


class ListView(mixins.ListModelMixin, ApiView):
    """A cursor-paginated, filtered, ordered list from a selector (``get_queryset``)."""

    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Any other URL under /api/: a 404 in the API's error shape, not the site's HTML page."""
    from django.http import JsonResponse

    from ..errors import error_body

    body = error_body(
        status_code=404, code="not_found", message="No such endpoint or object.", param=None
    )
    return JsonResponse(body, status=404)
