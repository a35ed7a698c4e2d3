"""
Long lists page without counting every row (``dashboard/pagination.py``).

A list up to the cap pages exactly ("page 2 of 3"); past it the pager counts no further
and pages on while rows are left ("page 2 of more than ..."), so a page of a million
customers costs what a page of a thousand does.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Customer
from dashboard import pagination
from dashboard.pagination import CappedPaginator, paginate
from tests.factories import CustomerFactory


@pytest.fixture
def customers(acme):
    now = timezone.now()
    return [
        CustomerFactory(organization=acme, name=f"C{n:02d}", first_seen_at=now - timedelta(n))
        for n in range(12)
    ]


def newest_first(acme):
    return Customer.objects.filter(organization=acme).order_by("-first_seen_at")


def test_a_list_no_longer_than_the_cap_pages_exactly(acme, customers):
    paginator = CappedPaginator(newest_first(acme), 5, cap=12)

    assert (paginator.count, paginator.capped, paginator.num_pages) == (12, False, 3)
    assert [c.name for c in paginator.page(3)] == ["C10", "C11"]
    assert not paginator.page(3).has_next()


def test_a_list_longer_than_the_cap_pages_on_to_its_end(acme, customers):
    paginator = CappedPaginator(newest_first(acme), 5, cap=6)

    assert paginator.capped
    pages = [paginator.page(n) for n in (1, 2, 3)]
    assert [[c.name for c in page] for page in pages] == [
        ["C00", "C01", "C02", "C03", "C04"],
        ["C05", "C06", "C07", "C08", "C09"],
        ["C10", "C11"],
    ]
    assert [page.has_next() for page in pages] == [True, True, False]
    assert pages[1].next_page_number() == 3 and pages[1].previous_page_number() == 1


def test_counting_stops_at_the_cap(acme, customers):
    with CaptureQueriesContext(connection) as queries:
        assert CappedPaginator(newest_first(acme), 5, cap=6).count == 7

    (count,) = [q["sql"] for q in queries.captured_queries]
    assert "COUNT(" in count and "LIMIT 7" in count


def test_a_page_past_the_end_or_not_a_number_falls_back(acme, customers, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_CAP", 6)

    assert paginate(newest_first(acme), "x", per_page=5).number == 1
    assert paginate(newest_first(acme), "9", per_page=5).number == 1  # capped: no last page
    monkeypatch.setattr(pagination, "COUNT_CAP", 100)
    assert paginate(newest_first(acme), "9", per_page=5).number == 3


def test_the_pager_says_when_the_list_is_longer_than_counted(
    login, alice, acme, customers, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(pagination, "COUNT_CAP", 6)
    monkeypatch.setattr(pagination, "PAGE_SIZE", 5)
    client = login(alice)

    with django_assert_max_num_queries(12):
        page = client.get("/app/customers/?page=2").content.decode()

    assert "Page 2 of more than 1" in page
    assert "page=3" in page and "page=1" in page
    last = client.get("/app/customers/?page=3").content.decode()
    assert "C11" in last and "page=4" not in last


@pytest.mark.parametrize("number", ["99999999999999999999999", "9223372036854775807"])
def test_an_absurd_page_of_a_long_list_is_the_first_page_not_a_500(
    login, alice, acme, customers, monkeypatch, number
):
    """Past the cap a page number is not checked against a count: one beyond what the
    database's OFFSET can hold must not reach it."""
    monkeypatch.setattr(pagination, "COUNT_CAP", 6)
    monkeypatch.setattr(pagination, "PAGE_SIZE", 5)

    response = login(alice).get(f"/app/customers/?page={number}")

    assert response.status_code == 200
    assert "C00" in response.content.decode()
