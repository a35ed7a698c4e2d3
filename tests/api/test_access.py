"""
Who may call what, on every endpoint: the walk covers the URL resolver, so an endpoint added
without a line here fails ``test_the_table_covers_every_endpoint``.

- no key: 401; a read key may only read, a write key may only write: 403;
- Globex's key on Acme's ids: 404, and Acme's objects stay as they were.
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver

from referrals.services import conversion_record, referral_create
from rewards.services import credit_account_for, credit_grant
from tests.api.conftest import Api, error_of


@pytest.fixture
def world(acme, program, source, link, fixed_rule):
    """One of everything in Acme: a customer, a referral, a reward, credit and a payout."""
    from accounts.services import customer_upsert
    from rewards.models import Reward
    from rewards.services import payout_request, reward_grant_manual

    customer, _ = customer_upsert(organization=acme, external_id="c-1", email="c@example.com")
    referral = referral_create(
        program=program, source=source, link=link, channel="api", friend_email="f@example.com"
    )
    conversion_record(referral=referral, kind="purchase", external_id="o-1", amount=Decimal("80"))
    from rewards.services import issue_rewards_for_conversion

    issue_rewards_for_conversion(conversion_id=referral.conversions.get().pk)
    account = credit_account_for(organization_id=acme.pk, customer=customer)
    from django.utils import timezone

    credit_grant(
        account=account,
        amount=Decimal("10"),
        expires_at=timezone.now() + timezone.timedelta(days=30),
        idempotency_key="gift",
    )
    reward_grant_manual(
        organization=acme,
        source=source,
        amount=Decimal("5"),
        note="Cash thanks",
        actor=None,
        reward_kind="cash",
    )
    payout = payout_request(source=source, method="bank_transfer")
    return {
        "customer": customer.pk,
        "source": source.pk,
        "program": program.pk,
        "link": link.pk,
        "referral": referral.pk,
        "reward": Reward.objects.filter(conversion__isnull=False).first().pk,
        "payout": payout.pk,
    }


def ENDPOINTS(ids):
    """(method, path, body) of every operation, on Acme's objects."""
    return [
        ("GET", "/api/v1/customers", None),
        ("POST", "/api/v1/customers", {"external_id": "c-9"}),
        ("GET", f"/api/v1/customers/{ids['customer']}", None),
        ("GET", f"/api/v1/customers/{ids['customer']}/credit", None),
        (
            "POST",
            f"/api/v1/customers/{ids['customer']}/credit/redeem",
            {"amount": "1.00", "order_id": "x-1"},
        ),
        ("GET", "/api/v1/sources", None),
        ("POST", "/api/v1/sources", {"name": "New"}),
        ("GET", f"/api/v1/sources/{ids['source']}", None),
        ("PATCH", f"/api/v1/sources/{ids['source']}", {"name": "Renamed"}),
        ("POST", f"/api/v1/sources/{ids['source']}/deactivate", {}),
        ("GET", f"/api/v1/sources/{ids['source']}/portal", None),
        ("GET", f"/api/v1/sources/{ids['source']}/credit", None),
        (
            "POST",
            f"/api/v1/sources/{ids['source']}/credit/redeem",
            {"amount": "1.00", "order_id": "x-2"},
        ),
        ("GET", "/api/v1/programs", None),
        ("GET", f"/api/v1/programs/{ids['program']}", None),
        ("GET", "/api/v1/links", None),
        ("POST", "/api/v1/links", {"source": ids["source"], "program": ids["program"]}),
        ("GET", f"/api/v1/links/{ids['link']}", None),
        ("GET", "/api/v1/referrals", None),
        (
            "POST",
            "/api/v1/referrals",
            {"source": ids["source"], "program": ids["program"], "friend_email": "n@example.com"},
        ),
        ("GET", f"/api/v1/referrals/{ids['referral']}", None),
        ("POST", "/api/v1/events", {"id": "e-1", "type": "signup", "email": "f@example.com"}),
        (
            "POST",
            "/api/v1/events/bulk",
            {"events": [{"id": "e-2", "type": "signup", "email": "f@example.com"}]},
        ),
        ("GET", "/api/v1/rewards", None),
        ("GET", f"/api/v1/rewards/{ids['reward']}", None),
        ("POST", f"/api/v1/rewards/{ids['reward']}/approve", {}),
        ("POST", f"/api/v1/rewards/{ids['reward']}/void", {"reason": "test"}),
        ("GET", "/api/v1/payouts", None),
        ("POST", "/api/v1/payouts", {"source": ids["source"]}),
        ("GET", f"/api/v1/payouts/{ids['payout']}", None),
        ("GET", "/api/v1/analytics/summary", None),
        ("GET", "/api/v1/analytics/sources", None),
    ]


def call(client: Api, method: str, path: str, body):
    if method == "GET":
        return client.get(path)
    if method == "PATCH":
        return client.patch(path, body)
    return client.post(path, body)


def _api_routes():
    def walk(resolver, prefix=""):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                route = prefix + str(entry.pattern)
                if route.startswith("api/v1/"):
                    yield "/" + route.replace("<int:pk>", "{id}")

    return set(walk(get_resolver()))


def test_the_table_covers_every_endpoint():
    ids = dict.fromkeys(
        ["customer", "source", "program", "link", "referral", "reward", "payout"], "{id}"
    )
    listed = {path for _, path, _ in ENDPOINTS(ids)}
    assert listed == _api_routes()


def test_it_requires_a_key(db, world):
    anonymous = Api(None)
    for method, path, body in ENDPOINTS(world):
        response = call(anonymous, method, path, body)
        assert response.status_code == 401, (method, path)
        assert error_of(response)["type"] == "authentication_error"
        assert response["WWW-Authenticate"] == "Bearer"


def test_it_refuses_unknown_malformed_and_revoked_keys(acme, world):
    from accounts.models import ApiKey
    from accounts.services import api_key_revoke
    from tests.api.conftest import key_for

    for header in ["Bearer adv_live_nope", "Basic abc", "Bearer", "adv_live_x"]:
        response = Api(None).client.get("/api/v1/programs", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert error_of(response)["type"] == "authentication_error"
    key = key_for(acme, name="Old")
    api_key_revoke(api_key=ApiKey.objects.get(name="Old"))
    assert Api(key).get("/api/v1/programs").status_code == 401


def test_a_read_key_cannot_write_and_a_write_key_cannot_read(read_only, write_only, world):
    from referrals.models import Referral

    before = Referral.objects.count()
    for method, path, body in ENDPOINTS(world):
        client = write_only if method == "GET" else read_only
        response = call(client, method, path, body)
        assert response.status_code == 403, (method, path)
        error = error_of(response)
        assert (error["type"], error["code"]) == ("permission_error", "insufficient_scope")
    assert Referral.objects.count() == before


def test_another_organizations_key_never_reaches_acmes_objects(globex_api, world, source):
    from referrals.models import Referral
    from rewards.models import Reward

    for method, path, body in ENDPOINTS(world):
        response = call(globex_api, method, path, body)
        if "{" in path or any(str(v) in path.split("/") for v in world.values()):
            assert response.status_code == 404, (method, path, response.content)
            assert error_of(response)["code"] in ("not_found", "resource_missing")
        elif method == "GET":
            assert response.status_code == 200, (method, path)
            body = response.json()
            assert body.get("results", []) == [] or path.endswith("analytics/sources")
        else:
            # Acme's ids in a body are unknown in Globex: 404 naming the parameter, or (for
            # objects it creates from scratch) a new object of Globex's own.
            assert response.status_code in (200, 201, 404), (method, path, response.content)
    source.refresh_from_db()
    assert source.active and source.name == "Sam Source"
    assert Referral.objects.filter(organization=source.organization).count() == 1
    assert not Reward.objects.filter(status="void").exists()


def test_globex_sees_only_its_own_rows_in_lists(globex_api, world, globex):
    from accounts.models import ReferralSource

    ReferralSource.objects.create(organization=globex, name="Globex partner", kind="partner")
    names = [s["name"] for s in globex_api.get("/api/v1/sources").json()["results"]]
    assert names == ["Globex partner"]
    rows = globex_api.get("/api/v1/analytics/sources").json()["results"]
    assert [r["name"] for r in rows] == ["Globex partner"]


def test_every_post_replays_its_first_answer_under_an_idempotency_key(api, world):
    """Each POST of the table, sent twice with one key: the same status and the same bytes."""
    for n, (method, path, body) in enumerate(ENDPOINTS(world)):
        if method != "POST":
            continue
        headers = {"Idempotency-Key": f"replay-{n}"}
        first = api.post(path, body, headers=headers)
        again = api.post(path, body, headers=headers)
        assert first.status_code < 500, (path, first.content)
        assert (again.status_code, again.content) == (first.status_code, first.content), path
        assert again["Idempotent-Replayed"] == "true"


def test_reads_cost_a_bounded_number_of_queries(api, world, django_assert_max_num_queries):
    for method, path, _ in ENDPOINTS(world):
        if method == "GET":
            with django_assert_max_num_queries(8, info=path):
                assert api.get(path).status_code == 200, path


def test_a_remembered_key_costs_no_query_and_is_refused_at_once_when_revoked(acme, world):
    from accounts.models import ApiKey
    from accounts.services import api_key_revoke
    from tests.api.conftest import key_for

    client = Api(key_for(acme, name="Shop"))
    assert client.get("/api/v1/programs").status_code == 200  # read, and remembered
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/programs").status_code == 200
    assert not [q for q in queries if "accounts_apikey" in q["sql"]]

    api_key_revoke(api_key=ApiKey.objects.get(name="Shop"))
    response = client.get("/api/v1/programs")
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"


def test_a_key_revoked_by_another_process_is_refused_at_the_next_request(acme, world):
    """Another web process's revocation reaches this one through the cache's generation
    token alone (this process's memory is not touched)."""
    from django.core.cache import cache
    from django.utils import timezone

    from accounts import keycache
    from accounts.models import ApiKey
    from tests.api.conftest import key_for

    client = Api(key_for(acme, name="Shop"))
    assert client.get("/api/v1/programs").status_code == 200
    ApiKey.objects.filter(name="Shop").update(revoked_at=timezone.now())
    assert client.get("/api/v1/programs").status_code == 200  # remembered: no new generation
    cache.set(keycache.GENERATION_KEY, "another process revoked a key", timeout=None)
    assert client.get("/api/v1/programs").status_code == 401


def test_without_the_cache_every_request_reads_its_key(acme, world, monkeypatch):
    from django.utils import timezone

    from accounts import keycache
    from accounts.models import ApiKey
    from tests.api.conftest import key_for

    monkeypatch.setattr(keycache, "_generation", lambda: None)  # Redis unreachable
    client = Api(key_for(acme, name="Shop"))
    assert client.get("/api/v1/programs").status_code == 200
    ApiKey.objects.filter(name="Shop").update(revoked_at=timezone.now())
    assert client.get("/api/v1/programs").status_code == 401


def test_a_remembered_key_is_read_again_after_its_time(acme, world, monkeypatch):
    from django.utils import timezone

    from accounts import keycache
    from accounts.models import ApiKey
    from tests.api.conftest import key_for

    now = [1000.0]
    monkeypatch.setattr(keycache, "_clock", lambda: now[0])
    client = Api(key_for(acme, name="Shop"))
    assert client.get("/api/v1/programs").status_code == 200
    ApiKey.objects.filter(name="Shop").update(revoked_at=timezone.now())
    now[0] += keycache.TTL_SECONDS + 1
    assert client.get("/api/v1/programs").status_code == 401
