"""The OpenAPI contract at /api/schema/ and its interactive docs at /api/docs/, served from
drf-spectacular's sidecar static files (no CDN)."""

import re

from django.test import Client


def test_the_schema_is_openapi_3_and_documents_every_operation(db):
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    operations = [
        (path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()
    ]
    assert len(operations) == 32
    for path, method, op in operations:
        assert {"400", "401", "403", "429"} <= set(op["responses"]), (path, method)
        if method == "post":
            assert "409" in op["responses"]
            assert any(p["name"] == "Idempotency-Key" for p in op["parameters"])


def test_the_docs_page_loads_swagger_from_our_own_static_files(db):
    html = Client().get("/api/docs/").content.decode()
    scripts = re.findall(r'src="([^"]+)"', html) + re.findall(r'href="([^"]+)"', html)
    assert any("swagger-ui-dist" in s for s in scripts)
    assert all(s.startswith("/static/") or s.startswith("/api/") for s in scripts), scripts
    assert "cdn" not in html.lower()
