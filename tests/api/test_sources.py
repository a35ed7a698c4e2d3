"""/api/v1/sources: create, read, update, deactivate; the source's portal link."""

from accounts.models import Customer, ReferralSource
from tests.api.conftest import error_of


def test_it_creates_a_source_of_a_kind(api, acme):
    customer = Customer.objects.create(organization=acme, external_id="c-1")
    response = api.post(
        "/api/v1/sources",
        {"kind": "agent", "name": "Ada Agent", "email": "ada@example.com", "customer": customer.pk},
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["customer"], body["active"]) == ("agent", customer.pk, True)


def test_a_customer_of_another_organization_is_unknown(api, globex):
    foreign = Customer.objects.create(organization=globex, external_id="g-1")
    response = api.post("/api/v1/sources", {"name": "Spy", "customer": foreign.pk})
    assert response.status_code == 404
    assert error_of(response)["param"] == "customer"
    assert not ReferralSource.objects.exists()


def test_it_refuses_an_unknown_kind(api):
    response = api.post("/api/v1/sources", {"name": "X", "kind": "cousin"})
    assert response.status_code == 400 and error_of(response)["param"] == "kind"


def test_it_updates_and_deactivates(api, source):
    response = api.patch(f"/api/v1/sources/{source.pk}", {"company": "Sam & Co"})
    assert response.status_code == 200 and response.json()["company"] == "Sam & Co"
    assert response.json()["name"] == "Sam Source"
    response = api.post(f"/api/v1/sources/{source.pk}/deactivate")
    assert response.status_code == 200 and response.json()["active"] is False
    source.refresh_from_db()
    assert not source.active and source.company == "Sam & Co"


def test_it_filters_by_kind_and_active(api, acme, source):
    ReferralSource.objects.create(organization=acme, name="Pat", kind="partner", active=False)

    def names(**params):
        return [s["name"] for s in api.get("/api/v1/sources", params).json()["results"]]

    assert names(kind="partner") == ["Pat"]
    assert names(active="true") == ["Sam Source"]
    assert names(email="SAM@example.com") == ["Sam Source"]


def test_it_gives_the_portal_link(api, source, settings):
    response = api.get(f"/api/v1/sources/{source.pk}/portal")
    assert response.json() == {
        "source": source.pk,
        "url": f"{settings.SITE_URL}/me/{source.portal_token}/",
    }


def test_the_list_costs_a_bounded_number_of_queries(api, acme, django_assert_max_num_queries):
    for n in range(40):
        ReferralSource.objects.create(organization=acme, name=f"S{n}", kind="agent")
    with django_assert_max_num_queries(4):
        assert len(api.get("/api/v1/sources", {"limit": 100}).json()["results"]) == 40


def test_create_replays_under_its_idempotency_key(api):
    headers = {"Idempotency-Key": "src-1"}
    first = api.post("/api/v1/sources", {"name": "Sam"}, headers=headers)
    again = api.post("/api/v1/sources", {"name": "Sam"}, headers=headers)
    assert first.content == again.content and ReferralSource.objects.count() == 1
