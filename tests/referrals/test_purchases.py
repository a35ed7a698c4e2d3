"""
Every purchase of every customer, credited to its source for the whole relationship.

Day d is T0 + d days (T0 is 200 days ago). Sam referred Fay on day 0 into a program with a
30-day window. Events go through ``event_record`` (the event form's and the API's entry
point), and the rewards they earn are issued as the Celery task does. A hold is "over" when
``release_held_rewards`` is run as if 15 days had passed.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Customer, ReferralSource
from referrals.models import Conversion, Purchase, Referral
from referrals.selectors import source_totals
from referrals.services import conversion_record, event_record, link_get_or_create
from rewards.models import LedgerEntry, Reward
from rewards.selectors import credit_balance
from rewards.services import issue_rewards_for_conversion, release_held_rewards, rule_create

T0 = timezone.now() - timedelta(days=200)


def day(n: float | None):
    return T0 + timedelta(days=n) if n is not None else None


def record(org, kind, event_id, email="", amount="100", on=0, **kwargs):
    """Record an event on day ``on`` and issue what it earns, as the reward task does."""
    conversion, created = event_record(
        organization=org,
        kind=kind,
        external_id=event_id,
        amount=Decimal(amount),
        occurred_at=day(on),
        email=email,
        **kwargs,
    )
    if conversion is not None and created:
        issue_rewards_for_conversion(conversion_id=conversion.pk)
    return conversion


def buy(org, event_id, email, amount="100", on=0, **kwargs):
    return record(org, "purchase", event_id, email, amount, on, **kwargs)


def refund(org, event_id, of, amount="100", on=0, **kwargs):
    return record(org, "refund", event_id, amount=amount, on=on, refund_of=of, **kwargs)


def refer(program, source, email, on=0):
    from referrals.services import referral_create

    referral = referral_create(
        program=program,
        source=source,
        link=link_get_or_create(program=program, source=source),
        channel="email",
        friend_email=email,
    )
    Referral.objects.filter(pk=referral.pk).update(created_at=day(on))
    referral.refresh_from_db()
    return referral


def hold_ends():
    release_held_rewards(now=timezone.now() + timedelta(days=15))


@pytest.fixture
def ada(acme):
    return ReferralSource.objects.create(organization=acme, name="Ada Agent", kind="agent")


@pytest.fixture
def rules(program):
    """Sam earns 25 credit for a new customer and 10% cash of every purchase (14-day hold);
    the friend gets 10 credit on their first purchase."""
    return {
        "welcome": rule_create(
            program=program, beneficiary="referrer", trigger="first_purchase", amount=25
        ),
        "every": rule_create(
            program=program,
            beneficiary="referrer",
            trigger="every_purchase",
            formula="percent",
            percent=Decimal("10"),
            reward_kind="cash",
            hold_days=14,
        ),
        "friend": rule_create(
            program=program, beneficiary="friend", trigger="first_purchase", amount=10
        ),
    }


@pytest.fixture
def fay(program, source):
    return refer(program, source, "fay@example.com", on=0)


def rewards_of(conversion, rule=None):
    qs = Reward.objects.filter(conversion=conversion)
    return qs.filter(rule=rule) if rule else qs


# The window decides who won the customer, once ---------------------------------------------


def test_a_won_friends_purchase_on_day_55_earns_the_every_purchase_reward(acme, rules, fay):
    first = buy(acme, "F-1", "fay@example.com", "200", on=7)
    later = buy(acme, "F-2", "fay@example.com", "300", on=55)  # the window closed on day 30
    assert (first.referral, first.is_first_purchase) == (fay, True)
    assert (later.referral, later.kind, later.is_first_purchase) == (fay, "purchase", False)
    assert rewards_of(later, rules["every"]).get().amount == Decimal("30.00")
    assert not rewards_of(later, rules["welcome"]).exists()  # the welcome is paid once
    assert source_totals(source=fay.source).revenue == Decimal("500.00")


def test_a_friend_who_keeps_buying_for_a_year_credits_the_source_every_time(acme, rules, fay):
    for n, on in enumerate((7, 55, 120, 200), start=1):
        buy(acme, f"F-{n}", "fay@example.com", "100", on=on)
    purchases = Conversion.objects.filter(referral=fay, kind="purchase")
    assert purchases.count() == 4
    assert Reward.objects.filter(rule=rules["every"], conversion__in=purchases).count() == 4
    assert source_totals(source=fay.source).revenue == Decimal("400.00")


def test_a_refund_on_day_40_of_the_day_7_order_voids_its_rewards_inside_the_hold(acme, rules, fay):
    rules["welcome"].hold_days = 60
    rules["welcome"].save()
    first = buy(acme, "F-1", "fay@example.com", "200", on=7)
    back = refund(acme, "R-1", of="F-1", amount="200", on=40)
    assert (back.referral, back.kind, back.purchase.refund_of.external_id) == (fay, "refund", "F-1")
    statuses = {r.rule_id: (r.status, r.void_reason) for r in rewards_of(first)}
    assert statuses == {
        rules["welcome"].pk: ("void", "Refund R-1"),
        rules["every"].pk: ("void", "Refund R-1"),
        rules["friend"].pk: ("void", "Refund R-1"),
    }
    assert not LedgerEntry.objects.filter(account__source=fay.source).exists()  # never given
    assert source_totals(source=fay.source).revenue == Decimal("0.00")


def test_a_refund_on_day_40_of_the_day_7_order_claws_back_its_rewards_after_the_hold(
    acme, rules, fay
):
    first = buy(acme, "F-1", "fay@example.com", "200", on=7)
    hold_ends()
    refund(acme, "R-1", of="F-1", amount="200", on=40)
    assert {r.status for r in rewards_of(first)} == {"void"}
    account = fay.source.credit_account
    assert LedgerEntry.objects.get(account=account, kind="clawback").amount == Decimal("-25.00")
    assert credit_balance(account=account) == Decimal("0.00")
    cash = rewards_of(first, rules["every"]).get()
    assert cash.events.last().to_status == "void"


def test_a_refund_finds_its_order_by_id_without_naming_the_customer(acme, rules, fay):
    buy(acme, "F-1", "fay@example.com", "200", on=7)
    back = refund(acme, "R-1", of="F-1", amount="50", on=90)  # no email, no customer id
    assert back.customer.email == "fay@example.com" and back.referral == fay


def test_a_partial_refund_takes_back_the_reward_in_proportion(acme, rules, fay):
    order = buy(acme, "F-1", "fay@example.com", "200", on=7)
    refund(acme, "R-1", of="F-1", amount="100", on=20)  # half of it, inside the hold
    cash = rewards_of(order, rules["every"]).get()
    assert (cash.status, cash.amount, cash.taken_back) == ("pending", Decimal("20.00"), 10)
    hold_ends()
    cash.refresh_from_db()
    assert cash.status == "approved"
    from rewards.selectors import payout_balance

    assert payout_balance(account=fay.source.credit_account) == Decimal("10.00")
    welcome = rewards_of(order, rules["welcome"]).get()  # fulfilled at once: clawed back
    assert (welcome.status, welcome.taken_back) == ("fulfilled", Decimal("12.50"))
    assert credit_balance(account=fay.source.credit_account) == Decimal("12.50")


def test_partial_refunds_that_add_up_to_the_order_void_its_rewards(acme, rules, fay):
    order = buy(acme, "F-1", "fay@example.com", "200", on=7)
    hold_ends()
    refund(acme, "R-1", of="F-1", amount="50", on=20)
    refund(acme, "R-2", of="F-1", amount="150", on=60)
    welcome = rewards_of(order, rules["welcome"]).get()
    assert (welcome.status, welcome.void_reason) == ("void", "Refund R-2")
    account = fay.source.credit_account
    clawed = LedgerEntry.objects.filter(account=account, kind="clawback")
    assert sorted(e.amount for e in clawed) == [Decimal("-18.75"), Decimal("-6.25")]
    assert credit_balance(account=account) == Decimal("0.00")
    from rewards.selectors import payout_balance

    assert payout_balance(account=account) == Decimal("0.00")  # 20 earned, 5 + 15 voided


def test_the_refund_task_run_again_takes_back_nothing_more(acme, rules, fay):
    order = buy(acme, "F-1", "fay@example.com", "200", on=7)
    hold_ends()
    back = refund(acme, "R-1", of="F-1", amount="100", on=20)
    issue_rewards_for_conversion(conversion_id=back.pk)
    issue_rewards_for_conversion(conversion_id=back.pk)
    assert rewards_of(order, rules["welcome"]).get().taken_back == Decimal("12.50")
    assert credit_balance(account=fay.source.credit_account) == Decimal("12.50")


def test_a_refund_recorded_before_its_purchase_earned_rewards_is_taken_into_account(
    acme, rules, fay
):
    """The refund's task may run first (or the referral waited in review): the purchase's
    rewards are then issued with the refunded share already taken back."""
    order, _ = event_record(
        organization=acme,
        kind="purchase",
        external_id="F-1",
        amount=Decimal("200"),
        occurred_at=day(7),
        email="fay@example.com",
    )
    back, _ = event_record(
        organization=acme,
        kind="refund",
        external_id="R-1",
        refund_of="F-1",
        amount=Decimal("50"),
        occurred_at=day(8),
    )
    issue_rewards_for_conversion(conversion_id=back.pk)  # nothing to take back yet
    issued = issue_rewards_for_conversion(conversion_id=order.pk)
    assert {r.rule_id: r.value for r in issued}[rules["every"].pk] == Decimal("15.00")


def test_an_order_arriving_after_a_later_order_won_the_friend_credits_the_same_source(
    acme, rules, fay
):
    later = buy(acme, "F-2", "fay@example.com", "300", on=9)
    earlier = buy(acme, "F-1", "fay@example.com", "200", on=7)  # delivered late
    assert later.is_first_purchase and (earlier.referral, earlier.kind) == (fay, "purchase")
    assert Reward.objects.filter(rule=rules["welcome"]).count() == 1
    assert source_totals(source=fay.source).revenue == Decimal("500.00")


def test_an_order_dated_before_the_referral_is_not_credited_to_it(acme, rules, fay):
    buy(acme, "F-1", "fay@example.com", "200", on=7)
    assert buy(acme, "F-0", "fay@example.com", "80", on=-20) is None  # a backfilled old order
    assert Purchase.objects.get(external_id="F-0").customer.email == "fay@example.com"
    assert source_totals(source=fay.source).revenue == Decimal("200.00")


# A customer known before the referral is never won by it ------------------------------------


def test_an_existing_customers_first_second_and_third_purchase_are_never_a_first_purchase(
    acme, program, source, rules
):
    olga = Customer.objects.create(
        organization=acme, email="olga@example.com", first_seen_at=day(-400)
    )
    referral = refer(program, source, "olga@example.com", on=10)
    first = buy(acme, "O-1", "olga@example.com", "500", on=12)
    second = buy(acme, "O-2", "olga@example.com", "400", on=20)
    third = buy(acme, "O-3", "olga@example.com", "300", on=45)  # after the window
    assert (first.kind, first.referral) == ("advocacy", referral)
    assert (second.kind, second.referral) == ("advocacy", referral)
    assert not first.is_first_purchase and not second.is_first_purchase
    assert third is None  # stored, credited to no source
    assert Purchase.objects.filter(customer=olga).count() == 3
    assert not Reward.objects.exists()  # no new-customer reward, no friend's welcome
    referral.refresh_from_db()
    olga.refresh_from_db()
    assert referral.status == "lead" and not olga.is_referred
    totals = source_totals(source=source)
    assert (totals.customers_won, totals.revenue, totals.advocacy_revenue) == (
        0,
        Decimal("900.00"),
        Decimal("900.00"),
    )


def test_a_new_friend_with_a_referral_code_is_won_not_advocacy(acme, program, source, rules):
    link = link_get_or_create(program=program, source=source)
    first = buy(acme, "N-1", "nina@example.com", "100", on=199, code=link.code)
    assert (first.kind, first.is_first_purchase) == ("purchase", True)
    assert Customer.objects.get(email="nina@example.com").is_referred


def test_a_friend_who_signed_up_by_code_is_won_by_their_first_purchase(acme, program, source):
    link = link_get_or_create(program=program, source=source)
    signup = record(acme, "signup", "S-1", "nina@example.com", amount="0", on=198, code=link.code)
    first = buy(acme, "N-1", "nina@example.com", "100", on=199)
    assert signup.referral == first.referral and first.is_first_purchase
    first.referral.refresh_from_db()
    assert first.referral.status == "converted"


# Each purchase is credited to exactly one source ------------------------------------------


def test_an_advocacy_touch_takes_a_won_customers_purchases_inside_its_window_only(
    acme, program, source, ada, rules
):
    from referrals.services import program_create

    partners = program_create(organization=acme, name="Partners", attribution_window_days=60)
    rule_create(
        program=partners, beneficiary="referrer", trigger="advocacy", formula="percent", percent=2
    )
    refer(program, source, "gus@example.com", on=100)
    won = buy(acme, "G-1", "gus@example.com", "250", on=105)
    touch = refer(partners, ada, "gus@example.com", on=150)
    moved = buy(acme, "G-2", "gus@example.com", "400", on=160)
    after = buy(acme, "G-3", "gus@example.com", "100", on=199)  # 49 days: still Ada's window
    assert (moved.referral, moved.kind) == (touch, "advocacy")
    assert (after.referral, after.kind) == (touch, "advocacy")
    assert rewards_of(moved).get().amount == Decimal("8.00")
    assert won.referral.source == source
    assert source_totals(source=source).revenue == Decimal("250.00")
    assert source_totals(source=ada).revenue == Decimal("500.00")
    credited = Purchase.objects.filter(organization=acme).credited()
    assert credited.net_revenue() == Decimal("750.00")  # never counted twice


def test_after_the_advocacy_window_the_customer_goes_back_to_the_source_that_won_them(
    acme, program, source, ada
):
    refer(program, source, "gus@example.com", on=0)
    buy(acme, "G-1", "gus@example.com", "250", on=5)
    refer(program, ada, "gus@example.com", on=50)  # duplicate friend: held for review
    inside = buy(acme, "G-2", "gus@example.com", "400", on=60)
    outside = buy(acme, "G-3", "gus@example.com", "100", on=90)
    assert inside.source == ada and inside.kind == "advocacy"
    assert outside.source == source and outside.kind == "purchase"
    assert source_totals(source=ada).revenue == Decimal("0.00")  # waiting in review


# Customers nobody referred ------------------------------------------------------------------


def test_a_non_referred_customers_purchases_are_stored_and_counted_apart(acme, program, fay):
    assert buy(acme, "N-1", "nick@example.com", "1000", on=5) is None
    assert buy(acme, "N-2", "nick@example.com", "800", on=90) is None
    assert refund(acme, "N-R", of="N-2", amount="300", on=95) is None
    buy(acme, "F-1", "fay@example.com", "200", on=7)
    nick = Customer.objects.get(email="nick@example.com")
    assert not nick.is_referred
    assert Purchase.objects.filter(customer=nick).net_revenue() == Decimal("1500.00")
    purchases = Purchase.objects.filter(organization=acme)
    assert purchases.not_credited().net_revenue() == Decimal("1500.00")
    assert purchases.credited().net_revenue() == Decimal("200.00")


# Entry points and replays -----------------------------------------------------------------


def test_the_referral_page_applies_the_same_rules_as_the_event_form(acme, rules, fay):
    buy(acme, "F-1", "fay@example.com", "200", on=7)
    late, created = conversion_record(
        referral=fay, kind="purchase", external_id="F-2", amount=Decimal("300"), occurred_at=day(55)
    )
    assert created and (late.referral, late.kind, late.is_first_purchase) == (
        fay,
        "purchase",
        False,
    )
    back, _ = conversion_record(
        referral=fay,
        kind="refund",
        external_id="R-2",
        amount=Decimal("100"),
        occurred_at=day(60),
        refund_of_external_id="F-2",
    )
    assert back.purchase.refund_of.external_id == "F-2"


def test_a_referral_page_event_outside_every_window_is_stored_but_credits_nobody(
    acme, program, source
):
    referral = refer(program, source, "late@example.com", on=0)
    conversion, created = conversion_record(
        referral=referral,
        kind="purchase",
        external_id="L-1",
        amount=Decimal("80"),
        occurred_at=day(45),
    )
    assert (conversion, created) == (None, True)
    assert Purchase.objects.get(external_id="L-1").customer == Referral.objects.get().friend


def test_replaying_the_same_events_changes_nothing(acme, program, source, ada, rules, fay):
    def events():
        buy(acme, "F-1", "fay@example.com", "200", on=7)
        buy(acme, "F-2", "fay@example.com", "300", on=55)
        refund(acme, "R-1", of="F-1", amount="200", on=40)
        refund(acme, "R-2", of="F-2", amount="100", on=60)
        buy(acme, "N-1", "nick@example.com", "90", on=70)

    def state():
        return {
            "purchases": list(Purchase.objects.order_by("pk").values_list("pk", "amount")),
            "conversions": list(Conversion.objects.order_by("pk").values_list("pk", "kind")),
            "customers": Customer.objects.count(),
            "referrals": Referral.objects.count(),
            "rewards": list(
                Reward.objects.order_by("pk").values_list("pk", "status", "taken_back")
            ),
            "ledger": LedgerEntry.objects.count(),
            "revenue": source_totals(source=source).revenue,
        }

    events()
    before = state()
    events()
    assert state() == before
    assert before["revenue"] == Decimal("200.00")


# Bad input: a clear error on the field at fault, and nothing written ------------------------


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"kind": "refund", "refund_of": "NOPE", "amount": "10"}, "refund_of"),
        ({"kind": "refund", "refund_of": "F-1", "amount": "150.01"}, "amount"),
        ({"kind": "refund", "amount": "10"}, "refund_of"),
        (
            {"kind": "refund", "refund_of": "F-1", "amount": "10", "email": "x@example.com"},
            "refund_of",
        ),
        ({"kind": "refund", "refund_of": "F-1", "amount": "10", "on": 5}, "occurred_at"),
        ({"kind": "purchase", "amount": "10", "currency": "USD"}, "currency"),
        ({"kind": "purchase", "amount": "10.005"}, "amount"),
        ({"kind": "purchase", "amount": "0"}, "amount"),
        ({"kind": "purchase", "amount": "-5"}, "amount"),
        ({"kind": "purchase", "amount": "10", "on": 400}, "occurred_at"),
        ({"kind": "purchase", "amount": "10", "refund_of": "F-1"}, "refund_of"),
        ({"kind": "gift", "amount": "10"}, "kind"),
        ({"kind": "purchase", "amount": "10", "email": ""}, "email"),
    ],
)
def test_bad_input_is_refused_on_its_field_and_changes_nothing(acme, fay, event, field):
    buy(acme, "F-1", "fay@example.com", "200", on=7)
    refund(acme, "R-1", of="F-1", amount="50", on=8)  # 150 is left of F-1
    before = (Purchase.objects.count(), Conversion.objects.count(), Customer.objects.count())
    event = {"email": "fay@example.com", "on": 10, **event}
    with pytest.raises(ValidationError) as caught:
        event_record(
            organization=acme,
            kind=event["kind"],
            external_id="BAD-1",
            amount=Decimal(event["amount"]),
            currency=event.get("currency", ""),
            occurred_at=day(event["on"]),
            email=event["email"],
            refund_of=event.get("refund_of", ""),
        )
    assert field in caught.value.message_dict
    after = (Purchase.objects.count(), Conversion.objects.count(), Customer.objects.count())
    assert after == before


# The staff's forms go through the same service -------------------------------------------


def post_event(client, url, **fields):
    from tests.helpers import form_datetime

    data = {"kind": "purchase", "occurred_at": form_datetime(days_ago=0.01), **fields}
    return client.post(url, data)


def test_the_staff_event_form_records_a_refund_of_a_named_order(login, bob, acme, fay):
    buy(acme, "F-1", "fay@example.com", "200", on=7)
    client = login(bob)
    response = post_event(
        client, "/app/events/new/", kind="refund", external_id="R-1", amount="80", refund_of="F-1"
    )
    assert response.status_code == 302 and response["Location"] == f"/app/referrals/{fay.pk}/"
    refund = Purchase.objects.get(external_id="R-1")
    assert (refund.kind, refund.refund_of.external_id, refund.conversion.referral) == (
        "refund",
        "F-1",
        fay,
    )
    response = post_event(
        client, "/app/events/new/", kind="refund", external_id="R-2", amount="121", refund_of="F-1"
    )
    assert response.status_code == 400
    assert "Only €120.00 of order F-1 is left to refund." in response.content.decode()
    assert not Purchase.objects.filter(external_id="R-2").exists()


def test_the_staff_event_form_stores_the_purchase_of_a_customer_nobody_referred(login, bob, acme):
    response = post_event(
        login(bob), "/app/events/new/", external_id="N-1", amount="60", email="nick@example.com"
    )
    assert response.status_code == 302 and response["Location"] == "/app/events/new/"
    assert Purchase.objects.get(external_id="N-1").customer.email == "nick@example.com"
    assert not Conversion.objects.exists()


def test_the_referral_page_form_records_a_refund_of_a_named_order(login, bob, acme, fay):
    buy(acme, "F-1", "fay@example.com", "200", on=7)
    url = f"/app/referrals/{fay.pk}/conversions/"
    response = post_event(
        login(bob), url, kind="refund", external_id="R-1", amount="200", refund_of="F-1"
    )
    assert response.status_code == 302
    assert Conversion.objects.get(external_id="R-1").purchase.refund_of.external_id == "F-1"
    response = post_event(login(bob), url, kind="refund", external_id="R-2", amount="5")
    assert response.status_code == 400
    assert "A refund names the order it refunds." in response.content.decode()
