"""The daily rollups give every figure the raw rows give, and the pages read them.

The book (tests/analytics/book.py) is rolled up to 14 April 2026 (its "now" is 15 April);
each figure is read with the rollups and without, for periods inside them, across their end
(today is read from the rows), with each filter and each grouping.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext

from accounts.models import Organization
from analytics import report, rollups
from analytics.models import DailyRollup, RollupState
from analytics.period import Filters, Period
from referrals.models import Purchase
from tests.analytics.book import MARCH, NOW, at, build


@pytest.fixture
def book(acme, program, source):
    return build(acme, program, source)


def fresh(org):
    return Organization.objects.get(pk=org.pk)


def sums_per_source(org, every_day=False):
    from django.db.models import Sum

    from analytics.models import SourceRollup

    rows = (SourceRollup if every_day else DailyRollup).objects.filter(organization=org)
    grouped = rows.values("source").annotate(**{f"_{n}": Sum(n) for n in rollups.COLUMNS})
    return {r.pop("source"): {n[1:]: v for n, v in r.items()} for r in grouped}


def _click(org, book, when):
    from referrals.models import Click
    from referrals.services import link_get_or_create

    link = link_get_or_create(program=book["program"], source=book["sam"])
    return Click.objects.create(organization=org, link=link, at=when)


def every_figure(org, periods, filters, by):
    return (
        report.volumes(organization=org, periods=periods, filters=filters, by=by),
        report.revenues(organization=org, periods=periods, filters=filters, by=by),
        report.reward_costs(organization=org, periods=periods, filters=filters, by=by),
    )


def test_every_rolled_up_figure_equals_the_raw_rows(acme, book, settings):
    # Today, 15 April: a click before the rollups' cut (NOW less SETTLE, 11:58 UTC), in
    # today's rollups, and one after it, read from the rows.
    _click(acme, book, at(4, 15, 9))
    rollups.rebuild(organization=acme, now=NOW)
    state = RollupState.objects.get(organization=acme)
    assert state.built_through == date(2026, 4, 15)
    assert state.built_until == NOW - rollups.SETTLE == at(4, 15, 11, 58)
    assert DailyRollup.objects.filter(organization=acme, day=date(2026, 4, 15), clicks=1).exists()
    _click(acme, book, at(4, 15, 12, 30))
    across = Period(start=date(2026, 1, 1), end=date(2026, 4, 15), tz=acme.timezone)
    all_filters = [
        Filters(),
        Filters(source_id=book["sam"].pk),
        Filters(source_id=book["ada"].pk),
        Filters(program_id=book["program"].pk),
        Filters(program_id=book["partners"].pk),
        Filters(source_kind="agent"),
    ]
    checked = 0
    for periods in ([MARCH, MARCH.previous()], [across]):
        for filters in all_filters:
            for by in (None, "source", "kind", "day", "month"):
                settings.ANALYTICS_ROLLUPS = True
                rolled = every_figure(fresh(acme), periods, filters, by)
                settings.ANALYTICS_ROLLUPS = False
                raw = every_figure(fresh(acme), periods, filters, by)
                assert rolled == raw, (periods, filters, by)
                checked += 1
    assert checked == 60
    settings.ANALYTICS_ROLLUPS = True
    figures = report.figures(organization=fresh(acme), period=MARCH)
    assert figures.revenue.net_revenue == Decimal("1110.00")
    assert figures.cost.cost == Decimal("55.00") and figures.roi == Decimal("909.1")


def test_the_pages_read_whole_days_from_the_rollups_and_today_from_the_rows(acme, book):
    rollups.rebuild(organization=acme, now=NOW)
    with CaptureQueriesContext(connections["analytics"]) as queries:
        report.volumes(organization=fresh(acme), periods=[MARCH])
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "analytics_kindrollup" in sql and "referrals_click" not in sql
    today = Period(start=date(2026, 4, 15), end=date(2026, 4, 15), tz=acme.timezone)
    with CaptureQueriesContext(connections["analytics"]) as queries:
        report.volumes(organization=fresh(acme), periods=[today])
    assert "referrals_click" in " ".join(q["sql"] for q in queries.captured_queries)


def test_the_task_brings_the_last_days_up_to_date(acme, book, settings):
    from analytics.tasks import refresh_rollups

    rollups.rebuild(organization=acme, now=NOW)
    Purchase.objects.create(
        organization=acme,
        customer=book["fay"],
        external_id="F3",
        amount=Decimal("15.00"),
        currency="EUR",
        occurred_at=at(4, 13),
    )
    april = Period(start=date(2026, 4, 1), end=date(2026, 4, 14), tz=acme.timezone)
    settings.ANALYTICS_ROLLUPS = False
    raw = every_figure(fresh(acme), [april], Filters(), "day")
    settings.ANALYTICS_ROLLUPS = True
    stale = every_figure(fresh(acme), [april], Filters(), "day")
    assert stale == raw  # F3 has no conversion: nobody is credited, no figure moved
    from referrals.models import Conversion, Referral

    fay_referral = Referral.objects.get(friend=book["fay"])
    Conversion.objects.create(
        organization=acme,
        referral=fay_referral,
        source=fay_referral.source,
        customer=book["fay"],
        purchase=Purchase.objects.get(external_id="F3"),
        kind="purchase",
        external_id="F3",
        occurred_at=at(4, 13),
    )
    assert every_figure(fresh(acme), [april], Filters(), None)[1][0][None].net_revenue == Decimal(
        "370.00"
    )  # the rollup of 13 April is stale until the task runs
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=NOW + timedelta(hours=1)):
        assert refresh_rollups() >= 1
    settings.ANALYTICS_ROLLUPS = False
    raw = every_figure(fresh(acme), [april], Filters(), None)
    settings.ANALYTICS_ROLLUPS = True
    assert every_figure(fresh(acme), [april], Filters(), None) == raw
    assert raw[1][0][None].net_revenue == Decimal("385.00")
    # The sums of every day per source moved with the days built again.
    assert sums_per_source(acme) == sums_per_source(acme, every_day=True)
    assert sums_per_source(acme)[book["sam"].pk]["net"] == Decimal("725.00")


def test_the_command_rebuilds_every_organization(acme, globex, book, capsys):
    call_command("rebuild_analytics", "--no-progress")
    assert RollupState.objects.filter(organization__in=[acme, globex]).count() == 2
    assert "2 organization(s)" in capsys.readouterr().out


def test_the_pages_say_how_fresh_the_rollups_are_and_show_the_same_numbers(
    acme, book, login, charlie, settings
):
    client = login(charlie)
    march = {"period": "custom", "start": "2026-03-01", "end": "2026-03-31"}
    pages = [
        "/app/analytics/funnel/",
        "/app/analytics/revenue-and-cost/",
        "/app/analytics/sources/",
    ]
    live = {path: client.get(path, {**march, "export": "csv"}) for path in pages}
    live = {path: b"".join(r.streaming_content) for path, r in live.items()}
    assert "Every number is read live" in client.get(pages[0], march).content.decode()
    rollups.rebuild(organization=acme, now=NOW)
    html = client.get(pages[0], march).content.decode()
    # Shown in the organization's time zone: 11:58 UTC is 13:58 in Amsterdam.
    assert "What happened up to 15 Apr 2026 13:58 comes from the rollups" in html
    for path in pages:
        rolled = b"".join(client.get(path, {**march, "export": "csv"}).streaming_content)
        assert rolled == live[path], path


def test_uncredited_revenue_and_credit_granted_from_the_rollups_equal_the_rows(
    acme, book, settings
):
    rollups.rebuild(organization=acme, now=NOW)
    across = Period(start=date(2026, 1, 1), end=date(2026, 4, 15), tz=acme.timezone)
    for periods in ([MARCH, MARCH.previous()], [across]):
        for by in (None, "day", "month"):
            settings.ANALYTICS_ROLLUPS = True
            rolled = report.uncredited_revenues(organization=fresh(acme), periods=periods, by=by)
            settings.ANALYTICS_ROLLUPS = False
            raw = report.uncredited_revenues(organization=fresh(acme), periods=periods, by=by)
            assert rolled == raw, (periods, by)
    settings.ANALYTICS_ROLLUPS = True
    # Nick's 1000 (nobody referred him) and Ivy's 90 (her referral was rejected), in March.
    assert report.uncredited_revenues(organization=fresh(acme), periods=[MARCH])[0] == {
        None: Decimal("1090.00")
    }
    # Fay's credit of 10 was granted on 5 March, Sam's 8 in February.
    costs = report.reward_costs(organization=fresh(acme), periods=[MARCH, MARCH.previous()])
    assert [c[None].credit_granted for c in costs] == [Decimal("10.00"), Decimal("8.00")]
    with pytest.raises(ValueError):
        report.uncredited_revenues(organization=acme, periods=[MARCH], by="source")


def test_the_rows_per_kind_of_source_are_the_sums_of_the_rows_per_source(acme, book):
    from django.db.models import Sum

    from analytics.models import KindRollup, SourceRollup

    rollups.rebuild(organization=acme, now=NOW)
    per_source = DailyRollup.objects.filter(organization=acme).aggregate(
        **{name: Sum(name) for name in rollups.COLUMNS}
    )
    per_kind = KindRollup.objects.filter(organization=acme).aggregate(
        **{name: Sum(name) for name in rollups.COLUMNS}
    )
    every_day = SourceRollup.objects.filter(organization=acme).aggregate(
        **{name: Sum(name) for name in rollups.COLUMNS}
    )
    assert per_kind == per_source == every_day and per_kind["net"] == Decimal("1680.00")
    # Building March again takes its old rows (clicks and all) from the sums and adds the new.
    before = sums_per_source(acme, every_day=True)
    assert rollups.build(organization=acme, start=date(2026, 3, 1), end=date(2026, 3, 31)) > 0
    assert sums_per_source(acme, every_day=True) == before == sums_per_source(acme)
    kinds = set(KindRollup.objects.filter(organization=acme).values_list("kind", flat=True))
    assert kinds == {"customer", "agent", None}  # None: Nick's and Ivy's purchases
    # A read without a source reads the rows per kind, one with a source the rows per source.
    with CaptureQueriesContext(connections["analytics"]) as queries:
        report.volumes(organization=fresh(acme), periods=[MARCH], by="kind")
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "analytics_kindrollup" in sql and "analytics_dailyrollup" not in sql
    with CaptureQueriesContext(connections["analytics"]) as queries:
        report.volumes(organization=fresh(acme), periods=[MARCH], by="source")
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "analytics_dailyrollup" in sql and "analytics_kindrollup" not in sql


def test_a_source_that_changes_kind_moves_its_figures_to_the_new_kind_at_the_next_refresh(
    acme, book, settings
):
    """The rows per kind sum the rows per source by each source's kind now, as the raw rows
    read it: a source made an agent after the fact is an agent on every day."""
    from unittest import mock

    from django.db.models import Sum

    from analytics.models import KindRollup
    from analytics.tasks import refresh_rollups

    rollups.rebuild(organization=acme, now=NOW)
    sam = book["sam"]
    assert sam.kind == "customer"
    sam.kind = "agent"
    sam.save(update_fields=["kind"])
    whole = Period(start=date(2026, 1, 1), end=date(2026, 4, 14), tz=acme.timezone)
    settings.ANALYTICS_ROLLUPS = False
    raw = every_figure(fresh(acme), [whole], Filters(), "kind")
    settings.ANALYTICS_ROLLUPS = True
    assert every_figure(fresh(acme), [whole], Filters(), "kind") != raw  # stale until refreshed
    with mock.patch("django.utils.timezone.now", return_value=NOW + timedelta(hours=1)):
        assert refresh_rollups() >= 1
    assert every_figure(fresh(acme), [whole], Filters(), "kind") == raw
    for kind in ("agent", "customer"):
        settings.ANALYTICS_ROLLUPS = False
        raw = every_figure(fresh(acme), [whole], Filters(source_kind=kind), None)
        settings.ANALYTICS_ROLLUPS = True
        assert every_figure(fresh(acme), [whole], Filters(source_kind=kind), None) == raw
    sam_net = sums_per_source(acme)[sam.pk]["net"]
    agent_net = KindRollup.objects.filter(organization=acme, kind="agent").aggregate(
        total=Sum("net")
    )["total"]
    assert sam_net > 0 and agent_net >= sam_net  # Sam's revenue now counts for agents
    # Nothing changed since: the next refresh does not sum the kinds again.
    state = RollupState.objects.get(organization=acme)
    assert rollups.resum_kinds(organization=fresh(acme), state=state) is False


def test_the_overview_all_time_tiles_from_the_rollups_equal_the_rows_and_the_pages(
    acme, book, settings, django_assert_max_num_queries
):
    from analytics import selectors

    rollups.rebuild(organization=acme, now=NOW)
    settings.ANALYTICS_ROLLUPS = False
    raw = selectors.overview_all_time(organization=fresh(acme))
    old = selectors.overview(organization=fresh(acme))  # the API's all-time figures
    raw_kinds = selectors.by_source_kind(organization=fresh(acme))
    raw_top = [(s.name, s.revenue) for s in selectors.top_sources(organization=fresh(acme))]
    raw_series = selectors.monthly_series(organization=fresh(acme), now=NOW)
    settings.ANALYTICS_ROLLUPS = True
    with django_assert_max_num_queries(16):
        rolled = selectors.overview_all_time(organization=fresh(acme))
    assert rolled == raw == old
    # By hand: every credited purchase less refunds (Zoe 260, Fay 450, Hal 470, Olga 500);
    # Nick's 1000 and Ivy's 90 are nobody's; rewards kept 15 + 10 + 25 + 5 + 8; credit
    # granted 10 + 8; Zoe, Fay and Hal won.
    assert (rolled.clicks, rolled.referrals, rolled.signups, rolled.converted) == (6, 6, 4, 3)
    assert (rolled.purchases, rolled.revenue, rolled.other_revenue) == (
        8,
        Decimal("1680.00"),
        Decimal("1090.00"),
    )
    assert (rolled.reward_cost, rolled.credits_issued) == (Decimal("63.00"), Decimal("18.00"))
    # The all-time figures are the sums of the pages' figures over the months.
    ends = [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    months = [Period(start=end.replace(day=1), end=end, tz=acme.timezone) for end in ends]
    figures = report.figures_for(organization=fresh(acme), periods=months)
    assert sum(f.revenue.net_revenue for f in figures) == rolled.revenue
    assert sum(f.volume.clicks for f in figures) == rolled.clicks
    assert sum(f.cost.cost for f in figures) == rolled.reward_cost
    assert sum(f.cost.credit_granted for f in figures) == rolled.credits_issued
    kinds = selectors.by_source_kind(organization=fresh(acme))
    assert kinds == raw_kinds
    assert [(k["kind"], k["referrals"], k["converted"], k["revenue"]) for k in kinds] == [
        ("agent", 3, 1, Decimal("970.00")),
        ("customer", 3, 2, Decimal("710.00")),
    ]
    with CaptureQueriesContext(connections["analytics"]) as queries:
        top = [(s.name, s.revenue) for s in selectors.top_sources(organization=fresh(acme))]
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "analytics_sourcerollup" in sql and "analytics_dailyrollup" not in sql  # a row each
    assert top == raw_top == [("Ada", Decimal("970.00")), ("Sam Source", Decimal("710.00"))]
    series = selectors.monthly_series(organization=fresh(acme), now=NOW)
    assert series == raw_series
    assert series["labels"] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert series["clicks"] == [0, 1, 4, 1]
    assert series["converted"] == [1, 0, 2, 0]


def _credited_sale(acme, customer, referral, ref, amount, when, kind="purchase", refund_of=None):
    from referrals.models import Conversion

    purchase = Purchase.objects.create(
        organization=acme,
        customer=customer,
        kind=kind,
        external_id=ref,
        amount=Decimal(amount),
        currency="EUR",
        refund_of=refund_of,
        occurred_at=when,
    )
    Conversion.objects.create(
        organization=acme,
        referral=referral,
        source=referral.source,
        customer=customer,
        purchase=purchase,
        kind=kind,
        external_id=ref,
        occurred_at=when,
    )
    return purchase


def test_new_business_and_the_value_of_the_customers_won_from_the_rollups_equal_the_rows(
    acme, book, settings
):
    """New business and the value of the customers won tie a purchase's day to the day its
    customer was won: read from ``WonRollup`` for the days it covers and from the rows for
    today, they equal the rows for every period, filter and grouping, including a purchase
    today, a refund today, and a purchase dated before its customer was won."""
    from analytics.models import WonKindRollup, WonRollup
    from referrals.models import Referral

    fay = book["fay"]
    referral = Referral.objects.get(friend=fay)
    # Dated before Fay was won (5 March): in her value, never in new business of a period
    # that starts on the day she was won.
    early = _credited_sale(acme, fay, referral, "F-early", "35.00", at(3, 4))
    # Today (15 April): a purchase before the rollups' cut (11:58), in today's rollups, and a
    # refund of the early one after it, read from the rows.
    _credited_sale(acme, fay, referral, "F-today", "45.00", at(4, 15, 9))
    rollups.rebuild(organization=acme, now=NOW)
    assert RollupState.objects.get(organization=acme).won_built
    assert WonRollup.objects.filter(organization=acme, day=date(2026, 4, 15)).exists()
    assert WonKindRollup.objects.filter(organization=acme).exists()
    _credited_sale(
        acme, fay, referral, "F-back", "5.00", at(4, 15, 12, 30), kind="refund", refund_of=early
    )
    from_march = Period(start=date(2026, 3, 5), end=date(2026, 4, 15), tz=acme.timezone)
    across = Period(start=date(2026, 1, 1), end=date(2026, 4, 15), tz=acme.timezone)
    checked = 0
    for periods in ([MARCH, MARCH.previous()], [from_march], [across]):
        for filters in (
            Filters(),
            Filters(source_id=book["sam"].pk),
            Filters(program_id=book["program"].pk),
            Filters(source_kind="customer"),
        ):
            for by in (None, "source", "kind"):
                settings.ANALYTICS_ROLLUPS = True
                rolled = report.revenues(
                    organization=fresh(acme), periods=periods, filters=filters, by=by
                )
                settings.ANALYTICS_ROLLUPS = False
                raw = report.revenues(
                    organization=fresh(acme), periods=periods, filters=filters, by=by
                )
                assert rolled == raw, (periods, filters, by)
                checked += 1
    assert checked == 36
    settings.ANALYTICS_ROLLUPS = True
    march = report.revenue(organization=fresh(acme), period=MARCH)[None]
    # By hand (the book's 920.00 to date, plus Fay's 35 + 45 - 5), and March's new business:
    # the book's 550.00 and the early purchase (4 March, before Fay was won on the 5th, but
    # in March).
    assert march.value_of_customers_won == Decimal("995.00")
    assert march.new_business == Decimal("585.00")
    since_won = report.revenue(organization=fresh(acme), period=from_march)[None]
    assert since_won.new_business == since_won.value_of_customers_won - Decimal("35.00")


def test_rollups_built_before_the_rows_of_new_business_get_them_at_the_next_refresh(
    acme, book, settings
):
    from unittest import mock

    from analytics.models import WonRollup
    from analytics.tasks import refresh_rollups

    rollups.rebuild(organization=acme, now=NOW)
    WonRollup.objects.filter(organization=acme).delete()
    RollupState.objects.filter(organization=acme).update(won_built=False)
    settings.ANALYTICS_ROLLUPS = False
    raw = report.revenues(organization=fresh(acme), periods=[MARCH], by="source")
    settings.ANALYTICS_ROLLUPS = True
    # Not built: read from the rows meanwhile, the same figures.
    assert report.revenues(organization=fresh(acme), periods=[MARCH], by="source") == raw
    with mock.patch("django.utils.timezone.now", return_value=NOW + timedelta(hours=1)):
        assert refresh_rollups() >= 1
    assert RollupState.objects.get(organization=acme).won_built
    assert WonRollup.objects.filter(organization=acme, day__lt=date(2026, 4, 12)).exists()
    assert report.revenues(organization=fresh(acme), periods=[MARCH], by="source") == raw


def test_unrecovered_debt_from_the_balance_snapshot_equals_the_rows(acme, book, settings):
    """Debt is a balance at an instant: read from the balances at the rollups' cut moved by
    the entries between, before and after that instant, it equals the rows."""
    from accounts.models import ReferralSource
    from analytics.models import BalanceSnapshot
    from rewards.models import CreditAccount, PayoutBalanceEntry

    ada_account = CreditAccount.objects.get(organization=acme, source=book["ada"])
    # Kim (an agent) owed 3.00 from 10 to 20 March, settled before the snapshot: a debt of
    # the first half of March, though her balance at the snapshot owes nothing.
    kim = ReferralSource.objects.create(organization=acme, name="Kim", kind="agent")
    kim_account = CreditAccount.objects.create(organization=acme, source=kim, currency="EUR")
    for key, amount, day in (("a", "-3.00", 10), ("b", "3.00", 20)):
        PayoutBalanceEntry.objects.create(
            organization=acme,
            account=kim_account,
            kind="debt" if key == "a" else "settlement",
            amount=Decimal(amount),
            idempotency_key=f"debt:march:{key}",
            at=at(3, day),
        )
    rollups.rebuild(organization=acme, now=NOW)
    state = RollupState.objects.get(organization=acme)
    assert state.balances_at == state.built_until == NOW - rollups.SETTLE
    assert BalanceSnapshot.objects.filter(organization=acme).count() == 3
    kim_now = BalanceSnapshot.objects.get(organization=acme, account_id=kim_account.pk)
    assert (kim_now.balance, kim_now.lowest) == (Decimal("0.00"), Decimal("-3.00"))
    # Today Ada owes 7.00 (after the snapshot, 11:58): in today's debt, not in March's.
    PayoutBalanceEntry.objects.create(
        organization=acme,
        account=ada_account,
        kind="debt",
        amount=Decimal("-7.00"),
        idempotency_key="debt:today",
        at=at(4, 15, 12, 30),
    )
    today = Period(start=date(2026, 4, 15), end=date(2026, 4, 15), tz=acme.timezone)
    april = Period(start=date(2026, 4, 1), end=date(2026, 4, 14), tz=acme.timezone)
    first_half = Period(start=date(2026, 3, 1), end=date(2026, 3, 15), tz=acme.timezone)
    for by in (None, "source", "kind"):
        for filters in (Filters(), Filters(source_id=book["ada"].pk), Filters(source_kind="agent")):
            periods = [MARCH, MARCH.previous(), april, today, first_half]
            settings.ANALYTICS_ROLLUPS = True
            rolled = report.reward_costs(
                organization=fresh(acme), periods=periods, filters=filters, by=by
            )
            settings.ANALYTICS_ROLLUPS = False
            raw = report.reward_costs(
                organization=fresh(acme), periods=periods, filters=filters, by=by
            )
            assert rolled == raw, (by, filters)
    settings.ANALYTICS_ROLLUPS = True
    debts = [
        report.reward_cost(organization=fresh(acme), period=p)[None].unrecovered_debt
        for p in (MARCH, april, today, first_half)
    ]
    # Sam: -12.00 on 12 March, 4.00 settled on 5 April; Kim: -3.00 from 10 to 20 March;
    # Ada: -7.00 today.
    assert debts == [Decimal("12.00"), Decimal("8.00"), Decimal("15.00"), Decimal("15.00")]


def _sourced(acme, book, name, amount, when, won=None):
    """A partner source of ``name`` whose friend (also ``name``) was won on ``won`` (2 March)
    and bought ``amount`` on ``when``: the friend, the referral and the sale."""
    from accounts.models import Customer, ReferralSource
    from referrals.models import Referral

    src = ReferralSource.objects.create(organization=acme, name=name, kind="partner")
    friend = Customer.objects.create(
        organization=acme, email=f"{name.lower()}@example.com", name=name, is_referred=True
    )
    referral = Referral.objects.create(
        organization=acme,
        program=book["program"],
        source=src,
        friend=friend,
        friend_email=friend.email,
        channel="email",
        created_at=at(3, 1),
        converted_at=won or at(3, 2),
        status="converted",
    )
    sale = _credited_sale(acme, friend, referral, f"{name}-1", amount, when)
    return friend, referral, sale


@pytest.mark.parametrize("kept", [rollups.KEPT_RANKED, 3])
def test_the_top_sources_ranked_in_the_database_are_the_top_of_every_source(
    acme, book, settings, django_assert_max_num_queries, monkeypatch, kept
):
    """The overview's top sources by all-time revenue are ranked in the database over the
    rolled-up days (the first ``KEPT_RANKED`` ranked at the build), then today's rows are
    added: a source today lifts into the top, one a refund today drops out, and ties fall by
    name, as ranking every source's rows gives."""
    monkeypatch.setattr(rollups, "KEPT_RANKED", kept)
    from accounts.models import Customer
    from analytics import selectors
    from referrals.models import Referral

    def sourced(name, amount, when):
        return _sourced(acme, book, name, amount, when)

    # Rolled up: Ada 970 and Sam 710 (the book), then these; "Kit" and "Jo" tie at 600.
    made = {
        name: sourced(name, amount, at(3, 10))
        for name, amount in (("Kit", "600.00"), ("Jo", "600.00"), ("Lee", "590.00"))
    }
    for n in range(8):
        sourced(f"Small{n}", f"{10 + n}.00", at(3, 11))
    moe, moe_ref, moe_sale = sourced("Moe", "650.00", at(3, 12))
    rollups.rebuild(organization=acme, now=NOW)
    ranked = RollupState.objects.get(organization=acme).ranked_by_net
    assert len(ranked) == min(kept, 14) and ranked[0] == [book["ada"].pk, "970.00"]
    # Today, after the rollups' cut (11:58): Small0 buys 900 (into the top), Moe's sale is
    # refunded in full (out of it) and 595.00 of Jo's (down to 5.00, below the Smalls).
    jo, jo_ref, jo_sale = made["Jo"]
    _credited_sale(
        acme, jo, jo_ref, "Jo-back", "595.00", at(4, 15, 12, 10), kind="refund", refund_of=jo_sale
    )
    small0 = Customer.objects.get(organization=acme, name="Small0")
    _credited_sale(
        acme, small0, Referral.objects.get(friend=small0), "Small0-2", "900.00", at(4, 15, 12, 20)
    )
    _credited_sale(acme, moe, moe_ref, "Moe-back", "650.00", at(4, 15, 12, 30), "refund", moe_sale)

    def top(limit):
        return [
            (s.name, s.revenue, s.referral_count, s.won_count)
            for s in selectors.top_sources(organization=fresh(acme), limit=limit)
        ]

    for limit in range(1, 15):
        settings.ANALYTICS_ROLLUPS = False
        raw = top(limit)
        settings.ANALYTICS_ROLLUPS = True
        with django_assert_max_num_queries(30):
            assert top(limit) == raw, limit
    assert [name for name, *_ in top(5)] == ["Ada", "Small0", "Sam Source", "Kit", "Lee"]
    assert top(5)[3] == ("Kit", Decimal("600.00"), 1, 1)
    assert top(20)[-1][:2] == ("Jo", Decimal("5.00"))
    assert ("Moe", Decimal("0.00")) not in [row[:2] for row in top(20)]


def test_the_top_sources_by_value_ranked_on_the_won_rollups_are_the_top_of_every_source(
    acme, book, settings
):
    """The overview's sources whose customers won in the period are worth the most: ranked on
    the value alone, figures read for the leaders, they are those of every source's figures,
    with today's rows, and a source whose value is another's referral's is passed over."""
    from accounts.models import ReferralSource
    from referrals.models import Conversion

    for n, amount in enumerate(("300.00", "300.00", "120.00", "80.00", "40.00", "20.00")):
        _sourced(acme, book, f"V{n}", amount, at(3, 20), won=at(3, 10 + n))
    # V0's friend buys 500 today; V3's sale was refunded today (-80: nothing left).
    v0 = Conversion.objects.filter(organization=acme, source__name="V0").first()
    _credited_sale(acme, v0.customer, v0.referral, "V0-2", "500.00", at(4, 15, 12, 30))
    v3 = Conversion.objects.filter(organization=acme, source__name="V3").first()
    _credited_sale(
        acme, v3.customer, v3.referral, "V3-back", "80.00", at(4, 15, 12, 30), "refund", v3.purchase
    )
    # V4's friend's sale credited to Zed, a source with no referral: Zed has value and no
    # customer won (passed over), V4 a customer won and no value (ranked last).
    zed = ReferralSource.objects.create(organization=acme, name="Zed", kind="partner")
    v4 = Conversion.objects.filter(organization=acme, source__name="V4").first()
    Conversion.objects.filter(pk=v4.pk).update(source=zed)
    rollups.rebuild(organization=acme, now=NOW)

    def top(period, limit):
        return [
            (s["name"], s["revenue"].customers_won, s["revenue"].value_of_customers_won)
            for s in report.top_sources_by_value(
                organization=fresh(acme), period=period, limit=limit
            )
        ]

    from_march = Period(start=date(2026, 3, 1), end=date(2026, 4, 15), tz=acme.timezone)
    for period in (MARCH, from_march):
        for limit in range(1, 10):
            settings.ANALYTICS_ROLLUPS = False
            raw = top(period, limit)
            settings.ANALYTICS_ROLLUPS = True
            assert top(period, limit) == raw, (period, limit)
    march = top(MARCH, 10)
    assert march[0] == ("V0", 1, Decimal("800.00"))
    assert "Zed" not in [name for name, *_ in march]
    six = ["V0", "Ada", "Sam Source", "V1", "V2", "V5"]  # Zed's 40.00 passed over
    assert [name for name, *_ in top(MARCH, 6)] == six
    assert march[-2:] == [("V3", 1, Decimal("0.00")), ("V4", 1, Decimal("0.00"))]  # by id


def test_a_row_recorded_after_a_build_for_an_instant_before_its_cut_counts_from_the_next(
    acme, book, settings
):
    """The pages read the rows from the rollups' cut on: a click recorded after the build
    but dated before the cut (a late event) waits for the next build, ten minutes at most,
    while one dated after the cut counts at once."""
    from unittest import mock

    from analytics.tasks import refresh_rollups

    rollups.rebuild(organization=acme, now=NOW)
    today = Period(start=date(2026, 4, 15), end=date(2026, 4, 15), tz=acme.timezone)

    def clicks(rolled):
        settings.ANALYTICS_ROLLUPS = rolled
        return report.volume(organization=fresh(acme), period=today)[None].clicks

    assert clicks(True) == clicks(False) == 0
    _click(acme, book, at(4, 15, 12, 30))
    assert clicks(True) == clicks(False) == 1
    _click(acme, book, at(4, 15, 9))  # recorded late
    assert (clicks(True), clicks(False)) == (1, 2)
    with mock.patch("django.utils.timezone.now", return_value=NOW + timedelta(minutes=10)):
        assert refresh_rollups() >= 1
    state = RollupState.objects.get(organization=acme)
    assert state.built_until == NOW + timedelta(minutes=10) - rollups.SETTLE
    assert clicks(True) == clicks(False) == 2


def test_the_ranking_by_value_merges_the_sources_the_rows_after_the_cut_touch(acme, book, settings):
    """Ranked in the database a chunk at a time, the sources the rows after the rollups'
    cut touch ranked apart and merged in: the order of every source's value read whole."""
    from referrals.models import Conversion

    for n, amount in enumerate(("300.00", "200.00", "100.00", "50.00")):
        _sourced(acme, book, f"R{n}", amount, at(3, 20), won=at(3, 10 + n))
    rollups.rebuild(organization=acme, now=NOW)
    # After the cut: R3's friend buys 200 more (250, up to second of the four), and R0's
    # 300 is refunded but for 20 (down to last).
    r3 = Conversion.objects.get(organization=acme, source__name="R3")
    _credited_sale(acme, r3.customer, r3.referral, "R3-2", "200.00", at(4, 15, 12, 30))
    r0 = Conversion.objects.get(organization=acme, source__name="R0")
    _credited_sale(
        acme,
        r0.customer,
        r0.referral,
        "R0-back",
        "280.00",
        at(4, 15, 12, 40),
        "refund",
        r0.purchase,
    )
    settings.ANALYTICS_ROLLUPS = False
    value_of = report._won_value_by_source(fresh(acme), MARCH, Filters())
    whole = sorted((k for k, v in value_of.items() if v > 0), key=lambda k: (-value_of[k], k))
    settings.ANALYTICS_ROLLUPS = True
    for first in (1, 2, 3, 20):
        ranked = report._ranked_by_won_value(fresh(acme), MARCH, Filters(), first)
        assert [(key, value_of[key]) for key in whole] == list(ranked)
    from accounts.models import ReferralSource

    names = dict(ReferralSource.objects.filter(organization=acme).values_list("pk", "name"))
    assert [names[k] for k in whole if names[k].startswith("R")] == ["R3", "R1", "R2", "R0"]


def test_a_new_time_zone_rebuilds_the_days_rolled_up_in_the_old_one(acme, book, settings):
    """The rollups hold local days: after the owner moves the organization to another time
    zone, a period's figures are those of its days in the new zone, as the rows give them."""
    from accounts.services import organization_settings_update

    rollups.rebuild(organization=acme, now=NOW)
    org = fresh(acme)
    organization_settings_update(
        organization=org,
        name=org.name,
        timezone_name="Pacific/Kiritimati",  # 13 hours from Amsterdam: most days move
        gross_margin=org.gross_margin,
        discount_rate=org.discount_rate,
        horizon_years=org.horizon_years,
    )
    march = Period(start=date(2026, 3, 1), end=date(2026, 3, 31), tz="Pacific/Kiritimati")
    settings.ANALYTICS_ROLLUPS = False
    raw = every_figure(fresh(acme), [march], Filters(), "day")
    settings.ANALYTICS_ROLLUPS = True
    # Until the rollups are built again, the pages read the rows.
    assert rollups.state(fresh(acme)) is None
    assert every_figure(fresh(acme), [march], Filters(), "day") == raw

    rollups.refresh(organization=fresh(acme), now=NOW)  # what the beat task does next

    assert RollupState.objects.get(organization=acme).timezone == "Pacific/Kiritimati"
    assert every_figure(fresh(acme), [march], Filters(), "day") == raw


def test_a_reward_voided_or_refunded_weeks_after_its_day_reaches_the_rollups_at_the_refresh(
    acme, book, settings
):
    """A reward's cost counts on the day it was issued: voided, or its purchase refunded,
    weeks later, the beat task's refresh builds that day again, so the overview's tiles (from
    the rollups) say what the API (from the rows) says."""
    from unittest import mock

    from analytics import selectors
    from analytics.tasks import refresh_rollups
    from rewards.models import Reward

    rollups.rebuild(organization=acme, now=NOW)
    later = NOW + timedelta(hours=1)
    # Sam's 25.00 of 7 March voided, and Sam's 20.00 of 5 March 8.00 more taken back for a
    # refund of Fay's order recorded now.
    voided = Reward.objects.get(organization=acme, amount=Decimal("25.00"))
    Reward.objects.filter(pk=voided.pk).update(status="void", voided_at=later)
    taken = Reward.objects.get(organization=acme, amount=Decimal("20.00"))
    order = taken.conversion.purchase
    refund = Purchase.objects.create(
        organization=acme,
        customer=order.customer,
        kind="refund",
        refund_of=order,
        external_id="late-refund",
        amount=Decimal("10.00"),
        currency="EUR",
        occurred_at=later,
        created_at=later,
    )
    Reward.objects.filter(pk=taken.pk).update(taken_back=Decimal("13.00"))
    assert refund.pk
    with mock.patch("django.utils.timezone.now", return_value=later + timedelta(minutes=5)):
        refresh_rollups()
        settings.ANALYTICS_ROLLUPS = False
        raw = selectors.overview(organization=fresh(acme))
        settings.ANALYTICS_ROLLUPS = True
        rolled = selectors.overview_all_time(organization=fresh(acme))
    assert raw.reward_cost == Decimal("30.00")  # 63.00 - 25.00 - 8.00
    assert rolled.reward_cost == raw.reward_cost


def test_a_referral_approved_weeks_after_its_purchase_reaches_the_rollups_at_the_refresh(
    acme, book, settings
):
    """A referral held for review and approved weeks later credits its source with what its
    friend bought while it waited, and wins the customer on the day of that purchase: the
    refresh builds that day again, so the overview (from the rollups) says what the API
    (from the rows) says."""
    from unittest import mock

    from accounts.models import Customer
    from analytics import selectors
    from analytics.tasks import refresh_rollups
    from referrals.models import Conversion, Referral
    from referrals.services import referral_approve

    friend = Customer.objects.create(organization=acme, email="una@example.com", name="Una")
    held = Referral.objects.create(
        organization=acme,
        program=book["program"],
        source=book["sam"],
        friend=friend,
        friend_email=friend.email,
        created_at=at(3, 24),
        flagged=True,
    )
    bought = Purchase.objects.create(
        organization=acme,
        customer=friend,
        external_id="una-1",
        amount=Decimal("100.00"),
        currency="EUR",
        occurred_at=at(3, 25),
    )
    Conversion.objects.create(
        organization=acme,
        referral=held,
        source=held.source,
        customer=friend,
        purchase=bought,
        kind="purchase",
        external_id="una-1",
        is_first_purchase=True,
        occurred_at=at(3, 25),
    )
    rollups.rebuild(organization=acme, now=NOW)
    later = NOW + timedelta(hours=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        referral_approve(referral=held, actor=None)
    with mock.patch("django.utils.timezone.now", return_value=later + timedelta(minutes=5)):
        refresh_rollups()
        settings.ANALYTICS_ROLLUPS = False
        raw = selectors.overview(organization=fresh(acme))
        settings.ANALYTICS_ROLLUPS = True
        rolled = selectors.overview_all_time(organization=fresh(acme))
    assert (raw.revenue, raw.converted) == (Decimal("1780.00"), 4)  # Una's 100.00, Una won
    assert (rolled.revenue, rolled.other_revenue, rolled.converted) == (
        raw.revenue,
        raw.other_revenue,
        raw.converted,
    )


def test_credit_expired_by_a_late_run_reaches_its_day_in_the_rollups_at_the_refresh(
    acme, book, settings
):
    """After an outage the expiry task closes lots days late and dates their breakage on
    the day they expired, often before the days the refresh builds again: it builds the
    days of the lots closed since its last build, so the rollups say what the rows say."""
    from unittest import mock

    from analytics.tasks import refresh_rollups
    from rewards.models import CreditAccount, CreditLot, LedgerEntry
    from rewards.services import expire_credit_lots

    account = CreditAccount.objects.get(organization=acme, source=book["sam"])
    lot = CreditLot.objects.create(
        organization=acme,
        account=account,
        amount=Decimal("6.00"),
        remaining=Decimal("6.00"),
        granted_at=at(3, 20),
        expires_at=at(3, 28),
    )
    LedgerEntry.objects.create(
        organization=acme,
        account=account,
        lot=lot,
        kind="grant",
        amount=Decimal("6.00"),
        idempotency_key="grant:late",
        at=at(3, 20),
    )
    rollups.rebuild(organization=acme, now=NOW)  # the task was down: the lot is still open
    later = NOW + timedelta(hours=1)
    assert expire_credit_lots(now=later) == 1
    with mock.patch("django.utils.timezone.now", return_value=later + timedelta(minutes=5)):
        refresh_rollups()
        settings.ANALYTICS_ROLLUPS = False
        raw = report.reward_cost(organization=fresh(acme), period=MARCH)[None]
        settings.ANALYTICS_ROLLUPS = True
        rolled = report.reward_cost(organization=fresh(acme), period=MARCH)[None]
    assert raw.breakage == Decimal("16.00")  # the book's 10.00 and this lot's 6.00
    assert rolled.breakage == raw.breakage
