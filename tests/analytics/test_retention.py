"""Retention and value of referred customers against the others, by monthly cohort.

now = 1 June 2026. A (referred) started 10 Jan 2025 with 100, bought 50 on day 50 and 30 on
1 Feb 2026; B (referred) started 20 Jan 2025 with 200, 20 refunded five days later, never
again; C (not referred) started 15 Jan 2025 with 80 and bought 20 on day 15; D (not referred)
started 20 May 2026: none of its spans is over yet.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from accounts.models import Customer
from analytics import retention
from analytics.period import Period
from referrals.models import Purchase

D = Decimal
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def when(y, m, d):
    return datetime(y, m, d, 12, tzinfo=UTC)


def customer(org, name, referred, *sales):
    c = Customer.objects.create(organization=org, email=f"{name}@example.com", is_referred=referred)
    last = None
    for i, (amount, on, *refund) in enumerate(sales):
        last = Purchase.objects.create(
            organization=org,
            customer=c,
            kind="refund" if refund else "purchase",
            refund_of=last if refund else None,
            external_id=f"{name}-{i}",
            amount=D(amount),
            currency="EUR",
            occurred_at=on,
        )
    return c


@pytest.fixture
def four(acme):
    customer(
        acme,
        "a",
        True,
        ("100", when(2025, 1, 10)),
        ("50", when(2025, 3, 1)),
        ("30", when(2026, 2, 1)),
    )
    customer(acme, "b", True, ("200", when(2025, 1, 20)), ("20", when(2025, 1, 25), "refund"))
    customer(acme, "c", False, ("80", when(2025, 1, 15)), ("20", when(2025, 1, 30)))
    customer(acme, "d", False, ("60", when(2026, 5, 20)))
    Customer.objects.create(organization=acme, email="never@example.com")  # never bought


def test_each_span_counts_customers_whose_span_is_over(acme, four):
    spans = {s.customer_id: s for s in retention.customer_spans(organization=acme, now=NOW)}
    assert len(spans) == 4  # a customer who never bought has not started
    a, b, c, d = (spans[k] for k in sorted(spans))
    assert a.still_buying == {30: True, 90: True, 180: True, 365: True}
    assert a.revenue == {30: D("100.00"), 90: D("150.00"), 180: D("150.00"), 365: D("150.00")}
    assert b.still_buying == dict.fromkeys(retention.SPANS, False)
    assert b.revenue == dict.fromkeys(retention.SPANS, D("180.00"))
    assert c.still_buying[30] is False and c.revenue[30] == D("100.00")
    assert d.still_buying == dict.fromkeys(retention.SPANS) and d.revenue[30] is None


def test_referred_against_the_others_with_intervals_and_n(acme, four):
    thirty = retention.referred_vs_other(organization=acme, now=NOW)[0]
    assert thirty.days == 30
    assert (thirty.referred.n, thirty.referred.still_buying) == (2, 1)
    assert (thirty.other.n, thirty.other.still_buying) == (1, 0)  # D is too young
    assert thirty.referred.share.value == D("0.5")
    assert thirty.referred.revenue_per_customer == D("140.00")
    assert thirty.other.revenue_per_customer == D("100.00")
    assert thirty.share_difference.value == D("0.5")
    assert thirty.revenue_difference.value == D("40")
    i = thirty.referred.revenue_interval  # 100 and 180: s^2 = 3200, se = sqrt(3200 / 2) = 40
    assert (i.low, i.high) == (D("61.6"), D("218.4"))
    assert thirty.too_small


def test_a_comparison_of_thirty_customers_a_side_is_not_too_small(acme):
    for i in range(retention.MIN_SAMPLE):
        customer(acme, f"r{i}", True, ("10", when(2025, 1, 1)), ("10", when(2025, 3, 1)))
        customer(acme, f"o{i}", False, ("10", when(2025, 1, 1)))
    thirty = retention.referred_vs_other(organization=acme, now=NOW)[0]
    assert not thirty.too_small
    assert thirty.referred.share.value == 1 and thirty.other.share.value == 0
    assert thirty.share_difference.low > 0  # a difference the interval can tell


def test_cohorts_by_month_of_start_in_the_organizations_time_zone(acme, four):
    customer(acme, "e", True, ("10", datetime(2025, 1, 31, 23, 30, tzinfo=UTC)))  # 1 Feb local
    cohorts = retention.cohorts(organization=acme, now=NOW)
    assert [c.month for c in cohorts] == ["2025-01", "2025-02", "2026-05"]
    jan = cohorts[0]
    assert jan.customers == {"referred": 2, "other": 1}
    assert jan.spans["referred"][90].still_buying == 1
    assert jan.spans["referred"][90].revenue_per_customer == D("165.00")  # (150 + 180) / 2
    assert cohorts[2].spans["other"][30].n == 0


def test_a_period_keeps_the_customers_who_started_in_it(acme, four):
    period = Period(start=date(2025, 1, 12), end=date(2025, 1, 31), tz=acme.timezone)
    spans = retention.customer_spans(organization=acme, period=period, now=NOW)
    assert sorted(s.revenue[30] for s in spans) == [D("100.00"), D("180.00")]  # C and B
