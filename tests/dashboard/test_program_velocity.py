"""A program's velocity limit: 0 held every referral for review while an owner may read it
as "no limit", so it is refused with a message that says how to get either."""

import pytest
from django.core.exceptions import ValidationError

from referrals.models import Program
from referrals.services import program_create, program_update


def _edit(client, program, velocity):
    return client.post(
        f"/app/programs/{program.pk}/edit/",
        {
            "name": program.name,
            "status": program.status,
            "landing_mode": "landing",
            "attribution_window_days": 30,
            "attribution_model": program.attribution_model,
            "allowed_source_kinds": ["customer"],
            "velocity_limit_per_hour": velocity,
        },
    )


def test_a_velocity_limit_of_zero_is_a_form_error_and_changes_nothing(login, alice, program):
    before = program.velocity_limit_per_hour

    response = _edit(login(alice), program, 0)

    assert response.status_code in (200, 400)
    errors = response.context["form"].errors["velocity_limit_per_hour"]
    assert "At least 1" in errors[0] and "no practical limit" in errors[0]
    program.refresh_from_db()
    assert program.velocity_limit_per_hour == before


def test_the_form_asks_for_at_least_one(login, alice, program):
    html = login(alice).get(f"/app/programs/{program.pk}/edit/").content.decode()
    assert 'name="velocity_limit_per_hour" value="20" min="1"' in html


def test_a_velocity_limit_of_one_is_kept(login, alice, program):
    response = _edit(login(alice), program, 1)

    assert response.status_code == 302, response.context["form"].errors
    program.refresh_from_db()
    assert program.velocity_limit_per_hour == 1


def test_the_services_refuse_zero(acme, program):
    with pytest.raises(ValidationError) as caught:
        program_update(program=program, velocity_limit_per_hour=0)
    assert "velocity_limit_per_hour" in caught.value.message_dict
    with pytest.raises(ValidationError):
        program_create(organization=acme, name="Zero", velocity_limit_per_hour=0)
    assert not Program.objects.filter(name="Zero").exists()
