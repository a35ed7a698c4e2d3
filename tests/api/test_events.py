"""/api/v1/events: one event or up to 1,000, each stored once, attributed, rewarded."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import Customer
from referrals.models import Conversion, Referral
from referrals.services import referral_create
from rewards.models import Reward
from tests.api.conftest import error_of, run_reward_tasks


def purchase(n="o-1", email="friend@example.com", amount="120.00", **extra):
    return {"id": n, "type": "purchase", "email": email, "amount": amount, **extra}


def test_a_referred_friends_first_purchase_is_stored_attributed_and_its_rewards_queued(
    api, program, source, link, fixed_rule
):
    referral = referral_create(
        program=program, source=source, link=link, channel="link", friend_email="friend@example.com"
    )
    response = api.post("/api/v1/events", purchase(currency="EUR"))
    assert response.status_code == 201
    body = response.json()
    assert (body["stored"], body["duplicate"]) == (True, False)
    assert (body["referral"], body["source"], body["program"]) == (
        referral.pk,
        source.pk,
        program.pk,
    )
    conversion = body["conversion"]
    assert (conversion["kind"], conversion["amount"], conversion["currency"]) == (
        "purchase",
        "120.00",
        "EUR",
    )
    assert conversion["is_first_purchase"] is True
    # Issued by the reward task after the commit, not inside the request: the answer says so.
    assert (body["rewards"], body["rewards_pending"]) == ([], True)
    assert not Reward.objects.exists()
    assert run_reward_tasks() == 1
    [reward] = api.get("/api/v1/rewards", {"event": "o-1"}).json()["results"]
    assert (reward["amount"], reward["status"], reward["source"]) == (
        "25.00",
        "fulfilled",
        source.pk,
    )
    # The same event again lists what it earned.
    again = api.post("/api/v1/events", purchase(currency="EUR")).json()
    assert (again["rewards"], again["rewards_pending"]) == ([reward], False)
    assert body["customer"] == Customer.objects.get(email="friend@example.com").pk
    referral.refresh_from_db()
    assert referral.status == "converted"


def test_the_same_event_id_is_stored_once(api, program, source, link, fixed_rule):
    referral_create(
        program=program, source=source, link=link, channel="link", friend_email="friend@example.com"
    )
    first = api.post("/api/v1/events", purchase()).json()
    run_reward_tasks()
    response = api.post("/api/v1/events", purchase(amount="999.00"))
    assert response.status_code == 200
    again = response.json()
    assert (again["stored"], again["duplicate"]) == (False, True)
    assert again["conversion"] == first["conversion"] and len(again["rewards"]) == 1
    assert Conversion.objects.count() == 1 and Reward.objects.count() == 1


def test_an_event_of_a_customer_nobody_referred_is_answered_but_attributed_to_none(api):
    response = api.post(
        "/api/v1/events", purchase(email="walkin@example.com", customer_external_id="c-7")
    )
    assert response.status_code == 201  # stored: every purchase of every customer is kept
    body = response.json()
    assert (body["stored"], body["referral"], body["conversion"], body["rewards"]) == (
        True,
        None,
        None,
        [],
    )
    assert body["customer"] == Customer.objects.get(external_id="c-7").pk


def test_a_code_or_cookie_attributes_a_friend(api, program, source, link):
    response = api.post(
        "/api/v1/events",
        {"id": "s-1", "type": "signup", "email": "new@example.com", "cookie": link.code},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["source"] == source.pk and body["conversion"]["kind"] == "signup"
    response = api.post("/api/v1/events", purchase(n="o-2", email="new@example.com"))
    assert response.json()["referral"] == body["referral"]
    response = api.post(
        "/api/v1/events", purchase(n="o-3", email="x@example.com", code="nope-nope")
    )
    assert response.status_code == 201 and response.json()["referral"] is None
    assert [w["code"] for w in response.json()["warnings"]] == ["code_not_live"]


def test_a_refund_voids_what_its_purchase_earned(api, program, source, link, fixed_rule):
    referral_create(
        program=program, source=source, link=link, channel="link", friend_email="friend@example.com"
    )
    api.post("/api/v1/events", purchase())
    run_reward_tasks()
    response = api.post(
        "/api/v1/events",
        {"id": "r-1", "type": "refund", "refund_of": "o-1", "amount": "120.00"},
    )
    assert response.status_code == 201 and response.json()["conversion"]["kind"] == "refund"
    run_reward_tasks()
    assert Reward.objects.get().status == "void"


def test_a_partial_refund_takes_back_its_share(api, program, source, link, fixed_rule):
    referral_create(
        program=program, source=source, link=link, channel="link", friend_email="friend@example.com"
    )
    api.post("/api/v1/events", purchase())
    run_reward_tasks()
    response = api.post(
        "/api/v1/events",
        {"id": "r-1", "type": "refund", "refund_of": "o-1", "amount": "30.00"},
    )
    assert response.status_code == 201
    run_reward_tasks()
    reward = Reward.objects.get()
    assert (reward.status, reward.taken_back) == ("fulfilled", Decimal("6.25"))


def test_a_refund_must_name_its_order(api):
    response = api.post(
        "/api/v1/events", {"id": "r-1", "type": "refund", "email": "f@x.com", "amount": "5"}
    )
    assert response.status_code == 400 and error_of(response)["param"] == "refund_of"


def test_a_purchase_of_a_customer_nobody_referred_is_stored_not_credited(api, acme):
    from referrals.models import Purchase

    response = api.post("/api/v1/events", purchase(n="solo-1", email="solo@example.com"))
    assert response.status_code == 201
    body = response.json()
    assert (body["stored"], body["referral"], body["source"]) == (True, None, None)
    assert Purchase.objects.get(external_id="solo-1").amount == Decimal("120.00")
    again = api.post("/api/v1/events", purchase(n="solo-1", email="solo@example.com")).json()
    assert (again["stored"], again["duplicate"]) == (False, True)


def test_bad_events_are_refused_and_change_nothing(api, program, source, link):
    referral_create(
        program=program, source=source, link=link, channel="link", friend_email="friend@example.com"
    )
    bad = [
        purchase(amount="0"),
        purchase(amount="-1"),
        purchase(currency="USD"),
        purchase(currency="XYZ"),
        purchase(occurred_at="1999-12-31T00:00:00Z"),
        purchase(occurred_at=(timezone.now() + timedelta(days=3)).isoformat()),
        {"id": "o-1", "type": "purchase", "amount": "5"},
        {"type": "purchase", "email": "friend@example.com", "amount": "5"},
    ]
    for event in bad:
        response = api.post("/api/v1/events", event)
        assert response.status_code == 400, event
        error_of(response)
    assert not Conversion.objects.exists()
    assert Referral.objects.get().status == "lead"


def test_an_event_replays_under_its_idempotency_key(api, program, source, link):
    referral_create(
        program=program, source=source, link=link, channel="link", friend_email="friend@example.com"
    )
    headers = {"Idempotency-Key": "evt-1"}
    first = api.post("/api/v1/events", purchase(), headers=headers)
    again = api.post("/api/v1/events", purchase(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201) and first.content == again.content
    assert api.post("/api/v1/events", purchase(n="o-9"), headers=headers).status_code == 409


# Bulk -------------------------------------------------------------------------------------


def test_a_bulk_answers_each_event_in_order_and_a_bad_one_stops_nothing(
    api, program, source, link, fixed_rule
):
    referral_create(
        program=program, source=source, link=link, channel="link", friend_email="friend@example.com"
    )
    events = [
        {"id": "s-1", "type": "signup", "email": "friend@example.com"},
        purchase(amount="-5"),
        "not an event",
        purchase(),
        purchase(),  # the same id again in one batch
        purchase(n="o-2", email="nobody@example.com"),
    ]
    response = api.post("/api/v1/events/bulk", {"events": events})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["index"], r["status"]) for r in results] == [
        (0, 201),
        (1, 400),
        (2, 400),
        (3, 201),
        (4, 200),
        (5, 201),  # a customer nobody referred: stored, credited to no source
    ]
    assert results[1]["result"] is None and results[1]["error"]["param"] == "amount"
    assert results[3]["result"]["rewards_pending"] is True
    assert results[4]["result"]["duplicate"] is True
    assert results[5]["result"]["referral"] is None
    run_reward_tasks()
    assert Conversion.objects.count() == 2 and Reward.objects.count() == 1
    assert Reward.objects.get().conversion.external_id == "o-1"


def test_a_bulk_sent_again_creates_nothing(
    api, program, source, link, fixed_rule, django_assert_max_num_queries
):
    referral_create(
        program=program, source=source, link=link, channel="link", friend_email="friend@example.com"
    )
    events = [purchase(n=f"o-{n}", amount="10.00") for n in range(50)]
    first = api.post("/api/v1/events/bulk", {"events": events}).json()["results"]
    assert [r["status"] for r in first] == [201] * 50
    run_reward_tasks()
    with django_assert_max_num_queries(8):
        again = api.post("/api/v1/events/bulk", {"events": events}).json()["results"]
    assert [r["status"] for r in again] == [200] * 50
    assert all(r["result"]["duplicate"] for r in again)
    assert Conversion.objects.count() == 50 and Reward.objects.count() == 1


def test_a_bulk_takes_at_most_1000_events(api):
    events = [purchase(n=f"o-{n}") for n in range(1001)]
    response = api.post("/api/v1/events/bulk", {"events": events})
    assert response.status_code == 400 and error_of(response)["param"] == "events"
    response = api.post("/api/v1/events/bulk", {"events": []})
    assert response.status_code == 400
    assert not Conversion.objects.exists() and not Customer.objects.exists()


def test_a_bulk_replays_under_its_idempotency_key(api, program, source, link):
    referral_create(
        program=program, source=source, link=link, channel="link", friend_email="friend@example.com"
    )
    body = {"events": [purchase(), purchase(n="o-2", amount="-1")]}
    headers = {"Idempotency-Key": "bulk-1"}
    first = api.post("/api/v1/events/bulk", body, headers=headers)
    again = api.post("/api/v1/events/bulk", body, headers=headers)
    assert first.content == again.content and Conversion.objects.count() == 1


def test_a_new_event_costs_a_bounded_number_of_queries(
    api, program, source, link, fixed_rule, django_assert_max_num_queries
):
    referral_create(
        program=program, source=source, link=link, channel="link", friend_email="friend@example.com"
    )
    # The key, the attribution, the customer, purchase, conversion, the referral moved
    # along, its history and the reward task: a fixed number of statements per event,
    # whatever the organization holds. The rewards are the task's work, after the answer.
    with django_assert_max_num_queries(22):
        assert api.post("/api/v1/events", purchase()).status_code == 201
    run_reward_tasks()
    assert Decimal(Reward.objects.get().amount) == Decimal("25.00")


def test_a_refund_without_an_amount_is_a_400(api):
    response = api.post(
        "/api/v1/events", {"id": "r-1", "type": "refund", "refund_of": "o-1", "email": "f@x.com"}
    )
    assert response.status_code == 400 and error_of(response)["param"] == "amount"


def test_a_signup_nobody_referred_stores_nothing_and_is_no_duplicate(api, program, fixed_rule):
    """A signup no referral covers finds or makes its customer and records nothing: it is
    not a duplicate, the first time or again (nothing says it was sent before), one by one
    or in a bulk; its id is a duplicate only once another event recorded it."""
    signup = {"id": "s-9", "type": "signup", "email": "walkin@example.com"}
    first = api.post("/api/v1/events", signup)
    again = api.post("/api/v1/events", signup)
    customer = Customer.objects.get(email="walkin@example.com").pk
    for response in (first, again):
        assert response.status_code == 200
        body = response.json()
        assert (body["stored"], body["duplicate"]) == (False, False)
        assert (body["customer"], body["conversion"], body["source"]) == (customer, None, None)
    bulk = api.post("/api/v1/events/bulk", {"events": [signup, signup]}).json()["results"]
    assert [(r["status"], r["result"]["duplicate"]) for r in bulk] == [(200, False)] * 2
    # The same id recorded by a purchase: now a duplicate, whatever its type.
    assert api.post("/api/v1/events", purchase(n="s-9")).status_code == 201
    known = api.post("/api/v1/events", signup).json()
    assert (known["stored"], known["duplicate"]) == (False, True)
    bulk = api.post("/api/v1/events/bulk", {"events": [signup]}).json()["results"]
    assert bulk[0]["result"]["duplicate"] is True
    assert Customer.objects.filter(email="walkin@example.com").count() == 1


def _cookie_from_a_visit(client, link) -> str:
    """The value /r/<code> sets in the visitor's browser (the shop reads it as it came)."""
    response = client.get(f"/r/{link.public_code}")
    return response.cookies[f"adv_ref_{link.program_id}"].value


def test_the_attribution_cookie_is_taken_as_the_browser_carried_it(
    api, client, program, source, link, monkeypatch
):
    """The cookie's value is "code:timestamp:signature": its code attributes the event; a
    value Advocate did not sign, or one past the program's window, is set aside (the event
    stored as without it, and a warning on "cookie"); a bare code is still taken."""
    from django.core import signing
    from django.http import HttpResponse

    from referrals.models import Purchase

    value = _cookie_from_a_visit(client, link)
    assert value.startswith(f"{link.code}:")
    response = api.post("/api/v1/events", purchase(n="o-1", email="a@x.test", cookie=value))
    assert response.status_code == 201, response.json()
    assert response.json()["source"] == source.pk

    forged = value.rsplit(":", 1)[0] + ":" + "A" * 43
    refused = api.post("/api/v1/events", purchase(n="o-2", email="b@x.test", cookie=forged))
    assert refused.status_code == 201 and refused.json()["source"] is None
    assert [(w["param"], w["code"]) for w in refused.json()["warnings"]] == [
        ("cookie", "cookie_not_valid")
    ]

    # The same cookie as /r/<code> sets, signed a window and a minute ago.
    too_old = timezone.now() - timedelta(days=program.attribution_window_days, minutes=1)
    monkeypatch.setattr(signing.time, "time", lambda: too_old.timestamp())
    stale = HttpResponse()
    stale.set_signed_cookie(f"adv_ref_{link.program_id}", link.code)
    monkeypatch.undo()
    old = stale.cookies[f"adv_ref_{link.program_id}"].value
    assert old.split(":")[0] == link.code and old != value
    refused = api.post("/api/v1/events", purchase(n="o-3", email="c@x.test", cookie=old))
    assert refused.status_code == 201 and refused.json()["source"] is None
    assert [(w["param"], w["code"]) for w in refused.json()["warnings"]] == [
        ("cookie", "cookie_not_valid")
    ]
    assert Purchase.objects.filter(external_id__in=["o-2", "o-3"]).count() == 2
    assert not Referral.objects.filter(friend_email__in=["b@x.test", "c@x.test"]).exists()

    bare = api.post("/api/v1/events", purchase(n="o-4", email="d@x.test", cookie=link.code))
    assert bare.status_code == 201 and bare.json()["source"] == source.pk


def test_an_unknown_code_in_the_cookie_is_a_warning_on_cookie(api, program, source, link):
    """The event is recorded without it, and the warning names ``cookie``, the field the
    partner sent (not ``code``, a field it never sent)."""
    for n, cookie in enumerate(["nosuchcode", "nosuchcode:1xaeyn:sig"]):
        for event in [
            purchase(n=f"o-{n}", email="a@x.test", cookie=cookie),
            {"id": f"s-{n}", "type": "signup", "email": "a@x.test", "cookie": cookie},
        ]:
            response = api.post("/api/v1/events", event)
            assert response.status_code in (200, 201), response.json()
            warned = [("cookie", "code_not_live")]
            assert [(w["param"], w["code"]) for w in response.json()["warnings"]] == warned
            [item] = api.post("/api/v1/events/bulk", {"events": [event]}).json()["results"]
            assert [(w["param"], w["code"]) for w in item["result"]["warnings"]] == warned
    response = api.post("/api/v1/events", purchase(n="o-9", email="b@x.test", code="nosuchcode"))
    assert [(w["param"], w["code"]) for w in response.json()["warnings"]] == [
        ("code", "code_not_live")
    ]
    assert not Referral.objects.exists()


def test_a_vanity_codes_cookie_is_longer_than_a_code_and_still_taken(
    api, client, program, source, link
):
    from referrals.services import link_set_vanity_code

    link_set_vanity_code(link=link, vanity_code="summer-savings-with-our-favourite-agent")
    link.refresh_from_db()
    value = _cookie_from_a_visit(client, link)
    assert len(value) > 64
    response = api.post("/api/v1/events", purchase(n="o-1", email="v@x.test", cookie=value))
    assert response.status_code == 201 and response.json()["source"] == source.pk


def test_in_a_bulk_a_bad_cookie_answers_for_its_own_event_only(api, client, source, link):
    value = _cookie_from_a_visit(client, link)
    events = [
        purchase(n="b-1", email="e@x.test", cookie=value),
        purchase(n="b-2", email="f@x.test", cookie=value[:-1] + ("A" if value[-1] != "A" else "B")),
        purchase(n="b-3", email="g@x.test"),
    ]
    results = api.post("/api/v1/events/bulk", {"events": events}).json()["results"]
    assert [r["status"] for r in results] == [201, 201, 201]
    assert results[0]["result"]["source"] == source.pk
    assert results[1]["result"]["source"] is None
    assert [w["param"] for w in results[1]["result"]["warnings"]] == ["cookie"]
    assert results[0]["result"]["warnings"] == results[2]["result"]["warnings"] == []


def test_a_dead_code_keeps_the_purchase_and_says_so_the_same_on_every_path(
    api, program, source, link, fixed_rule
):
    """One event, single and in a bulk, sent again by id and by Idempotency-Key: the purchase
    is stored once, the code set aside with the same warning every time, and no referral or
    reward is made from it."""
    from referrals.models import Purchase
    from referrals.services import program_update

    program_update(program=program, status="paused")
    event = purchase(n="o-1", email="a@x.test", code=link.code)
    headers = {"Idempotency-Key": "k-1"}
    first = api.post("/api/v1/events", event, headers=headers)
    assert first.status_code == 201
    body = first.json()
    assert (body["stored"], body["referral"], body["conversion"]) == (True, None, None)
    [warning] = body["warnings"]
    assert (warning["param"], warning["code"]) == ("code", "code_not_live")
    assert warning["message"]
    replayed = api.post("/api/v1/events", event, headers=headers)
    assert (replayed.status_code, replayed.json()) == (201, body)
    again = api.post("/api/v1/events", event).json()
    assert (again["duplicate"], again["warnings"]) == (True, body["warnings"])
    [item] = api.post("/api/v1/events/bulk", {"events": [event]}).json()["results"]
    assert item["status"] == 200 and item["result"]["warnings"] == body["warnings"]
    # A new event in a bulk is answered as the single endpoint answers it.
    [fresh] = api.post(
        "/api/v1/events/bulk", {"events": [purchase(n="o-2", email="b@x.test", code=link.code)]}
    ).json()["results"]
    assert fresh["status"] == 201 and fresh["result"]["warnings"] == body["warnings"]
    assert Purchase.objects.count() == 2
    assert not Referral.objects.exists() and not Conversion.objects.exists()
    assert run_reward_tasks() == 0 and not Reward.objects.exists()


def test_a_code_for_a_customer_without_an_email_keeps_the_purchase(api, program, source, link):
    event = {
        "id": "o-1",
        "type": "purchase",
        "customer_external_id": "c-1",
        "amount": "10.00",
        "code": link.code,
    }
    response = api.post("/api/v1/events", event)
    assert response.status_code == 201 and response.json()["customer"] is not None
    warned = [("code", "code_needs_email")]
    assert [(w["param"], w["code"]) for w in response.json()["warnings"]] == warned
    again = api.post("/api/v1/events", event).json()
    assert [(w["param"], w["code"]) for w in again["warnings"]] == warned
    assert not Referral.objects.exists()


def test_a_malformed_code_is_still_a_400(api, program, source, link):
    for code in ["c" * 65, 7, "a\x01b"]:
        response = api.post("/api/v1/events", purchase(code=code))
        assert response.status_code == 400 and error_of(response)["param"] == "code"
