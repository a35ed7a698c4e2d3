"""The OpenAPI contract: the API key scheme and the error answers every operation may give."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ERROR_STATUSES = {
    "400": "Bad input: the error names the parameter (and lists every field's problems).",
    "401": "No API key, or an unknown or revoked one.",
    "403": "The API key does not have the scope this needs (read for GET, write otherwise).",
    "404": "No such object in this organization.",
    "413": "The body is larger than 1 MB.",
    "429": "Too many requests for this key; Retry-After says when to try again.",
}
POST_ONLY = {
    "409": "The Idempotency-Key was used with a different request.",
    "415": "The body is not JSON.",
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "code", "message", "param"],
            "properties": {
                "type": {
                    "type": "string",
                    "enum": [
                        "invalid_request_error",
                        "authentication_error",
                        "permission_error",
                        "rate_limit_error",
                        "idempotency_error",
                    ],
                },
                "code": {"type": "string"},
                "message": {"type": "string"},
                "param": {"type": "string", "nullable": True},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "param": {"type": "string", "nullable": True},
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An API key from Settings > API keys: `Authorization: Bearer adv_live_...`"
            ),
        }


def add_errors(result, generator, request, public):
    """Postprocessing hook: the one error shape, documented on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            statuses = dict(ERROR_STATUSES)
            if method == "post":
                statuses.update(POST_ONLY)
                operation.setdefault("parameters", []).append(
                    {
                        "in": "header",
                        "name": "Idempotency-Key",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 255},
                        "description": "The same key with the same body returns the first "
                        "answer; with another body, a 409.",
                    }
                )
            for status, description in statuses.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
            if "429" in responses:
                responses["429"]["headers"] = {
                    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}
                }
    return result
