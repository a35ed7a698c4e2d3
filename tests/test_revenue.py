"""
One definition of revenue, read the same way by every page and export.

Net revenue credited to a source is its purchases minus their refunds, on referrals neither
rejected nor waiting in review, every purchase credited to one source at most. One data set
with all of that in it; the overview, the source page, the by-kind table, the top-sources
table and the CSV export must give the same figure for every source.
"""

import csv
import io
from decimal import Decimal

import pytest

from accounts.models import Customer, ReferralSource
from referrals.selectors import source_totals
from referrals.services import program_create, referral_reject
from rewards.services import rule_create, tier_for
from tests.referrals.test_purchases import buy, day, refer, refund


@pytest.fixture
def book(acme, program, source):
    """Sam, Ada, Pat and Rex, and a year of events of their friends and of other customers."""
    partners = program_create(organization=acme, name="Partners", attribution_window_days=60)
    ada = ReferralSource.objects.create(organization=acme, name="Ada", kind="agent")
    pat = ReferralSource.objects.create(organization=acme, name="Pat", kind="partner")
    rex = ReferralSource.objects.create(
        organization=acme, name="Rex", kind="customer", email="rex@example.com"
    )
    ReferralSource.objects.create(organization=acme, name="Idle", kind="employee")
    # Sam won Fay, who keeps buying; part of her first order came back.
    refer(program, source, "fay@example.com", on=0)
    buy(acme, "F-1", "fay@example.com", "200", on=7)
    refund(acme, "F-R", of="F-1", amount="50", on=40)
    buy(acme, "F-2", "fay@example.com", "300", on=55)
    # Ada moved Olga, a customer for years, to buy twice: advocacy.
    Customer.objects.create(organization=acme, email="olga@example.com", first_seen_at=day(-400))
    refer(partners, ada, "olga@example.com", on=10)
    buy(acme, "O-1", "olga@example.com", "500", on=12)
    buy(acme, "O-2", "olga@example.com", "400", on=20)
    # Pat won Pia: one order refunded in full, one kept.
    refer(program, pat, "pia@example.com", on=110)
    buy(acme, "P-1", "pia@example.com", "400", on=120)
    refund(acme, "P-R", of="P-1", amount="400", on=125)
    buy(acme, "P-2", "pia@example.com", "250", on=130)
    # Ben: Pat, then Sam (a duplicate friend, held for review) -- last touch: not counted.
    refer(program, pat, "ben@example.com", on=100)
    refer(program, source, "ben@example.com", on=101)
    buy(acme, "B-1", "ben@example.com", "700", on=108)
    # Rex referred himself: held, then rejected.
    zed = refer(program, rex, "rex@example.com", on=100)
    buy(acme, "Z-1", "rex@example.com", "90", on=105)
    referral_reject(referral=zed, reason="Self-referral", actor=None)
    # Nick was never referred.
    buy(acme, "N-1", "nick@example.com", "1000", on=5)
    return {"Sam Source": "450.00", "Ada": "900.00", "Pat": "250.00", "Rex": "0", "Idle": "0"}


def test_every_page_and_export_gives_each_source_the_same_revenue(login, charlie, acme, book):
    client = login(charlie)
    expected = {name: Decimal(value) for name, value in book.items()}
    sources = {s.name: s for s in ReferralSource.objects.filter(organization=acme)}

    page = {
        name: client.get(f"/app/sources/{s.pk}/").context["totals"].revenue
        for name, s in sources.items()
    }
    overview = client.get("/app/")
    top = {s.name: s.revenue for s in overview.context["top_sources"]}
    kinds = {k["kind"]: k["revenue"] for k in overview.context["kinds"]}
    response = client.get("/app/analytics/sources.csv")
    rows = list(
        csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig")))
    )
    exported = {row["source"]: Decimal(row["net_revenue"]) for row in rows}

    assert page == expected
    assert exported == expected
    assert {name: top.get(name, Decimal("0")) for name in sources} == expected
    assert "Idle" not in top and "Rex" not in top  # nothing credited, not a top source
    for kind in {s.kind for s in sources.values()}:
        of_kind = sum(expected[n] for n, s in sources.items() if s.kind == kind)
        assert kinds.get(kind, Decimal("0.00")) == of_kind, kind
    stats = overview.context["stats"]
    assert stats.revenue == sum(expected.values()) == Decimal("1600.00")
    assert stats.other_revenue == Decimal("1790.00")  # Nick, Ben (in review), Rex (rejected)
    # Every purchase of every customer, by whether a referral won them (Fay, Pia) or not.
    customers = overview.context["customers"]
    assert (customers["referred"].customers, customers["referred"].revenue) == (
        2,
        Decimal("700.00"),
    )
    assert (customers["other"].customers, customers["other"].revenue) == (4, Decimal("2690.00"))


def test_value_tiers_count_the_revenue_the_source_page_shows(acme, program, source, book):
    rule = rule_create(
        program=program,
        beneficiary="referrer",
        trigger="every_purchase",
        formula="percent",
        percent=Decimal("5"),
        tier_basis="value",
        tiers=[{"min_value": "451", "percent": "10"}],
    )
    # Ben's 700, on Sam's referral held for review, would lift Sam over 451; it must not.
    assert source_totals(source=source).revenue == Decimal("450.00")
    assert tier_for(rule=rule, source=source) is None


def test_the_source_figures_export_is_for_members_of_the_organization_only(
    client, login, eve, book
):
    response = client.get("/app/analytics/sources.csv")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    response = login(eve).get("/app/analytics/sources.csv")
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert lines == ["source,kind,email,referrals,customers_won,net_revenue"]  # none of Acme's
