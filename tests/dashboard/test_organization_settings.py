from decimal import Decimal

import pytest
from django.urls import reverse

URL = reverse("accounts:organization_settings")
VALID = {
    "name": "Acme Bank",
    "timezone": "Europe/Amsterdam",
    "gross_margin": "60",
    "discount_rate": "12.5",
    "horizon_years": "7",
}


def test_a_new_organization_counts_all_revenue_at_ten_percent_over_five_years(acme):
    assert acme.gross_margin == Decimal("1.0000")
    assert acme.discount_rate == Decimal("0.1000")
    assert acme.horizon_years == 5


def test_the_owner_sees_the_settings_as_percentages(login, alice):
    response = login(alice).get(URL)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["gross_margin"] == Decimal("100")
    assert form.initial["discount_rate"] == Decimal("10")


def test_the_owner_saves_percentages_as_fractions(login, alice, acme):
    response = login(alice).post(URL, VALID)
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.gross_margin == Decimal("0.6000")
    assert acme.discount_rate == Decimal("0.1250")
    assert acme.horizon_years == 7


@pytest.mark.parametrize(
    "field, value",
    [
        ("gross_margin", "101"),
        ("gross_margin", "-1"),
        ("discount_rate", "abc"),
        ("discount_rate", "100.5"),
        ("horizon_years", "0"),
        ("horizon_years", "31"),
        ("timezone", "Mars/Olympus"),
    ],
)
def test_a_value_out_of_range_is_a_form_error(login, alice, acme, field, value):
    response = login(alice).post(URL, {**VALID, field: value})
    assert response.status_code == 400
    assert field in response.context["form"].errors
    acme.refresh_from_db()
    assert acme.horizon_years == 5


def test_a_manager_cannot_change_them(login, bob, acme):
    response = login(bob).post(URL, VALID)
    assert response.status_code == 403
    acme.refresh_from_db()
    assert acme.gross_margin == Decimal("1.0000")
