"""Idempotency-Key on every POST: the first answer is replayed; another body is a 409; two
requests racing with one key do the work once."""

import threading

import pytest
from django.db import connections

from accounts.models import Customer, ReferralSource
from api.models import IdempotencyRecord
from referrals.models import Referral
from tests.api.conftest import Api, error_of, key_for

KEY = {"Idempotency-Key": "create-sam-1"}


def test_the_same_key_and_body_replays_the_first_answer(api):
    first = api.post("/api/v1/sources", {"name": "Sam", "kind": "agent"}, headers=KEY)
    again = api.post("/api/v1/sources", {"name": "Sam", "kind": "agent"}, headers=KEY)
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    assert again["Idempotent-Replayed"] == "true"
    assert ReferralSource.objects.count() == 1


def test_the_same_key_with_another_body_is_a_409(api):
    api.post("/api/v1/sources", {"name": "Sam"}, headers=KEY)
    response = api.post("/api/v1/sources", {"name": "Other"}, headers=KEY)
    assert response.status_code == 409
    error = error_of(response)
    assert (error["type"], error["code"]) == ("idempotency_error", "idempotency_key_reused")
    assert list(ReferralSource.objects.values_list("name", flat=True)) == ["Sam"]


def test_the_same_key_on_another_endpoint_is_a_409(api):
    api.post("/api/v1/sources", {"name": "Sam"}, headers=KEY)
    response = api.post("/api/v1/customers", {"name": "Sam"}, headers=KEY)
    assert response.status_code == 409


def test_a_refused_request_is_replayed_as_refused_and_changed_nothing(api, program, source):
    body = {"source": source.pk, "program": program.pk}  # no friend: refused by the service
    first = api.post("/api/v1/referrals", body, headers=KEY)
    again = api.post("/api/v1/referrals", body, headers=KEY)
    assert first.status_code == again.status_code == 400
    assert first.content == again.content
    assert not Referral.objects.exists()


def test_keys_are_per_organization(api, globex_api):
    api.post("/api/v1/sources", {"name": "Sam"}, headers=KEY)
    response = globex_api.post("/api/v1/sources", {"name": "Sam"}, headers=KEY)
    assert response.status_code == 201
    assert ReferralSource.objects.count() == 2


def test_a_malformed_key_is_a_400(api):
    response = api.post("/api/v1/sources", {"name": "Sam"}, headers={"Idempotency-Key": "k" * 300})
    assert response.status_code == 400
    assert error_of(response)["param"] == "Idempotency-Key"
    assert not ReferralSource.objects.exists()


def test_a_bug_keeps_no_record_so_the_key_can_be_used_again(api, monkeypatch):
    from accounts import services

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "customer_upsert", broken)
    api.client.raise_request_exception = False
    response = api.post("/api/v1/customers", {"external_id": "c-1"}, headers=KEY)
    assert response.status_code == 500
    assert not IdempotencyRecord.objects.exists()
    monkeypatch.undo()
    response = api.post("/api/v1/customers", {"external_id": "c-1"}, headers=KEY)
    assert response.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_two_requests_racing_with_one_key_do_the_work_once(acme):
    """Two threads, two connections, one key: one creates the customer, the other waits on
    the unique index and replays the first answer."""
    from accounts import services

    key = key_for(acme)
    original = services.customer_upsert
    inside = threading.Event()
    release = threading.Event()

    def slow_upsert(**kwargs):
        inside.set()
        release.wait(5)  # hold the first transaction open while the second arrives
        return original(**kwargs)

    services.customer_upsert = slow_upsert
    answers = []

    def send():
        try:
            client = Api(key)
            answers.append(client.post("/api/v1/customers", {"external_id": "c-1"}, headers=KEY))
        finally:
            connections.close_all()

    try:
        first = threading.Thread(target=send)
        first.start()
        assert inside.wait(5)
        services.customer_upsert = original
        second = threading.Thread(target=send)
        second.start()
        second.join(0.5)
        assert second.is_alive()  # waiting on the first request's key
        release.set()
        first.join(10)
        second.join(10)
    finally:
        services.customer_upsert = original
        release.set()
    assert sorted(a.status_code for a in answers) == [201, 201]
    assert answers[0].content == answers[1].content
    assert sum(a.has_header("Idempotent-Replayed") for a in answers) == 1
    assert Customer.objects.filter(external_id="c-1").count() == 1


def test_answers_are_forgotten_after_a_day(api):
    from datetime import timedelta

    from django.utils import timezone

    from api.tasks import purge_idempotency_records

    api.post("/api/v1/sources", {"name": "Sam"}, headers=KEY)
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert purge_idempotency_records() == 1
    assert api.post("/api/v1/sources", {"name": "Other"}, headers=KEY).status_code == 201


def test_a_deadlocked_request_is_run_again_and_answered_once(api, monkeypatch):
    """PostgreSQL aborts one of two deadlocked transactions: its work is rolled back whole,
    so it is run again rather than answered with a 500."""
    from django.db import OperationalError
    from psycopg import errors

    from accounts import services

    original, calls = services.customer_upsert, []

    def deadlocked_once(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            original(**kwargs)  # some work done, then the database gives up on it
            try:
                raise errors.DeadlockDetected("deadlock detected")
            except errors.DeadlockDetected as cause:
                raise OperationalError("deadlock detected") from cause
        return original(**kwargs)

    monkeypatch.setattr(services, "customer_upsert", deadlocked_once)
    response = api.post("/api/v1/customers", {"external_id": "c-1"}, headers=KEY)
    assert response.status_code == 201 and len(calls) == 2
    assert Customer.objects.count() == 1 and IdempotencyRecord.objects.count() == 1


def test_the_same_json_reformatted_replays_the_first_answer(api):
    """The fingerprint compared the raw bytes: the same request re-sent by a client that
    formats its JSON otherwise (another library, a retry through a proxy) was a 409."""
    first = api.post(
        "/api/v1/sources", raw='{"name": "Sam", "kind": "agent", "tags": [1, 2.50]}', headers=KEY
    )
    assert first.status_code == 201
    again = api.post(
        "/api/v1/sources",
        raw='{\n  "tags" : [ 1,2.50 ],\n  "kind":"agent",\n\t"name":"Sam"\n}',
        headers=KEY,
    )
    assert again.status_code == 201 and again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert ReferralSource.objects.count() == 1


@pytest.mark.parametrize(
    "other",
    [
        '{"name": "Sam", "kind": "customer", "tags": [1, 2.50]}',  # another value
        '{"name": "Sam", "kind": "agent", "tags": [2.50, 1]}',  # a list in another order
        '{"name": "Sam", "kind": "agent", "tags": [1, 2.5]}',  # a number written otherwise
        '{"name": "Sam", "kind": "agent", "tags": [1, "2.50"]}',  # a string, not a number
        '{"name": "Sam", "kind": "agent"}',  # a key left out
    ],
)
def test_the_same_key_with_a_different_json_value_is_a_409(api, other):
    body = '{"name": "Sam", "kind": "agent", "tags": [1, 2.50]}'
    assert api.post("/api/v1/sources", raw=body, headers=KEY).status_code == 201
    response = api.post("/api/v1/sources", raw=other, headers=KEY)
    assert response.status_code == 409
    assert ReferralSource.objects.count() == 1


def test_a_body_that_is_not_json_is_compared_byte_for_byte():
    from django.test import RequestFactory

    from api.idempotency import fingerprint

    factory = RequestFactory()

    def of(body: bytes) -> str:
        return fingerprint(factory.post("/api/v1/sources", body, content_type="text/plain"))

    assert of(b"name=Sam") == of(b"name=Sam") != of(b"name=Sam ")
    assert of(b'{"a": 1}') == of(b'{ "a":1 }') != of(b"{'a': 1}")


def test_a_key_stored_before_json_was_compared_parsed_is_still_replayed(api):
    """A record stored with the raw body's fingerprint (within the day before the change)
    still answers the same request sent again."""
    from django.test import RequestFactory

    from api.idempotency import raw_fingerprint

    body = '{"name": "Sam", "kind": "agent"}'
    first = api.post("/api/v1/sources", raw=body, headers=KEY)
    legacy = raw_fingerprint(
        RequestFactory().post("/api/v1/sources", body, content_type="application/json")
    )
    IdempotencyRecord.objects.update(fingerprint=legacy)
    again = api.post("/api/v1/sources", raw=body, headers=KEY)
    assert again.status_code == 201 and again.content == first.content
    assert ReferralSource.objects.count() == 1
