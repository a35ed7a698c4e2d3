"""Analytics reads through a database alias of its own, so reporting can move to a replica."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connections
from django.test.utils import CaptureQueriesContext

from analytics import report, retention, value
from tests.analytics.book import MARCH, NOW, build


def test_the_alias_mirrors_the_default_database_in_tests():
    assert settings.DATABASES["analytics"]["TEST"]["MIRROR"] == "default"


@pytest.mark.django_db(transaction=True)
def test_every_analytics_read_goes_to_the_analytics_database(acme, program, source):
    build(acme, program, source)
    shared = connections["analytics"]
    replica = connections.create_connection("analytics")  # its own connection, as a replica's
    connections["analytics"] = replica
    try:
        with (
            CaptureQueriesContext(connections["default"]) as primary,
            CaptureQueriesContext(replica) as reads,
        ):
            figures = report.report(organization=acme, period=MARCH)
            report.source_rows(organization=acme, period=MARCH)
            retention.cohorts(organization=acme, now=NOW)
            value.values(organization=acme, now=NOW)
        assert figures.current.revenue.net_revenue == Decimal("1110.00")
        assert len(reads) > 10
        assert len(primary) == 0
    finally:
        replica.close()
        connections["analytics"] = shared
