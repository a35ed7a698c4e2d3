"""
The last owner cannot be demoted, even when two owners demote each other at the same moment:
each change counts the owners left while the other's change is not committed yet. On the
real PostgreSQL, two threads with their own connections and transactions.
"""

import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections, transaction

from accounts.models import Membership, Role
from accounts.services import membership_change_role
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_two_owners_demoting_each_other_at_once_leave_one_owner(acme, alice):
    dora = UserFactory(email="dora@example.com")
    MembershipFactory(user=dora, organization=acme, role=Role.OWNER)
    alices = Membership.objects.get(user=alice, organization=acme)
    doras = Membership.objects.get(user=dora, organization=acme)
    results = {}
    first_changed = threading.Event()
    release_first = threading.Event()

    def first():
        try:
            with transaction.atomic():
                results["first"] = membership_change_role(
                    membership=doras, role=Role.MANAGER, by=alices
                )
                first_changed.set()
                release_first.wait(timeout=30)  # commit only once the second has started
        finally:
            connections.close_all()

    def second():
        try:
            results["second"] = membership_change_role(
                membership=alices, role=Role.MANAGER, by=doras
            )
        except (PermissionDenied, ValidationError) as error:
            results["second"] = error
        finally:
            connections.close_all()

    one = threading.Thread(target=first)
    one.start()
    assert first_changed.wait(timeout=30)
    two = threading.Thread(target=second)
    two.start()
    # The second waits for the first's lock (fixed), or has already finished (the bug).
    wait_for(lambda: waiting_on_a_lock() > 0 or not two.is_alive(), timeout=10)
    release_first.set()
    one.join(timeout=30)
    two.join(timeout=30)

    # Dora is no longer an owner once the first change commits: she changes no role.
    assert isinstance(results["second"], PermissionDenied)
    assert Membership.objects.filter(organization=acme, role=Role.OWNER).count() == 1


def test_a_member_who_is_no_longer_an_owner_changes_no_role(acme, alice):
    dora = UserFactory(email="dora@example.com")
    doras = MembershipFactory(user=dora, organization=acme, role=Role.OWNER)
    alices = Membership.objects.get(user=alice, organization=acme)
    # Alice's request was let in as an owner; Dora demoted her before it reached the service.
    membership_change_role(membership=alices, role=Role.MANAGER, by=doras)
    alices.refresh_from_db()
    with pytest.raises(PermissionDenied):
        membership_change_role(membership=doras, role=Role.ANALYST, by=alices)
    assert Membership.objects.get(pk=doras.pk).role == Role.OWNER
