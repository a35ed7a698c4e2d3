"""
A contribution is rewarded once, even when the Grant button is pressed twice at once: the
second grant is a form error ("rewarded already"), not a server error. On the real
PostgreSQL, two threads with their own connections and transactions.
"""

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connections, transaction

from rewards.models import Reward
from rewards.services import reward_grant_manual
from tests.factories import InsiderContributionFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_grants_for_one_contribution_at_once_reward_it_once(acme, alice, source, monkeypatch):
    # The reward's email would be queued for real on commit, and a Celery worker another
    # test started could still be sending it while this test's tables are emptied.
    monkeypatch.setattr("rewards.services.lifecycle.enqueue_on_commit", lambda *a, **kw: None)
    contribution = InsiderContributionFactory(organization=acme, source=source)
    results = {}
    first_granted = threading.Event()
    release_first = threading.Event()

    def grant():
        return reward_grant_manual(
            organization=acme,
            source=source,
            amount=Decimal("50.00"),
            note="Thanks for the tip",
            actor=alice,
            contribution=contribution,
        )

    def first():
        try:
            with transaction.atomic():
                results["first"] = grant()
                first_granted.set()
                release_first.wait(timeout=30)
        finally:
            connections.close_all()

    def second():
        try:
            results["second"] = grant()
        except Exception as error:  # noqa: BLE001 - which error is what the test checks
            results["second"] = error
        finally:
            connections.close_all()

    one = threading.Thread(target=first)
    one.start()
    assert first_granted.wait(timeout=30)
    two = threading.Thread(target=second)
    two.start()
    two.join(timeout=1)  # it waits for the first (or has failed already)
    release_first.set()
    one.join(timeout=30)
    two.join(timeout=30)

    assert isinstance(results["second"], ValidationError), results["second"]
    assert "rewarded already" in " ".join(results["second"].messages)
    assert Reward.objects.filter(contribution=contribution).count() == 1
