"""``event_ids_recorded``: which event ids an organization has recorded, its own only."""

from decimal import Decimal

import pytest
from django.db import connection

from referrals.selectors import event_ids_recorded
from referrals.services import event_record, referral_create


@pytest.mark.parametrize("vendor", ["postgresql", "other"])
def test_an_id_is_recorded_by_a_purchase_or_a_conversion_of_the_same_organization(
    acme, globex, program, source, vendor, monkeypatch
):
    """Both ways: PostgreSQL's index probes, and the portable query (bin/dev's SQLite)."""
    referral_create(program=program, source=source, channel="phone", friend_email="f@x.test")
    # A walk-in's purchase (a purchase, no conversion) and a friend's signup (a conversion,
    # no purchase), then the same kind of event id in another organization.
    event_record(
        organization=acme, kind="purchase", external_id="o-1", amount=Decimal("5"),
        email="walk-in@x.test",
    )  # fmt: skip
    signup, created = event_record(
        organization=acme, kind="signup", external_id="s-1", email="f@x.test"
    )
    assert created and signup is not None and signup.purchase_id is None
    event_record(
        organization=globex, kind="purchase", external_id="g-1", amount=Decimal("5"),
        email="walk-in@x.test",
    )  # fmt: skip

    monkeypatch.setattr(connection, "vendor", vendor)
    ids = ["o-1", "s-1", "g-1", "nobody", "o-1"]
    assert event_ids_recorded(organization=acme, ids=ids) == {"o-1", "s-1"}
    assert event_ids_recorded(organization=globex, ids=ids) == {"g-1"}
    assert event_ids_recorded(organization=acme, ids=[]) == set()
