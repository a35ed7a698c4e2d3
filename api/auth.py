"""API keys: ``Authorization: Bearer adv_live_...``, and the scope a method needs."""

from rest_framework import authentication, exceptions, permissions

from accounts.models import ApiKey
from accounts.services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Sets ``request.auth`` to the ApiKey; its organization is the only one the request sees."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None  # NotAuthenticated (401) from the permission check
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise exceptions.AuthenticationFailed(
                "Send the key as 'Authorization: Bearer <key>'.", code="invalid_authorization"
            )
        api_key = api_key_authenticate(raw)
        if api_key is None:
            raise exceptions.AuthenticationFailed(
                "Unknown or revoked API key.", code="invalid_api_key"
            )
        return (None, api_key)

    def authenticate_header(self, request):
        return self.keyword


class HasScope(permissions.BasePermission):
    """Reading needs the ``read`` scope; every other method needs ``write``."""

    message = "This API key does not have the scope this request needs."
    code = "insufficient_scope"

    def has_permission(self, request, view):
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            raise exceptions.NotAuthenticated(
                "Send an API key as 'Authorization: Bearer <key>'.", code="missing_api_key"
            )
        needed = (
            ApiKey.Scope.READ if request.method in permissions.SAFE_METHODS else ApiKey.Scope.WRITE
        )
        return api_key.has_scope(needed)
