"""The list of sources: search by name, email or firm; filter by kind and state."""

import pytest

from tests.factories import ReferralSourceFactory


@pytest.fixture
def sources(acme, globex):
    ReferralSourceFactory(
        organization=acme, kind="agent", name="Alex", email="alex@homes.example", company="Homes"
    )
    ReferralSourceFactory(
        organization=acme, kind="intermediary", name="Ines", company="Brokers BV", active=False
    )
    ReferralSourceFactory(organization=acme, kind="partner", name="Pat")
    ReferralSourceFactory(organization=globex, kind="agent", name="Alex of Globex")


def names(response) -> set[str]:
    assert response.status_code == 200
    page = response.context["page"]
    return {s.name for s in page}


def test_it_searches_by_name_email_and_firm(login, charlie, sources):
    client = login(charlie)
    assert names(client.get("/app/sources/?q=alex")) == {"Alex"}
    assert names(client.get("/app/sources/?q=homes.example")) == {"Alex"}
    assert names(client.get("/app/sources/?q=brokers")) == {"Ines"}


def test_it_filters_by_kind_and_state(login, charlie, sources):
    client = login(charlie)
    assert names(client.get("/app/sources/?kind=agent")) == {"Alex"}
    assert names(client.get("/app/sources/?active=no")) == {"Ines"}
    assert names(client.get("/app/sources/?active=yes")) == {"Alex", "Pat"}
    assert names(client.get("/app/sources/?kind=nonsense")) == set()


def test_it_offers_import_and_export_to_managers_only(login, bob, charlie, sources):
    html = login(bob).get("/app/sources/").content.decode()
    assert "/app/sources/import/" in html and "/app/sources/export.csv" in html
    html = login(charlie).get("/app/sources/").content.decode()
    assert "/app/sources/import/" not in html and "/app/sources/export.csv" in html


def test_customer_list_offers_import_and_export(login, bob):
    html = login(bob).get("/app/customers/").content.decode()
    assert "/app/customers/import/" in html and "/app/customers/export.csv" in html
