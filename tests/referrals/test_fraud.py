"""
Fraud guards: a suspicious referral is held for staff review instead of converting, and
earns nothing until approved. Each rule is tested on its own.
"""

import sqlite3
from decimal import Decimal

import pytest
from django.db import connection

from referrals.models import MAILBOX_SQLITE, Mailbox, Referral
from referrals.services import (
    conversion_record,
    hash_ip,
    program_update,
    referral_approve,
    referral_create,
    referral_reject,
)
from referrals.services.referrals import mailbox
from tests.factories import CustomerFactory, ReferralSourceFactory


def lead(program, source, email, **kwargs):
    return referral_create(
        program=program, source=source, channel="link", friend_email=email, **kwargs
    )


def test_a_clean_referral_is_not_held(program, source):
    assert lead(program, source, "fay@example.com").flagged is False


def test_it_holds_a_source_referring_its_own_email(program, source):
    referral = lead(program, source, "SAM@example.com")
    assert referral.flagged and referral.flag_reasons == ["self_referral_email"]


@pytest.mark.parametrize("email", ["sam+friend@example.com", " Sam+2@EXAMPLE.com "])
def test_it_holds_a_source_referring_a_plus_address_of_its_own_email(program, source, email):
    # sam+friend@example.com is delivered to sam@example.com's mailbox: the same person.
    referral = lead(program, source, email)
    assert referral.flagged and referral.flag_reasons == ["self_referral_email"]


def test_a_plus_address_of_someone_else_is_not_a_self_referral(program, source):
    assert not lead(program, source, "samantha+x@example.com").flagged
    assert not lead(program, source, "sam+x@example.org").flagged


def test_it_holds_a_customer_source_referring_its_customer_email(acme, program):
    me = CustomerFactory(organization=acme, email="me@example.com", external_id="C1")
    source = ReferralSourceFactory(organization=acme, name="Me", kind="customer", customer=me)
    assert lead(program, source, "me@example.com").flag_reasons == ["self_referral_email"]


def test_it_holds_a_referral_whose_friend_turns_out_to_be_the_referring_customer(acme, program):
    me = CustomerFactory(organization=acme, email="me@example.com", external_id="C1")
    source = ReferralSourceFactory(organization=acme, name="Me", kind="customer", customer=me)
    referral = lead(program, source, "alias@example.com")
    assert not referral.flagged
    conversion_record(
        referral=referral, kind="purchase", external_id="o1", amount=Decimal("9"), customer=me
    )
    referral.refresh_from_db()
    assert referral.flagged and "self_referral_customer" in referral.flag_reasons
    assert referral.status == "lead"


def test_it_holds_a_referral_whose_friend_is_a_second_customer_record_of_the_source(acme, program):
    # The business knows the referring customer twice (two accounts, one mailbox).
    me = CustomerFactory(organization=acme, email="me@example.com", external_id="C1")
    again = CustomerFactory(organization=acme, email="Me+shop@example.com", external_id="C2")
    source = ReferralSourceFactory(organization=acme, name="Me", kind="customer", customer=me)
    referral = lead(program, source, "alias@example.com")
    conversion_record(
        referral=referral, kind="purchase", external_id="o1", amount=Decimal("9"), customer=again
    )
    referral.refresh_from_db()
    assert referral.flagged and "self_referral_customer" in referral.flag_reasons
    assert referral.status == "lead"


def test_another_customer_of_the_same_domain_is_not_the_source(acme, program):
    me = CustomerFactory(organization=acme, email="me@example.com", external_id="C1")
    friend = CustomerFactory(organization=acme, email="mel+shop@example.com", external_id="C2")
    source = ReferralSourceFactory(organization=acme, name="Me", kind="customer", customer=me)
    referral = lead(program, source, "mel@example.com")
    conversion_record(
        referral=referral, kind="purchase", external_id="o1", amount=Decimal("9"), customer=friend
    )
    referral.refresh_from_db()
    assert not referral.flagged and referral.flag_reasons == []


def test_it_holds_one_device_inventing_several_friends(program, source):
    device = {"ip_hash": hash_ip("10.0.0.9"), "user_agent": "UA/9"}
    assert not lead(program, source, "one@example.com", **device).flagged
    second = lead(program, source, "two@example.com", **device)
    assert second.flag_reasons == ["same_device"]
    other_device = lead(
        program, source, "three@example.com", ip_hash=hash_ip("10.0.0.10"), user_agent="UA/9"
    )
    assert not other_device.flagged


def test_it_holds_a_duplicate_friend(program, source, acme):
    other = ReferralSourceFactory(organization=acme, name="Other", kind="customer")
    lead(program, source, "fay@example.com")
    assert lead(program, other, "FAY@example.com").flag_reasons == ["duplicate_friend"]


@pytest.mark.parametrize(
    "first,again",
    [
        ("ann@example.com", "ann+1@example.com"),
        ("ann+1@example.com", "ann@example.com"),
        ("ann+news@example.com", "Ann+shop@Example.com"),
    ],
)
def test_a_plus_address_of_a_friend_already_referred_is_a_duplicate(
    program, source, acme, first, again
):
    """ann+1@ reaches ann@'s mailbox: the same friend, whoever introduces her (the source
    itself, a day later, or another source), not a new customer to earn a reward on."""
    lead(program, source, first)
    assert lead(program, source, again).flag_reasons == ["duplicate_friend"]
    other = ReferralSourceFactory(organization=acme, name="Other", kind="customer")
    assert lead(program, other, again).flag_reasons == ["duplicate_friend"]


@pytest.mark.parametrize("other", ["anna@example.com", "ann@example.org", "ann1@example.com"])
def test_another_mailbox_is_not_a_duplicate(program, source, other):
    lead(program, source, "ann+1@example.com")
    assert not lead(program, source, other).flagged


def test_a_rejected_referral_is_not_a_duplicate(program, source, acme):
    first = lead(program, source, "fay@example.com")
    referral_reject(referral=first, reason="Wrong person", actor=None)
    other = ReferralSourceFactory(organization=acme, name="Other", kind="customer")
    assert not lead(program, other, "fay@example.com").flagged


def test_it_holds_referrals_beyond_the_velocity_cap(program, source):
    program_update(program=program, velocity_limit_per_hour=3)
    results = [lead(program, source, f"f{n}@example.com").flagged for n in range(5)]
    assert results == [False, False, False, True, True]
    assert Referral.objects.get(friend_email="f3@example.com").flag_reasons == ["velocity"]


def test_a_held_referral_does_not_convert_until_approved(
    program, source, django_capture_on_commit_callbacks
):
    referral = lead(program, source, "sam@example.com")
    with django_capture_on_commit_callbacks() as callbacks:
        conversion_record(
            referral=referral, kind="purchase", external_id="o1", amount=Decimal("50")
        )
    assert callbacks == []  # no reward task was queued
    referral.refresh_from_db()
    assert referral.status == "lead" and referral.flagged
    with django_capture_on_commit_callbacks() as callbacks:
        referral_approve(referral=referral, actor=None)
    referral.refresh_from_db()
    assert referral.status == "converted" and not referral.flagged
    assert len(callbacks) == 1  # now the purchase's reward task is queued


def test_staff_review_the_queue(login, bob, charlie, program, source):
    held = lead(program, source, "sam@example.com")
    clean = lead(program, source, "ok@example.com")
    html = login(charlie).get("/app/referrals/review/").content.decode()
    assert "sam@example.com" in html and "ok@example.com" not in html
    assert login(charlie).post(f"/app/referrals/{held.pk}/approve/").status_code == 403
    client = login(bob)
    client.post(f"/app/referrals/{held.pk}/reject/", {"reason": "Own email", "from": "queue"})
    held.refresh_from_db()
    assert held.status == "rejected" and held.rejection_reason == "Own email"
    assert list(held.events.values_list("to_status", flat=True)) == ["lead", "rejected"]
    assert clean.status == "lead"


@pytest.mark.parametrize("reason", ["", "   "])
def test_rejecting_needs_a_reason(program, source, reason):
    from django.core.exceptions import ValidationError

    referral = lead(program, source, "x@example.com")
    with pytest.raises(ValidationError) as caught:
        referral_reject(referral=referral, reason=reason, actor=None)
    assert sorted(caught.value.message_dict) == ["reason"]


ADDRESSES = [
    "ann@example.com",
    "Ann+Shop@Example.com",
    "ann+a+b@example.com",
    "+tag@example.com",
    "ann+@example.com",
    "o'brien+x@sub.example.co.uk",
    "a.b-c_d+e.f@example.com",
    "ANN@EXAMPLE.COM",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_sql_mailbox_is_the_python_one(program, source, address):
    """The duplicate-friend guard asks PostgreSQL for the mailbox (``Mailbox``, which its
    index holds) and Python for the new address's (``mailbox``): they must agree."""
    referral = Referral.objects.create(
        organization=program.organization,
        program=program,
        source=source,
        channel="link",
        friend_email=address,
    )
    in_sql = Referral.objects.annotate(box=Mailbox("friend_email")).get(pk=referral.pk).box
    assert in_sql == mailbox(address)


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_sqlite_mailbox_is_the_python_one(address):
    """The embedded development database (SQLite) computes the mailbox with its own
    built-in functions (``MAILBOX_SQLITE``), for the same index."""
    with sqlite3.connect(":memory:") as db:
        sql = MAILBOX_SQLITE % {"expressions": "?"}
        (box,) = db.execute(f"SELECT {sql}", [address] * sql.count("?")).fetchone()
    assert box == mailbox(address)


def test_the_duplicate_friend_guard_reads_the_mailbox_index(program, source, acme):
    """The guard runs at every new referral: it finds the friend through the organization's
    mailbox index, not by reading every referral of the program."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO referrals_referral (organization_id, program_id, source_id, "
            "friend_email, friend_name, friend_phone, channel, status, rejection_reason, "
            "flagged, flag_reasons, ip_hash, user_agent, created_at) "
            "SELECT %s, %s, %s, 'f' || g || '+t@example.com', '', '', 'link', 'lead', '', "
            "false, '[]', '', '', now() FROM generate_series(1, 20000) g",
            [acme.pk, program.pk, source.pk],
        )
        cursor.execute("ANALYZE referrals_referral")
    query = (
        Referral.objects.alias(box=Mailbox("friend_email"))
        .filter(organization_id=acme.pk, box=mailbox("F77@example.com"), program=program)
        .exclude(status=Referral.Status.REJECTED)
    )
    plan = query.explain()
    assert "referral_friend_mailbox" in plan, plan
    assert query.count() == 1
    assert lead(
        program, ReferralSourceFactory(organization=acme), "f77@example.com"
    ).flag_reasons == ["duplicate_friend"]
