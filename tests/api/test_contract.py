"""schemathesis over the OpenAPI schema, on the real PostgreSQL with a valid key: for every
operation, generated requests (valid and invalid) never get a 5xx, and every answer conforms
to the schema (status code, content type, body).

Bounded so the suite stays quick: 20 examples per operation, drawn from both valid and
invalid requests (schemathesis's positive and negative modes), no shrinking, no example
database. Acme has one of everything, so ids 1..n exist and generated requests reach both
the success paths and the 404s.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import key_for
from tests.api.test_access import world  # noqa: F401 - one of everything, as a fixture

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(db, settings, world):  # noqa: F811
    from django.core import signals
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    settings.API_RATE_LIMIT = "100000/minute"
    # As Django's test client does: the WSGI app must not close the test's connection (and
    # with it the transaction every example runs in) at the end of each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def auth(acme):
    return {"Authorization": f"Bearer {key_for(acme, name='schemathesis')}"}


def _operations() -> list[tuple[str, str]]:
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [(method.upper(), path) for path, ops in paths.items() for method in ops]


# schemathesis's own pytest plugin does not run under pytest 9 (it reads a private node id),
# so each operation is a test of its own that drives hypothesis with the operation's strategy.
@pytest.mark.parametrize("method,path", _operations())
def test_every_operation_conforms_and_never_fails(api_schema, auth, method, path):
    operation = api_schema[path][method]
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @given(case=strategy)
    @settings(
        max_examples=20,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        response = case.call(headers=auth)
        case.validate_response(response, checks=CHECKS)

    check()
