"""The period and the filters every analytics figure is read for.

A period is a range of whole days, first and last included, in the organization's time zone:
a purchase at 23:30 in Paris on 31 March belongs to March even though it is 21:30 UTC. Its
previous period is the same number of days just before it, so every figure can stand beside
the one it should be compared with.

The rollups cut a period at an instant, the one they are built up to (``Period.cut``): the
part before it is read from them, the part from it on from the rows. An instant cuts the rows
that carry one; rows that carry only a date (an insider's contribution) fall whole on the
side of the cut's day that starts with it, the part read from the rows.
"""

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization

PRESETS = {
    "last_30_days": "Last 30 days",
    "this_month": "This month",
    "last_month": "Last month",
    "this_quarter": "This quarter",
    "this_year": "This year",
    "last_12_months": "Last 12 months",
    "last_24_months": "Last 24 months",
    "custom": "Custom",
}
DEFAULT_PRESET = "last_30_days"


@dataclass(frozen=True)
class Period:
    start: date  # first day, included
    end: date  # last day, included
    tz: str = "UTC"
    preset: str = "custom"
    #: Only the instants from ``after`` on (included) and before ``before`` (excluded) of
    #: these days: the two sides of a cut. Rows with a date only are on the ``after`` side
    #: for the whole day of the cut.
    after: datetime | None = None
    before: datetime | None = None

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("A period ends on or after the day it starts.")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def since(self) -> datetime:
        """The first instant of the period (aware), included."""
        first = datetime.combine(self.start, time.min, tzinfo=ZoneInfo(self.tz))
        return max(first, self.after) if self.after is not None else first

    @property
    def until(self) -> datetime:
        """The first instant after the period (aware), excluded."""
        end = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=ZoneInfo(self.tz))
        return min(end, self.before) if self.before is not None else end

    def _day_of(self, instant: datetime) -> date:
        return instant.astimezone(ZoneInfo(self.tz)).date()

    @property
    def first_date(self) -> date:
        """The first day whose rows with a date only belong to the period."""
        return max(self.start, self._day_of(self.after)) if self.after is not None else self.start

    @property
    def last_date(self) -> date:
        """The last day whose rows with a date only belong to the period."""
        if self.before is None:
            return self.end
        return min(self.end, self._day_of(self.before) - timedelta(days=1))

    def previous(self) -> "Period":
        """The same number of days, ending the day before this period starts (whole days)."""
        end = self.start - timedelta(days=1)
        return replace(
            self,
            start=end - timedelta(days=self.days - 1),
            end=end,
            preset="custom",
            after=None,
            before=None,
        )

    def cut(self, at: datetime) -> "tuple[Period | None, Period | None]":
        """The period before the instant ``at`` and from it on, each None when nothing of it
        is left. Both hold the day of ``at``: its instants on either side, its rows with a
        date only in the second."""
        day = self._day_of(at)
        head = tail = None
        if self.start <= day and self.since < at:
            head = replace(self, end=min(self.end, day), before=at)
        if self.end >= day and self.until > at:
            tail = replace(self, start=max(self.start, day), after=at)
        return head, tail

    def clipped(self, *, start: date | None = None, end: date | None = None) -> "Period | None":
        """The part of the period from ``start`` to ``end`` (either left open), or None
        when nothing of it is left."""
        first, last = max(self.start, start or self.start), min(self.end, end or self.end)
        return replace(self, start=first, end=last) if first <= last else None

    def label(self) -> str:
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"

    def q(self, field: str) -> Q:
        """Rows whose ``field`` (a datetime) falls in the period."""
        return Q(**{f"{field}__gte": self.since, f"{field}__lt": self.until})

    def q_date(self, field: str) -> Q:
        """Rows whose ``field`` (a date) falls in the period."""
        return Q(**{f"{field}__gte": self.first_date, f"{field}__lte": self.last_date})


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def period_for(
    *,
    organization: Organization,
    preset: str = DEFAULT_PRESET,
    start: date | None = None,
    end: date | None = None,
    now: datetime | None = None,
) -> Period:
    """A preset (or ``custom`` with ``start`` and ``end``) as dates in the organization's time
    zone. "This month", "this quarter" and "this year" run to today."""
    tz = organization.timezone
    today = timezone.localtime(now or timezone.now(), ZoneInfo(tz)).date()
    if preset == "custom":
        if start is None or end is None:
            raise ValueError("A custom period needs a first and a last day.")
        return Period(start=start, end=end, tz=tz, preset="custom")
    if preset == "last_30_days":
        first = today - timedelta(days=29)
    elif preset == "this_month":
        first = today.replace(day=1)
    elif preset == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return Period(start=last.replace(day=1), end=last, tz=tz, preset=preset)
    elif preset == "this_quarter":
        first = _quarter_start(today)
    elif preset == "this_year":
        first = today.replace(month=1, day=1)
    elif preset == "last_12_months":
        first = today - timedelta(days=364)
    elif preset == "last_24_months":
        first = today - timedelta(days=729)
    else:
        raise ValueError(f"Unknown period {preset!r}.")
    return Period(start=first, end=today, tz=tz, preset=preset)


@dataclass(frozen=True)
class Filters:
    """Narrow the figures to one program, one source, or one kind of source (or none)."""

    program_id: int | None = None
    source_id: int | None = None
    source_kind: str = ""
    #: Several sources at once (a page's top ten): not a picker of the forms, a reader's way
    #: to read the figures of a few sources without reading every source's.
    source_ids: tuple[int, ...] = ()

    def q(self, *, program: str | None, source: str | None) -> Q:
        """Rows of the chosen program and source, ``program`` and ``source`` being the paths
        from the row to them ("link__program", "conversion__source"). A path of None means
        the row belongs to no program (a payout, a debt): a program filter leaves it in."""
        q = Q()
        if self.program_id and program:
            q &= Q(**{f"{program}_id": self.program_id})
        if self.source_id and source:
            q &= Q(**{f"{source}_id": self.source_id})
        if self.source_ids and source:
            q &= Q(**{f"{source}_id__in": self.source_ids})
        if self.source_kind and source:
            q &= Q(**{f"{source}__kind": self.source_kind})
        return q

    @property
    def any(self) -> bool:
        return bool(self.program_id or self.source_id or self.source_kind or self.source_ids)

    @property
    def of_sources(self) -> bool:
        """Narrowed to one source or a few: the rows per kind of source cannot tell."""
        return bool(self.source_id or self.source_ids)


def day_runs(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days (one rollup or facts build each)."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
