"""Importing referral sources from a CSV file: matched by email, all or nothing."""

import pytest

from accounts.models import ReferralSource
from tests.dashboard.conftest import preview_url
from tests.factories import CustomerFactory, ReferralSourceFactory

UPLOAD = "/app/sources/import/"
HEADER = "kind,name,email,company,customer_external_id,active\n"


@pytest.fixture
def customer(acme):
    return CustomerFactory(organization=acme, external_id="c-1", email="kim@example.com")


def test_it_creates_and_updates_sources(login, bob, acme, source, customer, upload):
    client = login(bob)
    text = HEADER + (
        "agent,Alex Agent,alex@agents.example,Agents & Co,,\n"
        "customer,Sam Updated,SAM@example.com,,c-1,no\n"
        "employee,Kim Staff,kim@example.com,Branch 4,c-1,yes\n"
    )
    url = preview_url(upload(client, UPLOAD, text))
    html = client.get(url).content.decode()
    assert 'data-testid="count-create">2<' in html
    assert 'data-testid="count-update">1<' in html
    assert "name, customer, active" in html  # what the update changes
    assert client.post(url + "confirm/").status_code == 302
    alex = ReferralSource.objects.get(organization=acme, email="alex@agents.example")
    assert (alex.kind, alex.company, alex.active, alex.customer) == (
        "agent",
        "Agents & Co",
        True,
        None,
    )
    source.refresh_from_db()
    assert (source.name, source.customer, source.active) == ("Sam Updated", customer, False)
    assert ReferralSource.objects.get(email="kim@example.com").customer == customer
    assert ReferralSource.objects.filter(organization=acme).count() == 3


def test_it_previews_rows_with_errors(login, bob, acme, globex, upload):
    CustomerFactory(organization=globex, external_id="g-1")
    text = HEADER + (
        "wizard,Merlin,m@example.com,,,\n"
        "agent,,nobody@example.com,,,\n"
        "agent,Ann,ann@example.com,,g-1,\n"
        "agent,Ann Again,ANN@example.com,,,\n"
        "agent,Bo,bo@example.com,,,maybe\n"
    )
    client = login(bob)
    html = client.get(preview_url(upload(client, UPLOAD, text))).content.decode()
    assert "Unknown kind &#x27;wizard&#x27;" in html
    assert "name is missing." in html
    # Another tenant's customer is as unknown as a missing one.
    assert "No customer with external_id &#x27;g-1&#x27;." in html
    assert "email &#x27;ann@example.com&#x27; is also on row 4." in html
    assert "active must be yes or no" in html
    assert 'data-testid="count-errors">5<' in html
    assert 'data-testid="confirm-import"' not in html


def test_it_imports_nothing_when_a_row_is_bad(login, bob, acme, upload):
    client = login(bob)
    text = HEADER + "agent,Good,good@example.com,,,\nwizard,Bad,bad@example.com,,,\n"
    url = preview_url(upload(client, UPLOAD, text))
    assert client.post(url + "confirm/").status_code == 400
    assert not ReferralSource.objects.filter(organization=acme).exists()


def test_it_refuses_to_guess_between_sources_sharing_an_email(login, bob, acme, upload):
    for name in ("One", "Two"):
        ReferralSourceFactory(organization=acme, name=name, email="same@example.com")
    client = login(bob)
    html = client.get(
        preview_url(upload(client, UPLOAD, HEADER + "agent,Three,same@example.com,,,\n"))
    ).content.decode()
    assert "2 sources already use same@example.com" in html


def test_it_does_not_match_another_tenants_source(login, bob, acme, globex, upload):
    ReferralSourceFactory(organization=globex, name="Theirs", email="x@example.com")
    client = login(bob)
    url = preview_url(upload(client, UPLOAD, HEADER + "partner,Ours,x@example.com,,,\n"))
    client.post(url + "confirm/")
    assert ReferralSource.objects.get(organization=globex).name == "Theirs"
    assert ReferralSource.objects.get(organization=acme).name == "Ours"


def test_it_fails_at_confirm_when_a_customer_vanished(login, bob, acme, customer, upload):
    client = login(bob)
    url = preview_url(upload(client, UPLOAD, HEADER + "customer,Kim,kim@example.com,,c-1,\n"))
    customer.delete()
    response = client.post(url + "confirm/")
    assert response.status_code == 400
    assert "No customer with external_id" in response.content.decode()
    assert not ReferralSource.objects.filter(organization=acme).exists()


def test_it_needs_the_required_columns(login, bob, upload):
    response = upload(login(bob), UPLOAD, "name,email\nAnn,ann@example.com\n")
    assert response.status_code == 400
    assert "missing: kind" in response.content.decode()


def test_analyst_cannot_import(login, charlie, upload):
    client = login(charlie)
    assert client.get(UPLOAD).status_code == 403
    assert upload(client, UPLOAD, HEADER + "agent,A,a@example.com,,,\n").status_code == 403
    assert not ReferralSource.objects.exists()


def test_a_source_reactivated_by_a_file_gets_a_new_portal_link(login, bob, acme, source, upload):
    """As the Reactivate button: the old portal link of a stopped source may have leaked."""
    old_token = source.portal_token
    other = ReferralSourceFactory(organization=acme, name="Ona", email="ona@example.com")
    other_token = other.portal_token
    source.active = False
    source.save(update_fields=["active"])
    client = login(bob)
    text = HEADER + (
        f"{source.kind},{source.name},{source.email},,,yes\n"
        f"{other.kind},Ona Renamed,ona@example.com,,,yes\n"
    )
    url = preview_url(upload(client, UPLOAD, text))

    assert client.post(url + "confirm/").status_code == 302

    source.refresh_from_db()
    other.refresh_from_db()
    assert source.active and source.portal_token != old_token
    assert other.name == "Ona Renamed" and other.portal_token == other_token
    client.logout()
    assert client.get(f"/me/{old_token}/").status_code == 404
    assert client.get(f"/me/{source.portal_token}/").status_code == 200
