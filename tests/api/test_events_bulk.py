"""
/api/v1/events/bulk takes most events set-based (``referrals.services.events_record_many``):
every event answered, and every row written, exactly as the same events sent one at a time.

Two organizations get the same world (programs, sources, referrals, customers, an order);
Acme is sent the events one by one, Globex in one bulk; the answers and the stored rows,
named by what they are rather than by their ids, must be the same.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Customer, ReferralSource
from core.models import OutboxMessage
from referrals.models import Conversion, Program, Purchase, Referral, ReferralEvent
from referrals.services import (
    REWARDS_TASK,
    event_record,
    link_get_or_create,
    program_create,
    referral_create,
)
from rewards.models import Reward
from rewards.services import rule_create
from rewards.tasks import issue_rewards_for_conversions
from tests.api.conftest import queued_reward_conversions


@pytest.fixture
def base():
    return timezone.now().replace(microsecond=0) - timedelta(hours=1)


def world(org, base):
    """Programs, sources and referrals, made the same way in any organization."""
    last = program_create(
        organization=org, name="Last touch", attribution_window_days=30, velocity_limit_per_hour=999
    )
    first = program_create(
        organization=org,
        name="First touch",
        attribution_window_days=30,
        attribution_model="first_touch",
        velocity_limit_per_hour=999,
    )
    rule_create(program=last, trigger="first_purchase", amount=Decimal("10"))
    sam = ReferralSource.objects.create(organization=org, name="Sam", kind="customer")
    tia = ReferralSource.objects.create(organization=org, name="Tia", kind="partner")
    link_get_or_create(program=last, source=sam)

    def introduce(program, source, email, days_ago):
        referral = referral_create(
            program=program, source=source, channel="phone", friend_email=email
        )
        Referral.objects.filter(pk=referral.pk).update(created_at=base - timedelta(days=days_ago))

    introduce(last, sam, "ann@x.test", 5)
    introduce(last, sam, "bob@x.test", 6)
    introduce(last, tia, "bob@x.test", 3)  # the later touch wins bob
    introduce(last, tia, "cat@x.test", 2)
    Customer.objects.create(
        organization=org, email="cat@x.test", first_seen_at=base - timedelta(days=100)
    )
    introduce(last, sam, "dan@x.test", 9)
    event_record(  # dan was won before the batch
        organization=org,
        kind="purchase",
        external_id="d-0",
        amount=Decimal("50"),
        email="dan@x.test",
        occurred_at=base - timedelta(days=8),
    )
    introduce(last, sam, "eli@x.test", 60)  # outside the window
    introduce(first, sam, "fay@x.test", 10)
    introduce(first, tia, "fay@x.test", 4)  # first touch: sam keeps fay
    introduce(last, tia, "gus@x.test", 1)
    introduce(last, sam, "ida@x.test", 15)
    Customer.objects.create(
        organization=org,
        email="ida@x.test",
        external_id="c-ida",
        name="",
        first_seen_at=base - timedelta(days=12),
    )
    # Sal refers "alias", and the business knows Sal twice: the friend's account is Sal's.
    sal = ReferralSource.objects.create(
        organization=org,
        name="Sal",
        kind="customer",
        customer=Customer.objects.create(
            organization=org,
            email="sal@x.test",
            external_id="c-sal",
            first_seen_at=base - timedelta(days=200),
        ),
    )
    introduce(last, sal, "alias@x.test", 2)
    Customer.objects.create(
        organization=org,
        email="Sal+shop@x.test",
        external_id="c-sal-2",
        first_seen_at=base - timedelta(days=1),
    )
    event_record(
        organization=org,
        kind="purchase",
        external_id="k-0",
        amount=Decimal("80"),
        email="kim@x.test",
        occurred_at=base - timedelta(days=3),
    )


def events(base, code):
    def at(hours):
        return (base + timedelta(minutes=hours)).isoformat()

    return [
        {
            "id": "a-1",
            "type": "purchase",
            "email": "ann@x.test",
            "customer_external_id": "c-ann",
            "name": "Ann",
            "amount": "100.00",
            "occurred_at": at(1),
        },
        {
            "id": "a-2",
            "type": "purchase",
            "customer_external_id": "c-ann",
            "amount": "20.00",
            "occurred_at": at(2),
        },
        {"id": "g-1", "type": "signup", "email": "gus@x.test", "occurred_at": at(3)},
        {
            "id": "g-2",
            "type": "purchase",
            "email": "gus@x.test",
            "amount": "30.00",
            "occurred_at": at(4),
        },
        {
            "id": "b-1",
            "type": "purchase",
            "email": "BOB@x.test",
            "amount": "40.00",
            "occurred_at": at(5),
        },
        {
            "id": "c-1",
            "type": "purchase",
            "email": "cat@x.test",
            "amount": "50.00",
            "occurred_at": at(6),
        },  # known before her referral: advocacy
        {
            "id": "d-1",
            "type": "purchase",
            "email": "dan@x.test",
            "amount": "60.00",
            "occurred_at": at(7),
        },  # won before: credited to the same referral
        {
            "id": "e-1",
            "type": "purchase",
            "email": "eli@x.test",
            "amount": "70.00",
            "occurred_at": at(8),
        },  # outside the window: stored, credited to no one
        {
            "id": "w-1",
            "type": "purchase",
            "email": "walk@x.test",
            "amount": "5.00",
            "occurred_at": at(9),
        },
        {
            "id": "f-1",
            "type": "purchase",
            "email": "fay@x.test",
            "amount": "80.00",
            "occurred_at": at(10),
        },
        {
            "id": "h-1",
            "type": "purchase",
            "email": "hal@x.test",
            "amount": "90.00",
            "code": code,
            "occurred_at": at(11),
        },  # by code: one by one
        {"id": "x-1", "type": "purchase", "email": "bad@x.test", "amount": "-1"},
        {
            "id": "w-1",
            "type": "purchase",
            "email": "walk@x.test",
            "amount": "5.00",
            "occurred_at": at(12),
        },  # the same id again in the batch
        {
            "id": "i-1",
            "type": "purchase",
            "customer_external_id": "c-ida",
            "name": "Ida",
            "amount": "15.00",
            "occurred_at": (base - timedelta(days=14)).isoformat(),
        },
        {
            "id": "k-r",
            "type": "refund",
            "refund_of": "k-0",
            "amount": "10.00",
            "occurred_at": at(13),
        },  # a refund: one by one, with its customer
        {
            "id": "k-1",
            "type": "purchase",
            "email": "kim@x.test",
            "amount": "11.00",
            "occurred_at": at(14),
        },
        {
            "id": "j-1",
            "type": "purchase",
            "email": "jo@x.test",
            "amount": "12.00",
            "cookie": code,
            "occurred_at": at(15),
        },  # by the link's cookie: one by one
        {
            "id": "a-r",
            "type": "refund",
            "refund_of": "a-1",
            "amount": "10.00",
            "occurred_at": at(16),
        },  # a refund of an order of this batch: all of ann's events one by one, in order
        {
            "id": "n-1",
            "type": "signup",
            "email": "new@x.test",
            "customer_external_id": "c-new",
            "occurred_at": at(17),
        },  # a signup nobody referred: a new customer, no conversion
        {
            "id": "s-1",
            "type": "purchase",
            "email": "alias@x.test",
            "customer_external_id": "c-sal-2",
            "amount": "25.00",
            "occurred_at": at(18),
        },  # Sal's own second account: held as a self-referral, one by one
    ]


def named(org, status, body) -> tuple:
    """An answer, with its ids replaced by what they name."""
    if status >= 400:
        return (status, body["error"]["param"])
    referral = Referral.objects.filter(pk=body["referral"]).first()
    customer = Customer.objects.filter(pk=body["customer"]).first()
    conversion = body["conversion"]
    return (
        status,
        body["id"],
        body["type"],
        body["stored"],
        body["duplicate"],
        body["rewards_pending"],
        len(body["rewards"]),
        (referral.friend_email, referral.source.name, referral.program.name) if referral else None,
        (customer.email, customer.external_id) if customer else None,
        {k: v for k, v in conversion.items() if k not in ("id", "currency")}
        if conversion
        else None,
    )


def stored(org) -> dict:
    """Every row the events wrote, named by what it is."""

    def ref(r):
        return (r.friend_email, r.source.name, r.program.name) if r else None

    return {
        "customers": sorted(
            (c.email, c.external_id, c.name, c.first_seen_at, c.is_referred)
            for c in Customer.objects.filter(organization=org)
        ),
        "referrals": sorted(
            (
                *ref(r),
                r.status,
                r.friend.email if r.friend else None,
                r.signed_up_at,
                r.converted_at,
                r.flagged,
            )
            for r in Referral.objects.filter(organization=org).select_related("source", "program")
        ),
        "purchases": sorted(
            (p.external_id, p.customer.email, p.kind, p.amount, p.occurred_at)
            for p in Purchase.objects.filter(organization=org).select_related("customer")
        ),
        "conversions": sorted(
            (
                c.external_id,
                ref(c.referral),
                c.kind,
                c.is_first_purchase,
                c.customer.email,
                c.source.name,
            )
            for c in Conversion.objects.filter(organization=org).select_related(
                "referral__source", "referral__program", "customer", "source"
            )
        ),
        "history": sorted(
            (ref(e.referral), e.from_status, e.to_status, e.actor_label, e.note)
            for e in ReferralEvent.objects.filter(organization=org).select_related(
                "referral__source", "referral__program"
            )
        ),
        "reward_tasks": sorted(
            c.external_id
            for c in Conversion.objects.filter(organization=org, pk__in=queued_reward_conversions())
        ),
    }


def test_a_bulk_answers_and_stores_exactly_what_the_same_events_one_by_one_do(
    api, globex_api, acme, globex, base, monkeypatch
):
    world(acme, base)
    world(globex, base)
    OutboxMessage.objects.all().delete()
    acme_code = _code(acme)
    globex_code = _code(globex)

    one_by_one = []
    for event in events(base, acme_code):
        response = api.post("/api/v1/events", event)
        one_by_one.append(named(acme, response.status_code, response.json()))

    calls = []

    def spy(**kwargs):
        calls.append(kwargs["external_id"])
        return event_record(**kwargs)

    monkeypatch.setattr("api.events.event_record", spy)
    response = globex_api.post("/api/v1/events/bulk", {"events": events(base, globex_code)})
    assert response.status_code == 200
    in_bulk = [
        named(globex, item["status"], item["result"] or {"error": item["error"]})
        for item in response.json()["results"]
    ]

    assert in_bulk == one_by_one
    assert stored(globex) == stored(acme)
    # The set-based pass took all but the code, the cookie, the refunds and their customers'
    # events, the id sent twice (the bad event never reached the domain).
    assert sorted(calls) == [
        *("a-1", "a-2", "a-r", "h-1", "j-1", "k-1", "k-r", "s-1", "w-1", "w-1")
    ]
    # Spot checks that the comparison covers the rules, not only agreement.
    answers = {a[1]: a for a in in_bulk if len(a) > 2 and a[0] == 201}
    assert answers["a-1"][7] == ("ann@x.test", "Sam", "Last touch")
    assert answers["a-1"][9]["is_first_purchase"] is True
    assert answers["b-1"][7][1] == "Tia"
    assert answers["c-1"][9]["kind"] == "advocacy"
    assert answers["d-1"][7] == ("dan@x.test", "Sam", "Last touch")
    assert answers["e-1"][7] is None and answers["w-1"][7] is None
    assert answers["f-1"][7][1] == "Sam"
    sal = Referral.objects.get(organization=globex, friend_email="alias@x.test")
    assert sal.flagged and sal.flag_reasons == ["self_referral_customer"]
    ida = Customer.objects.get(organization=globex, external_id="c-ida")
    assert (ida.name, ida.first_seen_at) == ("Ida", base - timedelta(days=14))


def _code(org) -> str:
    return link_get_or_create(
        program=Program.objects.get(organization=org, name="Last touch"),
        source=ReferralSource.objects.get(organization=org, name="Sam"),
    ).code


def test_a_bulk_sent_again_creates_nothing_and_answers_each_event_a_duplicate(
    globex_api, globex, base
):
    world(globex, base)
    body = {"events": events(base, _code(globex))}
    first = globex_api.post("/api/v1/events/bulk", body).json()["results"]
    before = stored(globex)
    again = globex_api.post("/api/v1/events/bulk", body).json()["results"]
    assert stored(globex) == before
    for one, two in zip(first, again, strict=True):
        if one["status"] == 400:
            assert two["status"] == 400
        else:
            # Known, except a signup nobody referred: it recorded nothing to know it by.
            known = one["result"]["stored"] or one["result"]["duplicate"]
            assert (two["status"], two["result"]["duplicate"], two["result"]["stored"]) == (
                200,
                known,
                False,
            )
            assert known or one["result"]["type"] == "signup"
            assert two["result"]["conversion"] == one["result"]["conversion"]
            assert two["result"]["referral"] == one["result"]["referral"]


@pytest.mark.parametrize("size", [10, 300])
def test_a_bulk_of_new_events_costs_the_same_few_statements_whatever_its_size(
    api, acme, program, source, fixed_rule, size, django_assert_max_num_queries
):
    Referral.objects.bulk_create(
        [
            Referral(
                organization=acme,
                program=program,
                source=source,
                channel="api",
                friend_email=f"f{n}@x.test",
            )
            for n in range(size)
        ]
    )
    batch = [
        {"id": f"o-{n}", "type": "purchase", "email": f"f{n}@x.test", "amount": "10.00"}
        for n in range(size)
    ]
    batch += [{"id": "walk-in", "type": "purchase", "email": "w@x.test", "amount": "1.00"}]
    with django_assert_max_num_queries(21):
        results = api.post("/api/v1/events/bulk", {"events": batch}).json()["results"]
    assert [r["status"] for r in results] == [201] * (size + 1)
    assert all(r["result"]["rewards_pending"] for r in results[:size])
    assert Conversion.objects.filter(is_first_purchase=True).count() == size
    assert Referral.objects.filter(status="converted").count() == size
    assert Customer.objects.filter(is_referred=True).count() == size
    # One reward task per hundred conversions, run here as the worker runs it.
    messages = list(OutboxMessage.objects.filter(task=REWARDS_TASK))
    assert len(messages) == -(-size // 100)
    for message in messages:
        issue_rewards_for_conversions(*message.args)
    assert Reward.objects.filter(status="fulfilled").count() == size


def test_a_bulk_that_loses_a_race_for_an_event_runs_again_and_answers_it_a_duplicate(
    acme, program, source, monkeypatch
):
    from referrals.services import attribution_bulk, events_record_many

    for n in range(3):
        referral_create(
            program=program, source=source, channel="phone", friend_email=f"f{n}@x.test"
        )
    # Another request stores o-1 while this batch runs: its first pass does not know o-1, so
    # its insert fails on the unique constraint; the pass is rolled back and run again.
    event_record(
        organization=acme,
        kind="purchase",
        external_id="o-1",
        amount=Decimal("5"),
        email="f1@x.test",
    )
    real = attribution_bulk.event_ids_recorded
    passes = []

    def known_ids(*, organization, ids):
        passes.append(ids)
        return set() if len(passes) == 1 else real(organization=organization, ids=ids)

    monkeypatch.setattr(attribution_bulk, "event_ids_recorded", known_ids)
    batch = [
        {
            "kind": "purchase",
            "external_id": f"o-{n}",
            "amount": Decimal("10"),
            "email": f"f{n}@x.test",
        }
        for n in range(3)
    ]
    results = events_record_many(organization=acme, events=batch)
    assert len(passes) == 2
    assert results[1] is None  # known now: event_record answers it as a duplicate
    assert [r.created for r in (results[0], results[2])] == [True, True]
    assert Purchase.objects.filter(external_id="o-1").count() == 1
    assert Conversion.objects.count() == 3


def test_a_bulk_answers_each_conversion_as_it_was_stored(api, acme, program, source):
    """The answer of a new conversion is written from what the batch inserted (no model
    read back): it must say what the stored row says, signups (no purchase) included."""
    for n in range(2):
        referral_create(
            program=program, source=source, channel="phone", friend_email=f"f{n}@x.test"
        )
    batch = [
        {"id": "s-0", "type": "signup", "email": "f0@x.test"},
        {"id": "o-0", "type": "purchase", "email": "f0@x.test", "amount": "12.50"},
        {"id": "o-1", "type": "purchase", "email": "f1@x.test", "amount": "7"},
        {"id": "o-2", "type": "purchase", "email": "f1@x.test", "amount": "3.10"},
    ]
    results = api.post("/api/v1/events/bulk", {"events": batch}).json()["results"]
    assert [r["status"] for r in results] == [201] * 4
    for result in (r["result"] for r in results):
        stored = Conversion.objects.select_related("purchase", "referral").get(
            external_id=result["id"]
        )
        assert result["conversion"] == {
            "id": stored.pk,
            "kind": stored.kind,
            "amount": f"{stored.amount:.2f}",
            "currency": acme.currency,
            "occurred_at": stored.occurred_at.isoformat().replace("+00:00", "Z"),
            "is_first_purchase": stored.is_first_purchase,
        }
        assert (result["customer"], result["referral"], result["source"], result["program"]) == (
            stored.customer_id,
            stored.referral_id,
            stored.referral.source_id,
            stored.referral.program_id,
        )
    assert [r["result"]["conversion"]["amount"] for r in results] == [
        "0.00",
        "12.50",
        "7.00",
        "3.10",
    ]


def test_a_bulk_runs_without_garbage_collection_and_turns_it_back_on(api, monkeypatch):
    import gc

    import api.views.events as views

    seen = []
    real = views.events.ingest_many

    def spy(**kwargs):
        seen.append(gc.isenabled())
        return real(**kwargs)

    monkeypatch.setattr(views.events, "ingest_many", spy)
    batch = [{"id": "o-1", "type": "purchase", "email": "w@x.test", "amount": "1.00"}]
    assert gc.isenabled()
    assert api.post("/api/v1/events/bulk", {"events": batch}).status_code == 200
    assert seen == [False]
    assert gc.isenabled()

    def fails(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.events, "ingest_many", fails)
    with pytest.raises(RuntimeError):
        api.post("/api/v1/events/bulk", {"events": batch})
    assert gc.isenabled()


def test_off_postgresql_a_bulk_leaves_every_event_to_the_one_by_one_path(acme, monkeypatch):
    """bin/dev's SQLite has no arrays, advisory locks or planner settings: there every event
    of a bulk goes the single event's way (the same answers), the batch path writes nothing."""
    from django.db import connection

    from referrals.services import events_record_many

    monkeypatch.setattr(connection, "vendor", "sqlite")
    events = [
        {"kind": "purchase", "external_id": f"o-{n}", "amount": "5.00", "email": f"{n}@x.test"}
        for n in range(3)
    ]
    assert events_record_many(organization=acme, events=events) == [None, None, None]
    assert not Customer.objects.filter(organization=acme, email="0@x.test").exists()


def test_a_bulk_stores_each_event_at_the_instant_it_gives_to_the_microsecond(
    api, acme, program, source
):
    """The batch writes times as ISO text cast back by PostgreSQL: an offset other than UTC
    and microseconds must arrive as the same instant, in the purchase and the conversion."""
    referral_create(program=program, source=source, channel="phone", friend_email="t@x.test")
    soon = timezone.now().replace(microsecond=0) + timedelta(minutes=1)
    given = [
        (soon - timedelta(microseconds=1)).astimezone(timezone.get_fixed_timezone(345)),
        (soon + timedelta(microseconds=1)).astimezone(timezone.get_fixed_timezone(-570)),
    ]
    given = [at.isoformat() for at in given]  # ...59.999999+05:45, ...00.000001-09:30
    batch = [
        {"id": f"t-{n}", "type": "purchase", "email": "t@x.test", "amount": "5", "occurred_at": at}
        for n, at in enumerate(given)
    ]
    before = timezone.now()
    results = api.post("/api/v1/events/bulk", {"events": batch}).json()["results"]
    assert [r["status"] for r in results] == [201, 201]
    for n, at in enumerate(given):
        instant = datetime.fromisoformat(at)
        purchase = Purchase.objects.get(external_id=f"t-{n}")
        conversion = Conversion.objects.get(external_id=f"t-{n}")
        assert purchase.occurred_at == conversion.occurred_at == instant
        assert purchase.occurred_at.microsecond == instant.astimezone(UTC).microsecond
        assert before <= purchase.created_at <= timezone.now()
        assert before <= conversion.created_at <= timezone.now()
