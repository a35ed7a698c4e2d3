"""The customer facts and cohort rollups give every retention and value figure the raw rows
give, and the refresh task brings them up to date.

The data: the book (tests/analytics/book.py: a quarter of 2026 at Acme, Europe/Amsterdam,
refunds, advocacy, a rejected referral, a customer nobody referred, one who never bought),
and a year of older customers around it:

- 22 of Ada's friends (program "Partners") won every 4 days from 5 Jan 2025, every third
  one buying again on day 40, 100 and 200 and every fifth one after a year, every fourth one
  refunding 25 a week after the start, every sixth one churned: enough for Ada's own
  12-month retention;
- each span's boundary day at NOW (the local day of NOW - N days): two of Sam's friends
  starting that day, at 08:00 UTC (over at NOW) and at 20:00 UTC (not yet), both buying again
  N days and an hour later, and a customer nobody referred starting at 06:00 UTC;
- Vic, nobody's friend, buying since 2025, who a referral of Sam's wins later (in the
  refresh test), and a late purchase of one of Ada's friends recorded after the build.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.core.management import call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext

from accounts.models import Customer, Organization
from analytics import facts, retention, rollups, selectors, value
from analytics.models import CohortRollup, CustomerFact, FactState
from analytics.period import Filters, Period
from referrals.models import Conversion, Purchase, Referral
from tests.analytics.book import MARCH, NOW, build

D = Decimal
_ids = count()


def fresh(org):
    return Organization.objects.get(pk=org.pk)


def _sale(org, who, amount, on, kind="purchase", refund_of=None, referral=None, created=None):
    ref = f"x{next(_ids)}"
    p = Purchase.objects.create(
        organization=org,
        customer=who,
        kind=kind,
        external_id=ref,
        amount=D(amount),
        currency="EUR",
        refund_of=refund_of,
        occurred_at=on,
        **({"created_at": created} if created else {}),
    )
    if referral is not None:
        Conversion.objects.create(
            organization=org,
            referral=referral,
            source=referral.source,
            customer=who,
            purchase=p,
            kind=kind,
            external_id=ref,
            occurred_at=on,
        )
    return p


def _friend(org, program, src, name, start, status="active"):
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
    return friend, referral


@pytest.fixture
def data(acme, program, source):
    book = build(acme, program, source)
    ada, partners, sam = book["ada"], book["partners"], book["sam"]
    start = datetime(2025, 1, 5, 9, tzinfo=UTC)
    for i in range(22):
        on = start + timedelta(days=4 * i)
        who, referral = _friend(
            acme, partners, ada, f"ada{i}", on, status="churned" if i % 6 == 0 else "active"
        )
        first = _sale(acme, who, "100.00", on, referral=referral)
        if i % 4 == 0:
            _sale(acme, who, "25.00", on + timedelta(days=7), "refund", first, referral)
        if i % 3 == 0:
            for days in (40, 100, 200):
                _sale(acme, who, "30.00", on + timedelta(days=days), referral=referral)
        if i % 5 == 0:
            _sale(acme, who, "45.50", on + timedelta(days=370), referral=referral)
    # Each span's boundary day at NOW: one start before NOW - N days, one after, same day.
    for days in retention.SPANS:
        cutoff = NOW - timedelta(days=days)
        for j, hour in enumerate((8, 20)):
            on = cutoff.replace(hour=hour)
            who, referral = _friend(acme, program, sam, f"edge{days}-{j}", on)
            _sale(acme, who, "10.00", on, referral=referral)
            _sale(acme, who, "5.00", on + timedelta(days=days, hours=1), referral=referral)
        other = Customer.objects.create(organization=acme, email=f"other{days}@example.com")
        _sale(acme, other, "33.00", cutoff.replace(hour=6))
    vic = Customer.objects.create(organization=acme, email="vic@example.com")
    for on, amount in ((datetime(2025, 2, 1, 12, tzinfo=UTC), "70.00"),
                       (datetime(2025, 6, 1, 12, tzinfo=UTC), "20.00")):  # fmt: skip
        _sale(acme, vic, amount, on)
    return {**book, "vic": vic}


NOWS = [NOW, NOW + timedelta(days=17, hours=5), NOW + timedelta(days=400)]
PERIODS = [
    None,
    MARCH,
    Period(start=date(2025, 1, 1), end=date(2026, 4, 15), tz="Europe/Amsterdam"),
    Period(start=date(2025, 4, 15), end=date(2025, 4, 15), tz="Europe/Amsterdam"),
]


def every_figure(org, book, now):
    filters = [
        Filters(),
        Filters(program_id=book["partners"].pk),
        Filters(source_id=book["ada"].pk),
        Filters(source_kind="customer"),
    ]
    return (
        [retention.cohorts(organization=fresh(org), period=p, now=now) for p in PERIODS],
        [retention.referred_vs_other(organization=fresh(org), period=p, now=now) for p in PERIODS],
        [
            value.values(organization=fresh(org), by=by, filters=f, now=now)
            for by in ("source", "kind")
            for f in filters
        ],
        selectors.customers_compared(organization=fresh(org)),
    )


def both(org, book, now, settings):
    settings.ANALYTICS_ROLLUPS = True
    rolled = every_figure(org, book, now)
    settings.ANALYTICS_ROLLUPS = False
    raw = every_figure(org, book, now)
    settings.ANALYTICS_ROLLUPS = True
    return rolled, raw


def test_every_figure_from_the_facts_equals_the_raw_rows(acme, data, settings):
    rollups.rebuild(organization=acme, now=NOW)
    assert (
        facts.rebuild(organization=acme, now=NOW)
        == Customer.objects.filter(organization=acme).count()
    )
    assert FactState.objects.get(organization=acme).recorded_through == NOW
    for now in NOWS:
        rolled, raw = both(acme, data, now, settings)
        for a, b in zip(rolled, raw, strict=True):
            assert a == b, now
    # The figures are not empty: the boundary days are partly over, spans of every length.
    thirty, *_, year = retention.referred_vs_other(organization=fresh(acme), now=NOW)
    assert thirty.referred.n > 20 and thirty.other.n >= 4 and year.referred.n >= 10
    edge = retention.referred_vs_other(organization=fresh(acme), period=PERIODS[3], now=NOW)
    assert (edge[-1].referred.n, edge[-1].referred.still_buying) == (1, 1)
    assert edge[-1].other.n == 1
    ada = {r.name: r for r in value.values(organization=fresh(acme), now=NOW)}["Ada"]
    assert not ada.retention_is_programs and ada.own_retention.customers >= 20


def test_the_pages_read_the_rollups_not_the_purchases(acme, data):
    facts.rebuild(organization=acme, now=NOW)
    for read in (
        lambda org: retention.cohorts(organization=org, now=NOW),
        lambda org: retention.referred_vs_other(organization=org, period=MARCH, now=NOW),
        lambda org: selectors.customers_compared(organization=org),
    ):
        org = fresh(acme)
        with CaptureQueriesContext(connections["analytics"]) as queries:
            read(org)
        sql = " ".join(q["sql"] for q in queries.captured_queries)
        assert "analytics_cohortrollup" in sql and "referrals_purchase" not in sql
        assert len(queries) <= 3, [q["sql"][:80] for q in queries.captured_queries]
    rollups.rebuild(organization=acme, now=NOW)
    facts.rebuild(organization=acme, now=NOW)
    org = fresh(acme)
    with CaptureQueriesContext(connections["analytics"]) as queries:
        value.values(organization=org, now=NOW)
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "analytics_sourcevalue" in sql and "analytics_customerfact" in sql
    assert "analytics_dailyrollup" not in sql  # historic to date is summed once per refresh


def test_the_cohort_rollups_sum_the_facts(acme, data):
    facts.rebuild(organization=acme, now=NOW)
    customers = Customer.objects.filter(organization=acme).count()
    assert CustomerFact.objects.filter(organization=acme).count() == customers
    rows = CohortRollup.objects.filter(organization=acme)
    assert sum(r.customers for r in rows) == customers
    never = rows.get(day=None, referred=False)  # Gus and the book's customers who never bought
    assert never.customers >= 1 and never.buying_30 == 0
    fay = CustomerFact.objects.get(customer=data["fay"])
    assert fay.start_day == date(2026, 3, 5) and fay.source_id == data["sam"].pk
    assert fay.revenue_30 == D("150.00") and fay.revenue == D("450.00")
    assert fay.again_30 and not fay.again_90  # 300 on 10 April, day 36


def test_the_task_picks_up_late_purchases_and_customers_won_later(acme, data, settings):
    from unittest import mock

    from analytics.tasks import refresh_rollups

    rollups.rebuild(organization=acme, now=NOW)
    facts.rebuild(organization=acme, now=NOW)
    later = NOW + timedelta(minutes=30)
    ada0 = Customer.objects.get(email="ada0@example.com")
    late = _sale(
        acme,
        ada0,
        "999.00",
        datetime(2025, 1, 20, 12, tzinfo=UTC),  # within its first 30 days, recorded now
        referral=Referral.objects.get(friend=ada0),
        created=later,
    )
    vic = data["vic"]
    Referral.objects.create(
        organization=acme,
        program=data["program"],
        source=data["sam"],
        friend=vic,
        status="converted",
        created_at=later,
        converted_at=later,
    )
    Customer.objects.filter(pk=vic.pk).update(is_referred=True)
    stale, raw = both(acme, data, NOW, settings)
    assert stale != raw  # the facts are as of NOW until the task runs
    before = selectors.customers_compared(organization=fresh(acme))
    with mock.patch("django.utils.timezone.now", return_value=later + timedelta(minutes=5)):
        assert refresh_rollups() >= 1
    assert FactState.objects.get(organization=acme).recorded_through == later + timedelta(minutes=5)
    rolled, raw = both(acme, data, NOW, settings)
    assert rolled == raw
    after = selectors.customers_compared(organization=fresh(acme))
    assert after["referred"].customers == before["referred"].customers + 1
    assert after["referred"].revenue == before["referred"].revenue + D("90.00") + late.amount
    fact = CustomerFact.objects.get(customer=vic)
    assert fact.referred and fact.source_id == data["sam"].pk


def test_a_refresh_redoes_only_the_changed_customers(acme, data):
    facts.rebuild(organization=acme, now=NOW)

    def past_everything():
        # Purchases are recorded at wall-clock time in these tests, and a refresh looks back
        # OVERLAP before its watermark: move the watermark past them.
        FactState.objects.filter(organization=acme).update(
            recorded_through=datetime.now(UTC) + facts.OVERLAP + timedelta(minutes=1)
        )

    past_everything()
    assert facts.refresh(organization=acme) == 0
    past_everything()
    new = Customer.objects.create(organization=acme, email="new@example.com")
    assert facts.refresh(organization=acme) == 1
    assert CustomerFact.objects.get(customer=new).started_at is None


def test_the_command_builds_the_facts(acme, globex, data, capsys):
    call_command("rebuild_analytics", "--no-progress")
    assert FactState.objects.filter(organization__in=[acme, globex]).count() == 2
    assert CustomerFact.objects.filter(organization=acme).exists()


def test_without_rollups_everything_is_read_raw(acme, data, settings):
    facts.rebuild(organization=acme, now=NOW)
    settings.ANALYTICS_ROLLUPS = False
    with CaptureQueriesContext(connections["analytics"]) as queries:
        retention.cohorts(organization=fresh(acme), now=NOW)
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "analytics_" not in sql and "referrals_purchase" in sql


def test_the_pages_say_how_fresh_the_facts_are_and_show_the_same_numbers(
    acme, data, login, charlie
):
    client = login(charlie)
    window = {"period": "custom", "start": "2025-01-01", "end": "2026-04-15"}
    pages = [
        "/app/analytics/cohorts/",
        "/app/analytics/referred-vs-not/",
        "/app/analytics/value/",
    ]

    def csv(path):
        return b"".join(client.get(path, {**window, "export": "csv"}).streaming_content)

    live = {path: csv(path) for path in pages}
    assert 'data-testid="facts-freshness"' not in client.get(pages[0], window).content.decode()
    rollups.rebuild(organization=acme, now=NOW)
    facts.rebuild(organization=acme, now=NOW)
    html = client.get(pages[0], window).content.decode()
    assert "come from customer facts that include every purchase and win recorded up to" in html
    for path in pages:
        assert csv(path) == live[path], path


def test_the_rows_after_the_source_values_count_in_historic_and_r_as_the_raw_rows_do(
    acme, data, settings
):
    """Rows after the source values (from the rollups' cut, NOW less SETTLE, on): Olga's
    advocacy purchase and its refund, and a churned friend's purchase, count in historic and
    not in R; an active friend's in both. The same sums as read from the rows."""
    rollups.rebuild(organization=acme, now=NOW)
    facts.rebuild(organization=acme, now=NOW)
    assert FactState.objects.get(organization=acme).values_until == NOW - rollups.SETTLE
    before = {r.name: r for r in value.values(organization=fresh(acme), now=NOW)}["Ada"]
    today = NOW - timedelta(minutes=1)
    olga = Customer.objects.get(organization=acme, email="olga@example.com")
    bought = Purchase.objects.create(
        organization=acme,
        customer=olga,
        external_id="olga-today",
        amount=D("80.00"),
        currency="EUR",
        occurred_at=today,
    )
    referral = Referral.objects.get(friend=olga)
    Conversion.objects.create(
        organization=acme,
        referral=referral,
        source=referral.source,
        customer=olga,
        purchase=bought,
        kind="advocacy",
        external_id="olga-today",
        occurred_at=today,
    )
    _sale(acme, olga, "20.00", today, "refund", bought, referral)
    for email, amount in (("ada0@example.com", "40.00"), ("ada1@example.com", "60.00")):
        friend = Customer.objects.get(organization=acme, email=email)
        _sale(acme, friend, amount, today, referral=Referral.objects.get(friend=friend))
    org = fresh(acme)
    with CaptureQueriesContext(connections["analytics"]) as queries:
        rolled = [value.values(organization=org, by=by, now=NOW) for by in ("source", "kind")]
    assert "analytics_sourcevalue" in " ".join(q["sql"] for q in queries.captured_queries)
    ada = {r.name: r for r in rolled[0]}["Ada"]
    assert ada.historic - before.historic == D("160.00")  # 80 - 20 + 40 + 60
    assert ada.last_12_months - before.last_12_months == D("60.00")  # ada1 alone
    settings.ANALYTICS_ROLLUPS = False
    raw = [value.values(organization=fresh(acme), by=by, now=NOW) for by in ("source", "kind")]

    def sums(tables):  # (the retention is the facts' as of their build until refreshed)
        return [{(r.key, r.historic, r.last_12_months) for r in rows} for rows in tables]

    assert sums(rolled) == sums(raw)


def test_a_new_time_zone_reads_the_rows_until_the_facts_are_built_in_it(acme, data, settings):
    """The facts hold each customer's local start day: after the owner moves the organization
    to another time zone, the cohorts and spans are those of the new zone's days, as the rows
    give them, and the next refresh builds the facts again in it."""
    from accounts.services import organization_settings_update

    rollups.rebuild(organization=acme, now=NOW)
    facts.rebuild(organization=acme, now=NOW)
    # A customer nobody referred starting at 20:00 UTC on 31 May 2025: May in Amsterdam,
    # June in Kiritimati (UTC+14).
    may = Customer.objects.create(organization=acme, email="may@example.com")
    _sale(acme, may, "12.00", datetime(2025, 5, 31, 20, tzinfo=UTC))
    facts.refresh(organization=fresh(acme), now=NOW)
    org = fresh(acme)
    organization_settings_update(
        organization=org,
        name=org.name,
        timezone_name="Pacific/Kiritimati",
        gross_margin=org.gross_margin,
        discount_rate=org.discount_rate,
        horizon_years=org.horizon_years,
    )
    june = Period(start=date(2025, 6, 1), end=date(2025, 6, 30), tz="Pacific/Kiritimati")

    def figures():
        return (
            retention.cohorts(organization=fresh(acme), now=NOW),
            retention.cohorts(organization=fresh(acme), period=june, now=NOW),
            retention.referred_vs_other(organization=fresh(acme), period=june, now=NOW),
        )

    settings.ANALYTICS_ROLLUPS = False
    raw = figures()
    settings.ANALYTICS_ROLLUPS = True
    assert {c.month: c.customers["other"] for c in raw[0]}["2025-06"] == 1  # May
    assert figures() == raw  # until the facts are built again, the pages read the rows

    facts.refresh(organization=fresh(acme), now=NOW)  # what the beat task does next

    assert facts.state(fresh(acme)) is not None
    assert figures() == raw


def test_a_referral_approved_weeks_after_its_friend_bought_makes_a_referred_customer_at_the_refresh(
    acme, data, settings
):
    """Approving a referral held for review wins its friend on the day of the purchase, weeks
    ago: the refresh takes the customer as referred, as the rows do."""
    from unittest import mock

    from referrals.services import referral_approve

    friend = Customer.objects.create(organization=acme, email="una@example.com")
    held = Referral.objects.create(
        organization=acme,
        program=data["program"],
        source=data["sam"],
        friend=friend,
        created_at=datetime(2026, 3, 24, 12, tzinfo=UTC),
        flagged=True,
    )
    on = datetime(2026, 3, 25, 12, tzinfo=UTC)
    _sale(acme, friend, "100.00", on, referral=held, created=on)
    Conversion.objects.filter(referral=held).update(is_first_purchase=True)
    facts.rebuild(organization=acme, now=NOW)
    later = NOW + timedelta(hours=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        referral_approve(referral=held, actor=None)
    facts.refresh(organization=fresh(acme), now=later + timedelta(minutes=5))
    settings.ANALYTICS_ROLLUPS = False
    raw = selectors.customers_compared(organization=fresh(acme))
    settings.ANALYTICS_ROLLUPS = True
    assert facts.state(fresh(acme)) is not None
    assert selectors.customers_compared(organization=fresh(acme)) == raw
