"""A period's figures day by day (periods up to 92 days) or month by month.

The buckets are the same volume, revenue and reward-cost reads as the period's totals,
grouped by the local day or month of each event, so the buckets add up to the totals.
"""

from datetime import date, timedelta

from accounts.models import Organization
from core.money import cents

from .period import Filters, Period
from .report import NO_FILTERS, Revenue, RewardCost, Volume, revenue, reward_cost, volume

DAILY_UP_TO_DAYS = 92


def _buckets(period: Period, bucket: str) -> list[date]:
    if bucket == "day":
        return [period.start + timedelta(days=i) for i in range(period.days)]
    months, day = [], period.start.replace(day=1)
    while day <= period.end:
        months.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def series(*, organization: Organization, period: Period, filters: Filters = NO_FILTERS) -> dict:
    bucket = "day" if period.days <= DAILY_UP_TO_DAYS else "month"
    v = volume(organization=organization, period=period, filters=filters, by=bucket)
    # The series draws net revenue only: not new business or the value of the customers won
    # (read from the rows, day by day).
    r = revenue(
        organization=organization, period=period, filters=filters, by=bucket, won_value=False
    )
    c = reward_cost(organization=organization, period=period, filters=filters, by=bucket)
    days = _buckets(period, bucket)
    vols = [v.get(d) or Volume() for d in days]
    fmt = "%Y-%m-%d" if bucket == "day" else "%Y-%m"
    return {
        "bucket": bucket,
        "labels": [d.strftime(fmt) for d in days],
        "clicks": [x.clicks for x in vols],
        "referrals": [x.referrals for x in vols],
        "signups": [x.signups for x in vols],
        "customers_won": [x.customers_won for x in vols],
        "purchases": [x.purchases for x in vols],
        "net_revenue": [cents((r.get(d) or Revenue()).net_revenue) for d in days],
        "cost": [cents((c.get(d) or RewardCost()).cost) for d in days],
    }
