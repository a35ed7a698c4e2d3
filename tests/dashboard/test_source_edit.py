"""Creating and editing sources of every kind."""

import pytest

from accounts.models import ReferralSource
from referrals.models import ReferralLink
from tests.factories import CustomerFactory, ProgramFactory


@pytest.mark.parametrize("kind", ["customer", "agent", "intermediary", "partner", "employee"])
def test_it_creates_a_source_of_every_kind(login, bob, acme, kind):
    response = login(bob).post(
        "/app/sources/new/", {"kind": kind, "name": f"A {kind}", "email": "", "active": "on"}
    )
    source = ReferralSource.objects.get(organization=acme, kind=kind)
    assert response.status_code == 302 and response["Location"] == f"/app/sources/{source.pk}/"


def test_it_edits_a_source(login, bob, source):
    response = login(bob).post(
        f"/app/sources/{source.pk}/edit/",
        {"kind": "agent", "name": "Sam Agent", "email": "sam@agents.example", "company": "Firm"},
    )
    assert response.status_code == 302
    source.refresh_from_db()
    assert (source.kind, source.name, source.company) == ("agent", "Sam Agent", "Firm")


def test_bad_input_is_a_form_error(login, bob, source):
    response = login(bob).post(
        f"/app/sources/{source.pk}/edit/", {"kind": "wizard", "name": "", "email": "nope"}
    )
    assert response.status_code == 400
    source.refresh_from_db()
    assert source.name == "Sam Source"


def test_it_does_not_link_another_tenants_customer(login, bob, source, globex):
    theirs = CustomerFactory(organization=globex, external_id="g-1")
    response = login(bob).post(
        f"/app/sources/{source.pk}/edit/",
        {"kind": "customer", "name": "Sam", "customer": theirs.pk},
    )
    assert response.status_code == 400
    source.refresh_from_db()
    assert source.customer is None


def test_analyst_cannot_edit(login, charlie, source):
    client = login(charlie)
    assert client.get(f"/app/sources/{source.pk}/edit/").status_code == 403
    assert client.post(f"/app/sources/{source.pk}/edit/", {"name": "X"}).status_code == 403


def test_a_new_source_gets_its_link_in_every_active_program_that_accepts_its_kind(
    login, bob, acme, program, globex
):
    agents_only = ProgramFactory(organization=acme, name="Agents", allowed_source_kinds=["agent"])
    ProgramFactory(organization=acme, name="Paused", status="paused")
    ProgramFactory(organization=globex, name="Another tenant's")
    response = login(bob).post(
        "/app/sources/new/",
        {"kind": "customer", "name": "Cora", "email": "", "active": "on"},
        follow=True,
    )
    cora = ReferralSource.objects.get(organization=acme, name="Cora")
    assert [link.program for link in ReferralLink.objects.filter(source=cora)] == [program]
    assert "Their link into 1 active program is ready." in response.content.decode()
    assert not ReferralLink.objects.filter(program=agents_only).exists()


def test_an_inactive_new_source_gets_no_link(login, bob, acme, program):
    login(bob).post("/app/sources/new/", {"kind": "customer", "name": "Dora", "email": ""})
    dora = ReferralSource.objects.get(organization=acme, name="Dora")
    assert not dora.active and not ReferralLink.objects.filter(source=dora).exists()
