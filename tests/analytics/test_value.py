"""Historic and projected value per source and per kind.

now = 1 June 2026, discount rate 10%, horizon 5 years. Ada (agent) won 20 customers on
5 Jan 2025 with 100 each; 10 bought 50 again on 1 Feb 2026, two of those have since churned.
Sam (customer kind) won 2 on 1 Mar 2025 with 100 each; both bought 200 on 1 Apr 2026.

Ada: historic 2,500.00; R = 8 x 50 = 400.00 (churned customers aside); p = 10/20 (its own,
20 customers); projected = 400/1.1 + 200/1.1^2 + 100/1.1^3 + 50/1.1^4 + 25/1.1^5 = 653.73.
Sam: historic 600.00; R = 400.00; 2 customers are fewer than 20, so p is the program's:
12 of 22 = 6/11; projected = sum 400 (6/11)^(t-1) / 1.1^t = 699.69.
"""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from accounts.models import Customer, ReferralSource
from analytics import value
from analytics.period import Filters
from referrals.models import Conversion, Purchase, Referral
from tests.factories import ProgramFactory

D = Decimal
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def when(y, m, d):
    return datetime(y, m, d, 12, tzinfo=UTC)


def won(org, program, src, name, start, *later, status="active"):
    friend = Customer.objects.create(
        organization=org, email=f"{name}@example.com", is_referred=True, status=status
    )
    referral = Referral.objects.create(
        organization=org,
        program=program,
        source=src,
        friend=friend,
        status="converted",
        created_at=start,
        signed_up_at=start,
        converted_at=start,
    )
    first = None
    for i, (amount, on) in enumerate([("100", start), *later]):
        refund = amount.startswith("-")  # "-30": 30 of the first purchase refunded
        p = Purchase.objects.create(
            organization=org,
            customer=friend,
            kind="refund" if refund else "purchase",
            refund_of=first if refund else None,
            external_id=f"{name}-{i}",
            amount=D(amount.lstrip("-")),
            currency="EUR",
            occurred_at=on,
        )
        first = first or p
        Conversion.objects.create(
            organization=org,
            referral=referral,
            source=src,
            customer=friend,
            purchase=p,
            kind="refund" if refund else "purchase",
            external_id=f"{name}-{i}",
            is_first_purchase=i == 0,
            occurred_at=on,
        )


@pytest.fixture
def sources(acme, program, source):
    ada = ReferralSource.objects.create(organization=acme, name="Ada", kind="agent")
    for i in range(20):
        again = [("50", when(2026, 2, 1))] if i < 10 else []
        won(
            acme,
            program,
            ada,
            f"a{i}",
            when(2025, 1, 5),
            *again,
            status="churned" if i < 2 else "active",
        )
    for i in range(2):
        won(acme, program, source, f"s{i}", when(2025, 3, 1), ("200", when(2026, 4, 1)))
    ReferralSource.objects.create(organization=acme, name="Idle", kind="partner")
    return {"ada": ada, "sam": source}


def hand(r, p, d, h):
    exact = sum(Fraction(r) * p ** (t - 1) / (1 + d) ** t for t in range(1, h + 1))
    return D(round(exact * 100)) / 100


def test_the_projection_is_the_discounted_sum_of_retained_revenue():
    assert value.projected_value(r=D("400"), p=D("0.5"), d=D("0.1"), h=5) == D("653.73")
    assert hand(400, Fraction(1, 2), Fraction(1, 10), 5) == D("653.73")
    assert value.projected_value(r=D("100"), p=D("1"), d=D("0"), h=3) == D("300.00")
    assert value.projected_value(r=D("100"), p=D("0"), d=D("0.1"), h=3) == D("90.91")


def test_each_source_with_its_own_retention_or_the_programs(acme, sources):
    rows = {r.name: r for r in value.values(organization=acme, now=NOW)}
    ada, sam, idle = rows["Ada"], rows["Sam Source"], rows["Idle"]
    assert (ada.historic, ada.last_12_months) == (D("2500.00"), D("400.00"))
    assert (ada.own_retention.customers, ada.own_retention.still_buying) == (20, 10)
    assert not ada.retention_is_programs and ada.retention == D("0.5")
    assert ada.projected == D("653.73")
    assert (sam.historic, sam.last_12_months) == (D("600.00"), D("400.00"))
    assert sam.retention_is_programs and sam.retention == D(6) / D(11)
    assert sam.projected == hand(400, Fraction(6, 11), Fraction(1, 10), 5) == D("699.69")
    assert (idle.historic, idle.projected) == (D("0.00"), D("0.00"))
    assert [r.name for r in value.values(organization=acme, now=NOW)][:2] == ["Sam Source", "Ada"]


def test_each_kind_of_source(acme, sources):
    rows = {r.key: r for r in value.values(organization=acme, by="kind", now=NOW)}
    assert set(rows) == {"agent", "customer", "partner"}
    assert rows["agent"].projected == D("653.73")
    assert rows["customer"].projected == D("699.69")
    assert rows["customer"].historic + rows["agent"].historic == D("3100.00")


def test_the_horizon_and_discount_rate_are_the_organizations(acme, sources):
    acme.discount_rate, acme.horizon_years = D("0"), 2
    rows = {r.name: r for r in value.values(organization=acme, now=NOW)}
    assert rows["Ada"].projected == D("600.00")  # 400 + 400 x 0.5


def test_no_projection_without_anyone_old_enough(acme, program, source):
    won(acme, program, source, "new", when(2026, 5, 1))
    row = value.values(organization=acme, now=NOW, filters=Filters(source_id=source.pk))[0]
    assert row.retention is None and row.projected is None
    assert row.historic == D("100.00")


# The ranking of every source (RankedSources) ------------------------------------------------


def test_the_ranking_rounds_each_source_to_the_cent_exactly_as_projected_value():
    """The ranking multiplies R by f(p) in floating point; where that lands next to half a
    cent it must still give projected_value's cent (2.16 x f(0.25) at d = 200%, H = 3 is
    0.785 exactly: R x f(p) rounds to 0.78, the sum of the terms to 0.79)."""
    cases = [
        (D("2.16"), D("0.25"), D("2"), 3),
        (D("0.01"), D("0.5"), D("0"), 2),  # 0.015: half a cent, rounded up
        (D("-0.01"), D("0.5"), D("0"), 2),  # -0.015: away from zero
        (D("0.03"), D("0.5"), D("0"), 2),  # 0.045
        (D("400"), D("0.5"), D("0.1"), 5),
        (D("400"), D(6) / D(11), D("0.1"), 5),
        (D("1"), D("0"), D("0.1"), 0),
        (D("999999999999.99"), D(1), D("0"), 10),  # beyond a float's cents: exact
        (D("-999999999999.99"), D(13) / D(17), D("0.05"), 7),
    ]
    rng = random.Random(12)
    for _ in range(3000):
        r = D(rng.randint(-(10**7), 10**9 if rng.random() < 0.9 else 10**14)).scaleb(-2)
        p = D(rng.randint(0, 40)) / D(rng.randint(20, 40))
        d = rng.choice([D("0"), D("0.05"), D("0.1"), D("0.125"), D("0.5"), D("2")])
        cases.append((r, p, d, rng.randint(1, 10)))
    for r, p, d, h in cases:
        exact = value.projected_value(r=r, p=p, d=d, h=h)
        assert value._Projection(p, d, h).cents(int(r * 100)) == exact * 100, (r, p, d, h)


def ladder(org, program, sam, now):
    """Sources whose projections are positive, tied, nothing or negative, dated from ``now``.

    Ada (agent): 20 friends a year old, 10 buying 50 again a month ago, 2 since churned:
    R 400, p her own 10/20. Sam: 2 friends, both buying 200 again: R 400, the program's p.
    "Tie B" then "Tie A": a friend each buying 100 again, the same projection (by name, not
    by id). The refunder: a friend refunding 30 of 100 a month ago, R -30: last but for
    "n/a". Idle, Zed, alpha and Émile: nothing, by code point (uppercase before lowercase)."""
    old, lately = now - timedelta(days=400), now - timedelta(days=30)
    ada = ReferralSource.objects.create(organization=org, name="Ada", kind="agent")
    for i in range(20):
        again = [("50", lately)] if i < 10 else []
        won(org, program, ada, f"a{i}", old, *again, status="churned" if i < 2 else "active")
    for i in range(2):
        won(org, program, sam, f"s{i}", old, ("200", lately))
    for name in ("Tie B", "Tie A"):
        tie = ReferralSource.objects.create(organization=org, name=name, kind="partner")
        won(org, program, tie, name.replace(" ", ""), old, ("100", lately))
    refunder = ReferralSource.objects.create(organization=org, name="Refunder", kind="partner")
    won(org, program, refunder, "r", old, ("-30", lately))
    for name in ("Émile", "alpha", "Zed", "Idle"):
        ReferralSource.objects.create(organization=org, name=name, kind="partner")


LADDER = ["Sam Source", "Ada", "Tie A", "Tie B", "Idle", "Zed", "alpha", "Émile", "Refunder"]


def test_every_source_ranked_by_projected_value_then_name(acme, program, source):
    ladder(acme, program, source, NOW)
    rows = value.values(organization=acme, now=NOW)
    assert [r.name for r in rows] == LADDER
    projected = {r.name: r.projected for r in rows}
    assert projected["Tie A"] == projected["Tie B"] > 0
    assert projected["Idle"] == projected["Zed"] == D("0.00") > projected["Refunder"]
    for row in rows:
        assert row.projected == value.projected_value(
            r=row.last_12_months, p=row.retention, d=acme.discount_rate, h=acme.horizon_years
        )
    ranked, kinds = value.ranked(organization=acme, now=NOW)
    assert len(ranked) == len(rows) and ranked[2:5] == rows[2:5] and ranked[-1] == rows[-1]
    assert list(ranked) == rows
    assert kinds == value.values(organization=acme, by="kind", now=NOW)


def test_without_anyones_retention_every_source_is_n_a_by_name(acme, program, source):
    ladder(acme, program, source, NOW)
    later = ProgramFactory(organization=acme, name="Later")
    won(acme, later, source, "new", NOW - timedelta(days=10), ("100", NOW - timedelta(days=5)))
    rows = value.values(organization=acme, now=NOW, filters=Filters(program_id=later.pk))
    assert all(r.projected is None for r in rows)
    assert [r.name for r in rows] == sorted(LADDER)
    assert rows[-1].name == "Émile" and rows[-2].name == "alpha"
