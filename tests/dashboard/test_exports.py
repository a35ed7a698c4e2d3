"""CSV exports of customers and sources: every row of one organization, streamed."""

import csv
import io

from accounts.models import Customer
from tests.factories import CustomerFactory, ReferralSourceFactory


def rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="acme-')
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_it_exports_customers_of_own_organization_only(login, charlie, acme, globex):
    for n in range(3):
        CustomerFactory(organization=acme, external_id=f"c-{n}", email=f"{n}@example.com")
    CustomerFactory(organization=globex, external_id="g-1", email="spy@example.com")
    table = rows(login(charlie).get("/app/customers/export.csv"))
    assert table[0] == [
        "external_id",
        "email",
        "name",
        "phone",
        "status",
        "referred",
        "first_seen_at",
    ]
    assert sorted(row[0] for row in table[1:]) == ["c-0", "c-1", "c-2"]


def test_it_exports_only_own_organization(login, alice, source, globex):
    ReferralSourceFactory(organization=globex, name="Globex Partner", kind="partner")
    table = rows(login(alice).get("/app/sources/export.csv"))
    assert table[0] == [
        "kind",
        "name",
        "email",
        "company",
        "customer_external_id",
        "active",
        "created_at",
    ]
    assert [row[1] for row in table[1:]] == ["Sam Source"]


def test_it_exports_with_the_lists_filters(login, alice, acme, source):
    ReferralSourceFactory(organization=acme, name="Ada Agent", kind="agent", active=False)
    ReferralSourceFactory(organization=acme, name="Al Agent", kind="agent")
    client = login(alice)
    table = rows(client.get("/app/sources/export.csv?kind=agent&active=no"))
    assert [row[1] for row in table[1:]] == ["Ada Agent"]
    table = rows(client.get("/app/customers/export.csv?q=nobody"))
    assert table[1:] == []


def test_it_exports_a_sources_customer_and_state(login, alice, acme):
    kim = CustomerFactory(organization=acme, external_id="c-7")
    ReferralSourceFactory(organization=acme, name="Kim", customer=kim, active=False)
    table = rows(login(alice).get("/app/sources/export.csv"))
    assert table[1][4:6] == ["c-7", "no"]


def test_it_defuses_cells_that_spreadsheets_would_run(login, alice, acme):
    CustomerFactory(organization=acme, external_id="c-1", name='=HYPERLINK("x")')
    table = rows(login(alice).get("/app/customers/export.csv"))
    assert table[1][2] == '\'=HYPERLINK("x")'


def test_an_export_can_be_imported_back(login, alice, acme, upload):
    from tests.dashboard.conftest import preview_url

    CustomerFactory(organization=acme, external_id="c-1", name="-1", email="a@b.example")
    client = login(alice)
    data = b"".join(client.get("/app/customers/export.csv").streaming_content)
    url = preview_url(upload(client, "/app/customers/import/", data))
    html = client.get(url).content.decode()
    assert "Ignored columns: status, referred, first_seen_at." in html
    assert 'data-testid="count-errors">0<' in html
    assert "unchanged" in html and 'data-testid="count-create">0<' in html


def test_it_streams_a_large_export_in_few_queries(
    login, alice, acme, django_assert_max_num_queries
):
    Customer.objects.bulk_create(
        [Customer(organization=acme, external_id=f"c-{n}") for n in range(2500)]
    )
    client = login(alice)
    with django_assert_max_num_queries(10):
        table = rows(client.get("/app/customers/export.csv"))
    assert len(table) == 2501


def test_it_requires_sign_in(client, db):
    for path in ("/app/customers/export.csv", "/app/sources/export.csv"):
        assert client.get(path).status_code == 302
