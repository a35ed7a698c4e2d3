"""Volume, funnel, revenue, reward cost and ROI of a period, on the hand-computed book
(tests/analytics/book.py says how each figure is made)."""

from datetime import date
from decimal import Decimal

import pytest

from analytics import report
from analytics.period import Filters, Period, period_for
from tests.analytics.book import MARCH, at, build

D = Decimal


@pytest.fixture
def book(acme, program, source):
    return build(acme, program, source)


def test_the_previous_period_is_the_same_number_of_days_just_before():
    previous = MARCH.previous()
    assert (previous.start, previous.end) == (date(2026, 1, 29), date(2026, 2, 28))
    assert previous.days == MARCH.days == 31


def test_a_period_starts_and_ends_at_local_midnight(acme):
    assert MARCH.since == at(2, 28, 23, 0)  # UTC+1
    assert MARCH.until == at(3, 31, 22, 0)  # UTC+2 after 29 March
    this_month = period_for(organization=acme, preset="this_month", now=at(3, 31, 22, 30))
    assert (this_month.start, this_month.end) == (date(2026, 4, 1), date(2026, 4, 1))
    quarter = period_for(organization=acme, preset="this_quarter", now=at(5, 20))
    assert (quarter.start, quarter.end) == (date(2026, 4, 1), date(2026, 5, 20))
    last = period_for(organization=acme, preset="last_month", now=at(3, 10))
    assert (last.start, last.end) == (date(2026, 2, 1), date(2026, 2, 28))
    assert period_for(organization=acme, preset="last_30_days", now=at(3, 30)).days == 30


def test_a_cut_splits_a_period_at_an_instant_and_rows_with_a_date_go_after_it():
    """The rollups' cut: instants before it on one side, from it on on the other; rows
    with only a date fall whole after it on its day, before it on the days before."""
    cut = at(3, 10, 9, 30)  # 10:30 in Amsterdam on 10 March
    head, tail = MARCH.cut(cut)
    assert (head.start, head.end, head.since, head.until) == (
        date(2026, 3, 1), date(2026, 3, 10), MARCH.since, cut
    )  # fmt: skip
    assert (tail.start, tail.end, tail.since, tail.until) == (
        date(2026, 3, 10), date(2026, 3, 31), cut, MARCH.until
    )  # fmt: skip
    assert (head.first_date, head.last_date) == (date(2026, 3, 1), date(2026, 3, 9))
    assert (tail.first_date, tail.last_date) == (date(2026, 3, 10), date(2026, 3, 31))
    # The previous period is whole days, whatever the cut.
    assert tail.previous() == Period(
        start=date(2026, 2, 16), end=date(2026, 3, 9), tz=MARCH.tz, preset="custom"
    )
    # A cut after the period leaves no tail, one before it no head; at local midnight the
    # head keeps the days before whole and nothing of the cut's day.
    assert MARCH.cut(at(4, 2)) == (Period(MARCH.start, MARCH.end, MARCH.tz, before=at(4, 2)), None)
    assert MARCH.cut(at(2, 20)) == (None, Period(MARCH.start, MARCH.end, MARCH.tz, after=at(2, 20)))
    midnight = at(3, 9, 23, 0)  # 10 March 00:00 in Amsterdam
    head, tail = MARCH.cut(midnight)
    assert (head.until, head.last_date, tail.since, tail.first_date) == (
        midnight, date(2026, 3, 9), midnight, date(2026, 3, 10)
    )  # fmt: skip
    assert MARCH.cut(MARCH.since) == (
        None,
        Period(MARCH.start, MARCH.end, MARCH.tz, after=MARCH.since),
    )


def test_volume_counts_each_event_in_the_period_it_happened(acme, book):
    v = report.volume(organization=acme, period=MARCH)[None]
    assert v.clicks == 4  # 28 Feb 23:30 UTC is March; 31 Mar 22:30 UTC is April
    assert v.referrals == 4
    assert v.by_channel == {"link": 1, "email": 1, "phone": 0, "in_person": 1, "api": 1}
    assert v.signups == 2
    assert v.customers_won == 2
    assert v.purchases == 4  # F1, H1, Z3, O1: Ivy's is on a rejected referral, Nick's nobody's
    before = report.volume(organization=acme, period=MARCH.previous())[None]
    assert (before.clicks, before.referrals, before.signups, before.customers_won) == (1, 1, 1, 0)
    assert before.purchases == 1


def test_funnel_rates_and_n_a_for_a_zero_denominator(acme, book):
    r = report.report(organization=acme, period=MARCH)
    f = r.current.funnel
    assert (f.click_to_referral, f.referral_to_signup) == (D("100.0"), D("50.0"))
    assert (f.signup_to_customer, f.referral_to_customer) == (D("100.0"), D("50.0"))
    assert r.previous.funnel.signup_to_customer == D("0.0")
    ada = Filters(source_id=book["ada"].pk)
    before = report.figures(organization=acme, period=MARCH.previous(), filters=ada)
    assert before.volume.clicks == 0 and before.volume.referrals == 1
    assert before.funnel.click_to_referral is None


def test_revenue_splits_new_business_growth_and_advocacy(acme, book):
    r = report.revenue(organization=acme, period=MARCH)[None]
    assert r.net_revenue == D("1110.00")
    assert r.advocacy_revenue == D("500.00")
    assert r.referral_revenue == D("610.00")
    assert r.new_business == D("550.00")
    assert r.growth == D("560.00")
    assert r.contribution_value == D("250.00")
    assert r.customers_won == 2
    assert r.value_of_customers_won == D("920.00")
    assert r.value_per_customer_won == D("460.00")
    before = report.revenue(organization=acme, period=MARCH.previous())[None]
    assert (before.net_revenue, before.new_business, before.growth) == (D("80.00"), 0, D("80.00"))
    assert before.contribution_value == D("40.00")
    assert before.value_per_customer_won is None


def test_revenue_agrees_with_the_one_definition(acme, book):
    from referrals.models import Purchase

    one = (
        Purchase.objects.filter(organization=acme).credited().between(MARCH.since, MARCH.until)
    ).net_revenue()
    assert report.revenue(organization=acme, period=MARCH)[None].net_revenue == one


def test_reward_cost_is_net_of_voids_and_clawbacks(acme, book):
    c = report.reward_cost(organization=acme, period=MARCH)[None]
    assert c.cost == D("55.00")
    assert (c.referrer_cost, c.friend_cost) == (D("45.00"), D("10.00"))
    assert (c.issued, c.voided, c.taken_back) == (D("100.00"), D("40.00"), D("5.00"))
    assert c.issued - c.voided - c.taken_back == c.cost
    assert c.breakage == D("10.00")
    assert c.unrecovered_debt == D("12.00")
    assert c.cash_paid == D("25.00")
    before = report.reward_cost(organization=acme, period=MARCH.previous())[None]
    assert (before.cost, before.breakage, before.unrecovered_debt) == (D("8.00"), D("8.00"), 0)


def test_reward_cost_agrees_with_the_one_definition(acme, book):
    from rewards.models import Reward

    one = (
        Reward.objects.filter(organization=acme, created_at__gte=MARCH.since)
        .filter(created_at__lt=MARCH.until)
        .cost()
    )
    assert report.reward_cost(organization=acme, period=MARCH)[None].cost == one


def test_roi_uses_the_gross_margin_and_is_n_a_without_cost(acme, book):
    r = report.report(organization=acme, period=MARCH)
    assert r.current.roi == D("909.1")
    assert r.previous.roi == D("400.0")
    assert report.roi(revenue=D("10"), cost=D("0"), gross_margin=D("1")) is None
    empty = Period(start=date(2025, 1, 1), end=date(2025, 1, 31), tz="Europe/Amsterdam")
    assert report.figures(organization=acme, period=empty).roi is None


def test_the_apis_roi_is_the_reports_roi_rounded_once():
    # (100 - 81) / 81 = 0.2346: 23.5% on the dashboard, and 0.23 as the API's multiple
    # (rounding the dashboard's 23.5% again made it 0.24).
    from analytics.selectors import Overview

    o = Overview(
        clicks=0, referrals=0, signups=0, converted=0, purchases=1, revenue=D("100.00"),
        other_revenue=D("0.00"), reward_cost=D("81.00"), credits_issued=D("0.00"),
        pending_review=0, gross_margin=D("1"),
    )  # fmt: skip
    assert report.roi(revenue=o.revenue, cost=o.reward_cost, gross_margin=D("1")) == D("23.5")
    assert o.roi == D("0.23")


def test_filters_narrow_every_figure_to_a_program_source_or_kind(acme, book):
    sam = Filters(source_id=book["sam"].pk)
    f = report.figures(organization=acme, period=MARCH, filters=sam)
    assert (f.volume.clicks, f.volume.referrals, f.volume.customers_won) == (3, 2, 1)
    assert f.revenue.net_revenue == D("210.00")
    assert f.cost.cost == D("30.00")  # 15 + Fay's 10 (on Sam's conversion) + 5 by hand
    assert f.cost.unrecovered_debt == D("12.00")
    program = Filters(program_id=book["program"].pk)
    p = report.figures(organization=acme, period=MARCH, filters=program)
    assert p.cost.cost == D("25.00")  # the reward given by hand belongs to no program
    assert p.revenue.net_revenue == D("210.00")
    agents = Filters(source_kind="agent")
    a = report.figures(organization=acme, period=MARCH, filters=agents)
    assert a.revenue.net_revenue == D("900.00")
    assert a.revenue.contribution_value == D("250.00")
    assert a.cost.cash_paid == D("25.00")


def test_source_rows_add_up_to_the_totals_and_rank_by_value_sent(acme, book):
    rows = report.source_rows(organization=acme, period=MARCH)
    assert [r.name for r in rows] == ["Ada", "Sam Source"]  # 470.00 sent, then 450.00
    totals = report.figures(organization=acme, period=MARCH)
    assert sum(r.revenue.net_revenue for r in rows) == totals.revenue.net_revenue
    assert sum(r.volume.clicks for r in rows) == totals.volume.clicks
    assert sum(r.cost.cost for r in rows) == D("55.00")  # Fay's reward counts for Sam
    ada = rows[0]
    assert ada.revenue.advocacy_revenue == D("500.00")
    assert ada.roi == D("1700.0")  # (900 x 0.5 - 25) / 25


def test_another_tenant_sees_none_of_it(globex, book):
    f = report.figures(organization=globex, period=MARCH)
    assert (f.volume.clicks, f.revenue.net_revenue, f.cost.cost) == (0, 0, 0)


def test_the_series_buckets_add_up_to_the_periods_totals(acme, book):
    from analytics.series import series

    s = series(organization=acme, period=MARCH)
    assert s["bucket"] == "day" and len(s["labels"]) == 31
    assert s["labels"][0] == "2026-03-01"
    assert s["clicks"][0] == 1  # 28 Feb 23:30 UTC, 1 March local
    assert sum(s["clicks"]) == 4 and sum(s["customers_won"]) == 2
    assert sum(s["net_revenue"]) == D("1110.00")
    assert s["net_revenue"][19] == D("-50.00")  # 20 March: Fay's refund
    assert sum(s["cost"]) == D("55.00")
    quarter = Period(start=date(2026, 1, 1), end=date(2026, 6, 30), tz=acme.timezone)
    months = series(organization=acme, period=quarter)
    assert months["bucket"] == "month" and months["labels"][:3] == ["2026-01", "2026-02", "2026-03"]
    assert months["net_revenue"][:4] == [D("120.00"), D("80.00"), D("1110.00"), D("370.00")]


def test_the_apis_figures_of_a_period_count_signups_and_customers_won_as_the_report_does(
    acme, book
):
    # Hal was referred in February, signed up in February and was won on 4 March: a
    # customer won in March on the dashboard, and so in the API's summary and per source.
    from analytics import selectors

    v = report.volume(organization=acme, period=MARCH)[None]
    o = selectors.overview(organization=acme, since=MARCH.since, until=MARCH.until)
    assert (o.referrals, o.signups, o.converted) == (v.referrals, v.signups, v.customers_won)
    per_source = report.volume(organization=acme, period=MARCH, by="source")
    for row in selectors.source_stats(organization=acme, since=MARCH.since, until=MARCH.until):
        r = per_source.get(row.pk) or report.Volume()
        assert (row.referral_count, row.signup_count, row.converted_count) == (
            r.referrals,
            r.signups,
            r.customers_won,
        ), row.name
