"""/api/v1/referrals: introductions by email, phone, in person or API; filtered lists."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ReferralSource
from core.models import OutboxMessage
from referrals.models import Referral
from referrals.services import referral_create
from referrals.services.referrals import INTRODUCTION_TASK
from tests.api.conftest import error_of


def test_it_records_an_introduction(api, program, source, mailoutbox):
    response = api.post(
        "/api/v1/referrals",
        {
            "source": source.pk,
            "program": program.pk,
            "channel": "phone",
            "friend_name": "Fran",
            "friend_phone": "+31 20 123",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["channel"], body["status"], body["friend_name"]) == ("phone", "lead", "Fran")
    assert Referral.objects.get().events.get().actor_label == "api"


def test_it_holds_a_self_referral_for_review(api, program, source):
    response = api.post(
        "/api/v1/referrals",
        {"source": source.pk, "program": program.pk, "friend_email": source.email},
    )
    assert response.status_code == 201 and response.json()["flagged"] is True


def test_a_paused_program_takes_no_referrals(api, program, source):
    program.status = "paused"
    program.save()
    response = api.post(
        "/api/v1/referrals",
        {"source": source.pk, "program": program.pk, "friend_email": "f@example.com"},
    )
    assert response.status_code == 400
    assert "not taking referrals" in error_of(response)["message"]
    assert not Referral.objects.exists()


def test_it_filters_the_list(api, program, source, acme):
    other = ReferralSource.objects.create(organization=acme, name="O", kind="agent")
    old = referral_create(program=program, source=source, channel="api", friend_email="a@x.com")
    Referral.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    new = referral_create(program=program, source=other, channel="api", friend_email="b@x.com")
    Referral.objects.filter(pk=new.pk).update(status="converted")

    def ids(**params):
        return [r["id"] for r in api.get("/api/v1/referrals", params).json()["results"]]

    assert ids() == [new.pk, old.pk]
    assert ids(status="converted") == [new.pk]
    assert ids(source=source.pk) == [old.pk]
    assert ids(program=program.pk) == [new.pk, old.pk]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(created_after=since) == [new.pk] and ids(created_before=since) == [old.pk]
    assert api.get(f"/api/v1/referrals/{old.pk}").json()["friend_email"] == "a@x.com"


def test_the_list_costs_a_bounded_number_of_queries(
    api, program, acme, django_assert_max_num_queries
):
    for n in range(30):
        s = ReferralSource.objects.create(organization=acme, name=f"S{n}", kind="agent")
        referral_create(program=program, source=s, channel="api", friend_email=f"f{n}@x.com")
    with django_assert_max_num_queries(4):
        assert len(api.get("/api/v1/referrals", {"limit": 100}).json()["results"]) == 30


def test_an_introduction_replays_under_its_idempotency_key(api, program, source):
    body = {"source": source.pk, "program": program.pk, "friend_email": "f@example.com"}
    headers = {"Idempotency-Key": "intro-1"}
    first = api.post("/api/v1/referrals", body, headers=headers)
    again = api.post("/api/v1/referrals", body, headers=headers)
    assert first.content == again.content and Referral.objects.count() == 1


def test_the_same_introduction_again_is_the_same_lead_not_a_held_duplicate(
    api, program, source, acme
):
    """The same friend from the same source into the same program within a day (a retry
    without an Idempotency-Key): 200 with the first referral, no second email. Another
    source's introduction of that friend is still a new referral held as a duplicate."""
    body = {"source": source.pk, "program": program.pk, "friend_email": "Dirk@Friend.example"}
    first = api.post("/api/v1/referrals", {**body, "channel": "email"})
    again = api.post("/api/v1/referrals", {**body, "channel": "email"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() and first.json()["flagged"] is False
    assert Referral.objects.count() == 1
    # One introduction email queued, not two.
    assert OutboxMessage.objects.filter(task=INTRODUCTION_TASK).count() == 1

    other = ReferralSource.objects.create(organization=acme, name="Olive", kind="customer")
    theirs = api.post("/api/v1/referrals", {**body, "source": other.pk, "channel": "email"})
    assert theirs.status_code == 201 and theirs.json()["flagged"] is True

    # A day later the same source's introduction is a new touch (held: the friend is known).
    Referral.objects.filter(pk=first.json()["id"]).update(
        created_at=timezone.now() - timedelta(days=1, minutes=1)
    )
    later = api.post("/api/v1/referrals", {**body, "channel": "email"})
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]


def test_the_same_introduction_committed_by_a_racing_request_is_answered_200(api, program, source):
    """A partner's retry that waits on the first request (same source, same friend) gets
    the first referral. It was answered 201 whenever that referral was made after the retry
    started, which is what a race is: the partner counted two new leads for one."""
    first = referral_create(
        program=program, source=source, channel="api", friend_email="race@example.com"
    )
    # Made by the request the retry waited for: after the retry started.
    Referral.objects.filter(pk=first.pk).update(created_at=timezone.now() + timedelta(seconds=2))
    response = api.post(
        "/api/v1/referrals",
        {"source": source.pk, "program": program.pk, "friend_email": "race@example.com"},
    )
    assert response.status_code == 200 and response.json()["id"] == first.pk
    assert Referral.objects.count() == 1


# A friend's name is a name (tests/referrals/test_friend_names.py has the rest).
@pytest.mark.parametrize(
    "name", ["Fran https://spam.example", "Fran fran@spam.example", "Fran\nline", "F" * 201]
)
def test_the_api_refuses_a_name_that_is_not_a_name(api, program, source, name):
    response = api.post(
        "/api/v1/referrals",
        {
            "source": source.pk,
            "program": program.pk,
            "channel": "email",
            "friend_name": name,
            "friend_email": "fran@example.org",
        },
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == "friend_name"
    assert not Referral.objects.exists()
