"""
Pages of a long list that never count a million rows.

Django's ``Paginator`` counts the whole filtered list to say "page 3 of 11,412", and on an
organization with a million customers that ``COUNT(*)`` alone takes longer than the page
should (PostgreSQL counts by visiting every row). ``CappedPaginator`` counts at most
``cap`` rows (a ``COUNT`` over a ``LIMIT``ed subquery, cheap through the list's index): a
list no longer than that pages exactly as before; a longer one pages on ("Older" while a
row is left past the page, found by reading one row more than the page), and the pager
says "page 3 of more than 200".
"""

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.utils.functional import cached_property

PAGE_SIZE = 50
COUNT_CAP = 10_000
MAX_OFFSET = 2**62  # well inside PostgreSQL's bigint OFFSET


class CappedPage(Page):
    """A page of a list longer than the cap: it knows only whether another page follows."""

    def __init__(self, object_list, number, paginator, *, more: bool):
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more


class CappedPaginator(Paginator):
    def __init__(self, object_list, per_page: int | None = None, *, cap: int | None = None):
        super().__init__(object_list, per_page or PAGE_SIZE)
        self.cap = cap or COUNT_CAP

    @cached_property
    def count(self) -> int:
        """The number of rows, or ``cap + 1`` when there are more than ``cap``."""
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        """There are more rows than were counted."""
        return self.count > self.cap

    @property
    def shown_pages(self) -> int:
        """The pages the count covers: all of them, or the first of many when capped."""
        return self.cap // self.per_page if self.capped else self.num_pages

    def validate_number(self, number) -> int:
        if not self.capped:
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError) as error:
            raise PageNotAnInteger("That page number is not an integer") from error
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        if number * self.per_page > MAX_OFFSET:
            # Not checked against a count: the database's OFFSET would overflow (a 500).
            raise EmptyPage("That page contains no results")
        return number

    def page(self, number) -> Page:
        number = self.validate_number(number)
        if not self.capped:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage("That page contains no results")
        return CappedPage(rows[: self.per_page], number, self, more=len(rows) > self.per_page)


def paginate(queryset, page_number, per_page: int | None = None) -> Page:
    """The requested page of ``queryset`` (the first for a bad number, the last existing
    one past the end), counting at most ``COUNT_CAP`` rows."""
    paginator = CappedPaginator(queryset, per_page)
    try:
        return paginator.page(page_number or 1)
    except PageNotAnInteger:
        return paginator.page(1)
    except EmptyPage:
        if paginator.capped:
            return paginator.page(1)
        return paginator.page(paginator.num_pages)
