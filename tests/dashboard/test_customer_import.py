"""Importing customers from a CSV file: preview every row, then all or nothing."""

import pytest

from accounts.models import CsvImport, Customer
from tests.dashboard.conftest import preview_url
from tests.factories import CsvImportFactory, CustomerFactory

UPLOAD = "/app/customers/import/"

GOOD = (
    "external_id,email,name,phone\n"
    "c-1,Ann@Example.com,Ann Archer,+31 20 555 0101\n"
    "c-2,ben@example.com,Ben Baker,\n"
)


@pytest.fixture
def existing(acme):
    return CustomerFactory(
        organization=acme, external_id="c-2", email="ben@old.example", name="Ben", phone="123"
    )


def test_it_shows_the_upload_form(login, bob):
    response = login(bob).get(UPLOAD)
    assert response.status_code == 200
    assert "external_id,email,name,phone" in response.content.decode()


def test_it_previews_rows_without_saving_anything(login, bob, acme, existing, upload):
    client = login(bob)
    url = preview_url(upload(client, UPLOAD, GOOD))
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Ann Archer" in html and "ann@example.com" in html  # parsed: email lower-cased
    assert 'data-testid="count-create">1<' in html
    assert 'data-testid="count-update">1<' in html
    assert 'data-testid="confirm-import"' in html
    assert not Customer.objects.filter(external_id="c-1").exists()
    existing.refresh_from_db()
    assert existing.name == "Ben"


def test_it_previews_rows_with_errors(login, bob, upload):
    client = login(bob)
    text = (
        "external_id,email,name,phone\n"
        "c-1,not-an-email,Ann,\n"
        ",b@example.com,Ben,\n"
        "c-3,c@example.com,Cat,\n"
        "c-3,d@example.com,Dan,\n"
    )
    html = client.get(preview_url(upload(client, UPLOAD, text))).content.decode()
    assert "&#x27;not-an-email&#x27; is not a valid email address." in html
    assert "external_id is missing." in html
    assert "external_id &#x27;c-3&#x27; is also on row 4." in html
    assert 'data-testid="count-errors">3<' in html
    assert 'data-testid="confirm-import"' not in html
    assert 'data-testid="import-blocked"' in html


def test_it_can_show_only_the_rows_with_errors(login, bob, upload):
    client = login(bob)
    text = "external_id,email,name\nc-1,a@example.com,Good Row\nc-2,bad,Bad Row\n"
    url = preview_url(upload(client, UPLOAD, text))
    html = client.get(url + "?errors=1").content.decode()
    assert "Bad Row" in html and "Good Row" not in html


def test_it_imports_on_confirm(login, bob, acme, existing, upload):
    client = login(bob)
    url = preview_url(upload(client, UPLOAD, GOOD))
    response = client.post(url + "confirm/")
    assert response.status_code == 302 and response["Location"] == "/app/customers/"
    ann = Customer.objects.get(organization=acme, external_id="c-1")
    assert (ann.email, ann.name, ann.phone) == ("ann@example.com", "Ann Archer", "+31 20 555 0101")
    existing.refresh_from_db()
    # Given cells update the customer; the empty phone cell keeps the old phone.
    assert (existing.email, existing.name) == ("ben@example.com", "Ben Baker")
    assert existing.phone == "123"
    assert Customer.objects.filter(organization=acme).count() == 2
    record = CsvImport.objects.get()
    assert record.confirmed_at and (record.created_count, record.updated_count) == (1, 1)
    assert record.content == ""


def test_it_imports_nothing_when_a_row_is_bad(login, bob, acme, upload):
    client = login(bob)
    text = "external_id,email,name\nc-1,a@example.com,Ann\nc-2,broken,Ben\n"
    url = preview_url(upload(client, UPLOAD, text))
    response = client.post(url + "confirm/")
    assert response.status_code == 400
    assert "nothing was imported" in response.content.decode()
    assert not Customer.objects.filter(organization=acme).exists()


def test_it_checks_again_at_confirm_time(login, bob, acme, globex, upload):
    """A customer created after the preview turns that row into an update, not a duplicate."""
    client = login(bob)
    url = preview_url(upload(client, UPLOAD, "external_id,email,name\nc-9,new@example.com,New\n"))
    CustomerFactory(organization=acme, external_id="c-9", name="Made meanwhile")
    CustomerFactory(organization=globex, external_id="c-9", name="Other tenant")
    assert client.post(url + "confirm/").status_code == 302
    assert Customer.objects.filter(organization=acme, external_id="c-9").count() == 1
    assert Customer.objects.get(organization=acme, external_id="c-9").name == "New"
    assert Customer.objects.get(organization=globex, external_id="c-9").name == "Other tenant"


def test_it_cannot_be_confirmed_twice(login, bob, acme, upload):
    client = login(bob)
    url = preview_url(upload(client, UPLOAD, GOOD))
    client.post(url + "confirm/")
    response = client.post(url + "confirm/")
    assert response.status_code == 302
    assert Customer.objects.filter(organization=acme).count() == 2


def test_it_accepts_a_byte_order_mark_and_semicolons(login, bob, acme, upload):
    client = login(bob)
    text = "\ufeffexternal_id;email;name\nc-1;a@example.com;Zoë Ünal\n"
    url = preview_url(upload(client, UPLOAD, text.encode("utf-8")))
    client.post(url + "confirm/")
    assert Customer.objects.get(organization=acme, external_id="c-1").name == "Zoë Ünal"


def test_it_refuses_other_encodings(login, bob, upload):
    data = "external_id,email,name\nc-1,a@example.com,Zoë\n".encode("latin-1")
    response = upload(login(bob), UPLOAD, data)
    assert response.status_code == 400
    assert "not UTF-8" in response.content.decode()
    assert not CsvImport.objects.exists()


def test_it_refuses_a_file_without_header(login, bob, upload):
    response = upload(login(bob), UPLOAD, "c-1,a@example.com,Ann,\n")
    assert response.status_code == 400
    assert "The first row must name the columns" in response.content.decode()


def test_it_refuses_an_empty_file(login, bob, upload):
    response = upload(login(bob), UPLOAD, "")
    assert response.status_code == 400


def test_it_refuses_a_file_over_the_size_limit(login, bob, upload, monkeypatch):
    monkeypatch.setattr("dashboard.accounts.forms.MAX_BYTES", 100)
    response = upload(login(bob), UPLOAD, GOOD + "c-3,x@example.com," + "x" * 100 + "\n")
    assert response.status_code == 400
    assert "larger than" in response.content.decode()


def test_it_refuses_a_file_over_the_row_limit(login, bob, upload, monkeypatch):
    monkeypatch.setattr("accounts.imports.MAX_ROWS", 1)
    response = upload(login(bob), UPLOAD, GOOD)
    assert response.status_code == 400
    assert "more than 1 rows" in response.content.decode()


def test_it_round_trips_cells_that_look_like_formulas(login, bob, acme, upload):
    client = login(bob)
    url = preview_url(upload(client, UPLOAD, "external_id,email,name\nc-1,,'=1+2\n"))
    client.post(url + "confirm/")
    assert Customer.objects.get(organization=acme, external_id="c-1").name == "=1+2"


def test_analyst_cannot_import(login, charlie, acme, bob, upload, client):
    assert login(charlie).get(UPLOAD).status_code == 403
    assert upload(client, UPLOAD, GOOD).status_code == 403
    pending = CsvImportFactory(organization=acme, kind="customers", content=GOOD, created_by=bob)
    assert client.get(f"{UPLOAD}{pending.pk}/").status_code == 403
    assert client.post(f"{UPLOAD}{pending.pk}/confirm/").status_code == 403
    assert not Customer.objects.exists()


def test_it_hides_another_tenants_upload(login, bob, eve, upload, client):
    url = preview_url(upload(login(bob), UPLOAD, GOOD))
    client.force_login(eve)
    assert client.get(url).status_code == 404
    assert client.post(url + "confirm/").status_code == 404
    assert not Customer.objects.exists()


def test_it_hides_a_colleagues_upload(login, bob, alice, upload, client):
    url = preview_url(upload(login(bob), UPLOAD, GOOD))
    client.force_login(alice)
    assert client.get(url).status_code == 404


def test_it_keeps_only_the_latest_pending_upload(login, bob, upload):
    client = login(bob)
    upload(client, UPLOAD, GOOD)
    upload(client, UPLOAD, GOOD)
    assert CsvImport.objects.count() == 1


def test_it_rolls_back_everything_when_writing_fails_midway(login, bob, acme, upload, monkeypatch):
    from django.db import IntegrityError

    from accounts import imports

    def create_then_fail(organization, rows):
        imports.apply_customers(organization, rows)
        raise IntegrityError("duplicate key")

    monkeypatch.setitem(imports.APPLY, "customers", create_then_fail)
    client = login(bob)
    url = preview_url(upload(client, UPLOAD, GOOD))
    response = client.post(url + "confirm/")
    assert response.status_code == 400
    assert "nothing was imported" in response.content.decode()
    assert not Customer.objects.filter(organization=acme).exists()
    assert CsvImport.objects.get().confirmed_at is None


def test_it_requires_sign_in(client, db):
    for path in (UPLOAD, f"{UPLOAD}1/", "/app/sources/import/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_refuses_binary_data(login, bob, upload):
    data = b"external_id,email,name\nc-1,a@example.com,A\x00nn\n"
    response = upload(login(bob), UPLOAD, data)
    assert response.status_code == 400
    assert "not CSV text" in response.content.decode()
    assert not CsvImport.objects.exists()


def test_it_reads_column_names_as_spreadsheets_write_them(login, bob, acme, upload):
    client = login(bob)
    url = preview_url(upload(client, UPLOAD, "External ID,Email,Name\nc-1,a@example.com,Ann\n"))
    client.post(url + "confirm/")
    assert Customer.objects.get(organization=acme, external_id="c-1").name == "Ann"
