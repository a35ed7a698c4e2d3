"""
/healthz: the database, the cache (Redis) and the Celery broker, each checked for real; 200
when all answer, 503 naming what is down, never a 500, never a sign-in, never tenant data.
"""

import json

import pytest
from django.db import connections
from django.test import override_settings

from config.celery import app

ALL_OK = {"status": "ok", "database": "ok", "cache": "ok", "broker": "ok"}
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1
DEAD_CACHE = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}
}


@pytest.fixture
def dead_broker(monkeypatch):
    monkeypatch.setitem(app.conf, "broker_url", DEAD_REDIS)


def test_it_answers_ok_when_everything_is_up(client, db, acme):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == ALL_OK
    assert "no-cache" in response["Cache-Control"]
    assert "Set-Cookie" not in response.headers  # no session, nobody signed in
    assert acme.name not in response.content.decode()


def test_it_names_the_cache_when_redis_is_down(client, db, caplog):
    with override_settings(CACHES=DEAD_CACHE):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert json.loads(response.content) == {
        "status": "down",
        "database": "ok",
        "cache": "down",
        "broker": "ok",
        "down": ["cache"],
    }
    assert "health check cache failed" in caplog.text
    assert "127.0.0.1:1" not in response.content.decode()  # details go to the log only


def test_it_names_the_broker_when_the_broker_is_down(client, db, dead_broker):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert json.loads(response.content)["down"] == ["broker"]


def test_it_names_both_when_redis_is_down_for_cache_and_broker(client, db, dead_broker):
    with override_settings(CACHES=DEAD_CACHE):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["down"] == ["cache", "broker"] and body["database"] == "ok"


def test_it_names_the_database_when_postgresql_is_unreachable(client, transactional_db):
    connection = connections["default"]
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["down"] == ["database"] and body["cache"] == "ok"


def test_it_answers_only_reads(client, db):
    assert client.post("/healthz").status_code == 405
    assert client.head("/healthz").status_code == 200


@override_settings(SECURE_SSL_REDIRECT=True)
def test_a_plain_http_probe_is_answered_not_redirected(client, db):
    assert client.get("/").status_code == 301
    assert client.get("/healthz").status_code == 200


def test_it_asks_redis_itself_not_the_fail_safe_cache_that_hides_it(client, db):
    """Production's cache is core.cache.FailSafeRedisCache, which serves misses for a few
    seconds after any error: the check must ping Redis, not read through that cache, or a
    Redis back up after a blip is reported down (and the instance taken out) meanwhile."""
    from django.conf import settings

    from core import cache as fail_safe

    assert settings.CACHES["default"]["BACKEND"] == "core.cache.FailSafeRedisCache"
    name = settings.CACHES["default"]["LOCATION"]
    fail_safe._down_until[name] = 10**12  # the cache still "remembers" a blip
    try:
        response = client.get("/healthz")
    finally:
        fail_safe._down_until.pop(name, None)
    assert json.loads(response.content) == ALL_OK


def test_a_fail_safe_cache_on_a_dead_redis_is_reported_down(client, db):
    dead = {"default": {**DEAD_CACHE["default"], "BACKEND": "core.cache.FailSafeRedisCache"}}
    with override_settings(CACHES=dead):
        response = client.get("/healthz")
    assert response.status_code == 503 and json.loads(response.content)["cache"] == "down"


@override_settings(ALLOWED_HOSTS=["advocate.example"])
def test_a_probe_by_the_instances_own_address_is_answered(client, db):
    """Balancers and orchestrators probe an instance at its address (Host: 10.0.0.5:8000),
    which ALLOWED_HOSTS never lists: CommonMiddleware answered them 400, and every instance
    was reported unhealthy. Other pages still refuse such a host."""
    response = client.get("/healthz", HTTP_HOST="10.0.0.5:8000")
    assert response.status_code == 200 and json.loads(response.content) == ALL_OK
    assert response["X-Content-Type-Options"] == "nosniff"
    assert client.get("/", HTTP_HOST="10.0.0.5:8000").status_code == 400
