"""/api/v1/customers: created or updated by the business's own id, found by filters."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Customer
from tests.api.conftest import error_of


def test_it_creates_a_customer(api, acme):
    response = api.post(
        "/api/v1/customers",
        {"external_id": "c-1", "email": "Ann@Example.com", "name": "Ann", "phone": "+31 6 1"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["external_id"] == "c-1" and body["email"] == "ann@example.com"
    assert body["referred"] is False and body["created_at"].endswith("Z")
    assert Customer.objects.get(pk=body["id"]).organization == acme


def test_it_upserts_by_external_id(api):
    first = api.post("/api/v1/customers", {"external_id": "c-1", "name": "Ann"}).json()
    response = api.post("/api/v1/customers", {"external_id": "c-1", "email": "ann@example.com"})
    assert response.status_code == 200
    assert response.json()["id"] == first["id"]
    customer = Customer.objects.get()
    assert (customer.name, customer.email) == ("Ann", "ann@example.com")


def test_it_needs_an_external_id(api):
    response = api.post("/api/v1/customers", {"email": "ann@example.com"})
    assert response.status_code == 400
    assert error_of(response)["param"] == "external_id"
    assert not Customer.objects.exists()


def test_it_reads_a_customer(api, acme):
    customer = Customer.objects.create(organization=acme, external_id="c-1", name="Ann")
    response = api.get(f"/api/v1/customers/{customer.pk}")
    assert response.status_code == 200 and response.json()["name"] == "Ann"


def test_it_filters_the_list(api, acme):
    now = timezone.now()
    Customer.objects.create(
        organization=acme,
        external_id="old",
        email="old@example.com",
        first_seen_at=now - timedelta(days=40),
    )
    Customer.objects.create(
        organization=acme, external_id="new", email="new@example.com", is_referred=True
    )

    def ids(**params):
        return [c["external_id"] for c in api.get("/api/v1/customers", params).json()["results"]]

    assert ids() == ["new", "old"]
    assert ids(email="NEW@example.com") == ["new"]
    assert ids(external_id="old") == ["old"]
    assert ids(referred="true") == ["new"] and ids(referred="false") == ["old"]
    since = (now - timedelta(days=1)).isoformat()
    assert ids(created_after=since) == ["new"] and ids(created_before=since) == ["old"]
    assert ids(ordering="id") == ["old", "new"]


def test_it_orders_by_created_at_as_documented(api, acme):
    """docs/api.md: lists take ``ordering`` by ``id`` and ``created_at``. A customer's
    ``created_at`` is when it was first seen, which need not follow its id (an event or an
    import dates it); ``?ordering=created_at`` was ignored and answered newest id first."""
    now = timezone.now()
    for external_id, days_ago in [("b", 10), ("a", 30), ("c", 20)]:
        Customer.objects.create(
            organization=acme, external_id=external_id, first_seen_at=now - timedelta(days_ago)
        )

    def ids(**params):
        return [c["external_id"] for c in api.get("/api/v1/customers", params).json()["results"]]

    assert ids(ordering="created_at") == ["a", "c", "b"]
    assert ids(ordering="-created_at") == ["b", "c", "a"]
    page = api.get("/api/v1/customers", {"ordering": "created_at", "limit": 2}).json()
    assert [c["external_id"] for c in page["results"]] == ["a", "c"]
    rest = api.client.get(page["next"], **api.headers()).json()["results"]
    assert [c["external_id"] for c in rest] == ["b"]


def test_it_pages_with_a_cursor(api, acme):
    for n in range(25):
        Customer.objects.create(organization=acme, external_id=f"c-{n:02}")
    page = api.get("/api/v1/customers", {"limit": 10}).json()
    seen = [c["external_id"] for c in page["results"]]
    while page["next"]:
        page = api.client.get(page["next"], **api.headers()).json()
        seen += [c["external_id"] for c in page["results"]]
    assert seen == [f"c-{n:02}" for n in reversed(range(25))]


def test_the_list_costs_a_bounded_number_of_queries(api, acme, django_assert_max_num_queries):
    for n in range(50):
        Customer.objects.create(organization=acme, external_id=f"c-{n}")
    with django_assert_max_num_queries(4):
        assert api.get("/api/v1/customers", {"limit": 100}).status_code == 200


def test_an_upsert_replays_under_its_idempotency_key(api):
    headers = {"Idempotency-Key": "k-1"}
    first = api.post("/api/v1/customers", {"external_id": "c-1"}, headers=headers)
    again = api.post("/api/v1/customers", {"external_id": "c-1"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.content == again.content


def test_times_are_in_utc_whatever_zone_the_thread_had(api, acme):
    from django.utils import timezone

    Customer.objects.create(organization=acme, external_id="c-1")
    timezone.activate("Europe/Amsterdam")  # as a dashboard page served before leaves it
    try:
        body = api.get("/api/v1/customers").json()
    finally:
        timezone.deactivate()
    assert body["results"][0]["created_at"].endswith("Z")


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"ordering": "amount"}, "ordering"),
        ({"ordering": "id,"}, "ordering"),
        ({"ordering": "-email"}, "ordering"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "2.5"}, "limit"),
    ],
)
def test_an_ordering_or_limit_it_does_not_take_is_a_400(api, acme, params, param):
    """DRF dropped an unknown ordering and a bad limit silently: the partner got the newest
    twenty, not what it asked for, and could not tell."""
    Customer.objects.create(organization=acme, external_id="a")
    response = api.get("/api/v1/customers", params)
    assert response.status_code == 400
    assert error_of(response)["param"] == param


def test_a_limit_above_the_most_gives_the_most(api, acme):
    Customer.objects.bulk_create(
        [Customer(organization=acme, external_id=f"c{n}") for n in range(101)]
    )
    assert len(api.get("/api/v1/customers", {"limit": "500"}).json()["results"]) == 100
    assert len(api.get("/api/v1/customers", {"limit": " 3"}).json()["results"]) == 3
    ordered = api.get("/api/v1/customers", {"ordering": "-created_at,id", "limit": 2})
    assert ordered.status_code == 200
