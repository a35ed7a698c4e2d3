"""Who a customer is: the business's id names them; an email finds only a customer the
business has given no id yet (who then takes the id). A customer with another id who shares
the email is someone else (a joint account, a family address, an unverified email): an
event, an API upsert, a CSV import or a bulk of events naming a new id never lands on them,
so two of the business's customers are never merged."""

from decimal import Decimal

import pytest

from accounts.models import Customer
from accounts.selectors import customer_find
from referrals.models import Purchase
from referrals.services import event_record
from tests.api.conftest import Api, key_for
from tests.dashboard.conftest import preview_url, upload  # noqa: F401 - a fixture
from tests.factories import CustomerFactory


@pytest.fixture
def other(acme):
    """A customer with the business's id C-42 and a shared address."""
    return CustomerFactory(organization=acme, external_id="C-42", email="home@example.com")


@pytest.fixture
def email_only(acme):
    """A customer known so far only by email (an event that gave no id)."""
    return CustomerFactory(organization=acme, external_id="", email="kim@example.com")


def test_customer_find_takes_an_email_only_for_a_customer_without_an_id(acme, other, email_only):
    assert customer_find(organization=acme, email="HOME@example.com", external_id="C-7") is None
    assert customer_find(organization=acme, email="home@example.com") == other  # no id given
    assert customer_find(organization=acme, email="kim@example.com", external_id="K-1") == (
        email_only
    )
    assert customer_find(organization=acme, email="kim@example.com", external_id="C-42") == other


def test_an_event_for_a_new_id_with_a_shared_email_is_a_new_customer(acme, other):
    event_record(
        organization=acme,
        kind="purchase",
        external_id="o-1",
        amount=Decimal("10"),
        email="home@example.com",
        customer_external_id="C-7",
    )
    bought = Purchase.objects.get(external_id="o-1").customer
    assert bought != other and (bought.external_id, bought.email) == ("C-7", "home@example.com")
    other.refresh_from_db()
    assert other.external_id == "C-42"


def test_an_event_for_a_new_id_adopts_the_customer_known_only_by_email(acme, email_only):
    event_record(
        organization=acme,
        kind="purchase",
        external_id="o-1",
        amount=Decimal("10"),
        email="kim@example.com",
        customer_external_id="K-1",
    )
    email_only.refresh_from_db()
    assert email_only.external_id == "K-1"
    assert Purchase.objects.get(external_id="o-1").customer == email_only
    assert Customer.objects.filter(organization=acme).count() == 1


def test_the_api_upsert_adopts_an_email_only_customer_and_never_merges_two_ids(
    acme, other, email_only
):
    api = Api(key_for(acme))
    adopted = api.post("/api/v1/customers", {"external_id": "K-1", "email": "Kim@Example.com"})
    assert adopted.status_code == 200 and adopted.json()["id"] == email_only.pk
    email_only.refresh_from_db()
    assert email_only.external_id == "K-1"
    fresh = api.post("/api/v1/customers", {"external_id": "C-7", "email": "home@example.com"})
    assert fresh.status_code == 201 and fresh.json()["id"] != other.pk
    other.refresh_from_db()
    assert (other.external_id, other.email) == ("C-42", "home@example.com")
    assert Customer.objects.filter(organization=acme).count() == 3


def test_the_csv_import_adopts_an_email_only_customer_instead_of_a_duplicate(
    login,
    bob,
    acme,
    other,
    email_only,
    upload,  # noqa: F811
):
    client = login(bob)
    text = (
        "external_id,email,name\n"
        "K-1,KIM@example.com,Kim\n"
        "K-2,kim@example.com,Kim's partner\n"
        "C-7,home@example.com,Housemate\n"
    )
    url = preview_url(upload(client, "/app/customers/import/", text))
    assert client.post(url + "confirm/").status_code == 302
    email_only.refresh_from_db()
    assert (email_only.external_id, email_only.name) == ("K-1", "Kim")
    # The second row of the same email is someone else (the first took the customer).
    assert Customer.objects.get(organization=acme, external_id="K-2").pk != email_only.pk
    housemate = Customer.objects.get(organization=acme, external_id="C-7")
    assert housemate != other and housemate.email == "home@example.com"
    other.refresh_from_db()
    assert (other.external_id, other.name) != ("C-7", "Housemate")
    assert Customer.objects.filter(organization=acme).count() == 4


def test_a_bulk_of_events_follows_the_same_rule(acme, other, email_only):
    api = Api(key_for(acme))
    events = [
        {"id": "o-1", "type": "purchase", "email": "home@example.com", "amount": "10.00",
         "customer_external_id": "C-7"},
        {"id": "o-2", "type": "purchase", "email": "kim@example.com", "amount": "10.00",
         "customer_external_id": "K-1"},
    ]  # fmt: skip
    results = api.post("/api/v1/events/bulk", {"events": events}).json()["results"]
    assert [r["status"] for r in results] == [201, 201]
    housemate = Customer.objects.get(organization=acme, external_id="C-7")
    assert housemate != other and results[0]["result"]["customer"] == housemate.pk
    email_only.refresh_from_db()
    assert email_only.external_id == "K-1" and results[1]["result"]["customer"] == email_only.pk
    assert Purchase.objects.get(external_id="o-1").customer == housemate
    assert Purchase.objects.get(external_id="o-2").customer == email_only
    other.refresh_from_db()
    assert other.external_id == "C-42"


def test_a_bulk_taken_set_based_follows_the_same_rule(acme, other):
    """Alone in its batch the event is taken by the set-based pass (no email to fill in)."""
    api = Api(key_for(acme))
    event = {"id": "o-1", "type": "purchase", "email": "home@example.com", "amount": "10.00",
             "customer_external_id": "C-7"}  # fmt: skip
    [result] = api.post("/api/v1/events/bulk", {"events": [event]}).json()["results"]
    assert result["status"] == 201
    assert Purchase.objects.get(external_id="o-1").customer.external_id == "C-7"
    other.refresh_from_db()
    assert other.external_id == "C-42"
