"""Period arithmetic shared by counters (Python side) and filters; SQL side in services.counters."""
from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import timezone

from attributes.models.counters import ALL_TIME, Counter


def counter_today(counter: Counter, now: dt.datetime | None = None) -> dt.date:
    return (now or timezone.now()).astimezone(zoneinfo.ZoneInfo(counter.timezone)).date()


def period_start(period: str, day: dt.date) -> dt.date:
    """First day of the period containing `day` (ALL_TIME for rolling and all-time counters)."""
    if period == Counter.Period.MONTH:
        return day.replace(day=1)
    if period == Counter.Period.QUARTER:
        return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if period == Counter.Period.YEAR:
        return dt.date(day.year, 1, 1)
    return ALL_TIME


def previous_period_start(period: str, day: dt.date) -> dt.date:
    start = period_start(period, day)
    if start == ALL_TIME:
        return ALL_TIME
    return period_start(period, start - dt.timedelta(days=1))


def rolling_window_start(counter: Counter, today: dt.date) -> dt.date:
    """First day counted by a rolling counter on `today` (N days, today included)."""
    return today - dt.timedelta(days=(counter.period_days or 1) - 1)


def years_before(day: dt.date, years: int) -> dt.date:
    """`day - N years` with PostgreSQL's rule: 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)
