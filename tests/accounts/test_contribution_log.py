"""The insider role: staff log what a source contributed, dated and optionally valued."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.models import InsiderContribution
from accounts.services import contribution_log, organization_today
from tests.factories import ReferralSourceFactory


def test_it_logs_a_contribution(source, bob):
    contribution = contribution_log(
        source=source,
        occurred_on=datetime.date(2026, 2, 3),
        note="  Introduced us to the works council  ",
        value=Decimal("120.50"),
        created_by=bob,
    )
    contribution.refresh_from_db()
    assert contribution.organization == source.organization
    assert contribution.note == "Introduced us to the works council"
    assert (contribution.value, contribution.currency) == (Decimal("120.50"), "EUR")
    assert contribution.created_by == bob


def test_it_logs_a_contribution_without_value(source, bob):
    contribution = contribution_log(
        source=source, occurred_on=datetime.date(2026, 2, 3), note="Tip", created_by=bob
    )
    assert contribution.value is None


def test_it_uses_the_organizations_currency(globex, eve):

    partner = ReferralSourceFactory(organization=globex, name="P", kind="partner")
    contribution = contribution_log(
        source=partner, occurred_on=datetime.date(2026, 1, 1), note="x", value=1, created_by=eve
    )
    assert contribution.currency == "USD"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"note": "   "}, "note"),
        ({"value": Decimal("-1")}, "value"),
        ({"occurred_on": None}, "occurred_on"),
    ],
)
def test_it_refuses_bad_contributions(source, bob, changes, field):
    arguments = {
        "source": source,
        "occurred_on": datetime.date(2026, 1, 1),
        "note": "Tip",
        "value": None,
        "created_by": bob,
    }
    with pytest.raises(ValidationError) as error:
        contribution_log(**{**arguments, **changes})
    assert field in error.value.message_dict
    assert not InsiderContribution.objects.exists()


def test_it_refuses_a_day_in_the_future(source, bob):
    tomorrow = organization_today(source.organization) + datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as caught:
        contribution_log(source=source, occurred_on=tomorrow, note="Tip", created_by=bob)
    assert sorted(caught.value.message_dict) == ["occurred_on"]
    today = organization_today(source.organization)
    contribution_log(source=source, occurred_on=today, note="Tip", created_by=bob)
    assert InsiderContribution.objects.count() == 1
