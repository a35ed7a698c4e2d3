"""The API's cast: Acme's keys (read and write, read only, write only) and Globex's key,
and a client that speaks JSON with a key.

Every endpoint is tried with Globex's key on Acme's ids (a 404, never a 403 that would
confirm the id exists), with a key lacking the scope, and with bad input.
"""

import json

import pytest
from django.test import Client

from accounts.services import api_key_create


class Api:
    """A test client for /api/v1/ with one API key."""

    def __init__(self, key: str | None):
        self.key = key
        self.client = Client()

    def headers(self, extra=None) -> dict:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.key}"} if self.key else {}
        for name, value in (extra or {}).items():
            headers["HTTP_" + name.upper().replace("-", "_")] = value
        return headers

    def get(self, path, params=None, headers=None):
        return self.client.get(path, params or {}, **self.headers(headers))

    def post(self, path, body=None, headers=None, raw: bytes | str | None = None):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(
            path, data, content_type="application/json", **self.headers(headers)
        )

    def patch(self, path, body=None, headers=None):
        return self.client.patch(
            path, json.dumps(body or {}), content_type="application/json", **self.headers(headers)
        )


def key_for(organization, scopes=("read", "write"), name="Shop backend") -> str:
    return api_key_create(
        organization=organization, name=name, scopes=list(scopes), created_by=None
    )[1]


@pytest.fixture
def api(acme):
    return Api(key_for(acme))


@pytest.fixture
def read_only(acme):
    return Api(key_for(acme, ["read"], "Reporting"))


@pytest.fixture
def write_only(acme):
    return Api(key_for(acme, ["write"], "Importer"))


@pytest.fixture
def globex_api(globex):
    return Api(key_for(globex))


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"type", "code", "message", "param"} <= set(body["error"]), body
    return body["error"]


def queued_reward_conversions() -> list[int]:
    """The conversions whose rewards the outbox holds a task for (one each, or a batch's)."""
    from core.models import OutboxMessage
    from referrals.services import REWARD_TASK, REWARDS_TASK

    ids: list[int] = []
    for message in OutboxMessage.objects.filter(task__in=[REWARD_TASK, REWARDS_TASK]).order_by(
        "pk"
    ):
        ids += message.args[0] if message.task == REWARDS_TASK else [message.args[0]]
    return ids


def run_reward_tasks() -> int:
    """Run the reward tasks the outbox holds, as the Celery worker would after the commit
    (the API queues them; it does not issue rewards inside the request). Returns how many
    conversions they covered."""
    from core.models import OutboxMessage
    from referrals.services import REWARD_TASK, REWARDS_TASK
    from rewards.services import issue_rewards_for_conversion

    ids = queued_reward_conversions()
    for conversion_id in ids:
        issue_rewards_for_conversion(conversion_id=conversion_id)
    OutboxMessage.objects.filter(task__in=[REWARD_TASK, REWARDS_TASK]).delete()
    return len(ids)
