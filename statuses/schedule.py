"""When scheduled recalculations happen: at 00:00 local time on the first day of each month,
quarter or year (the system's period), in the system's time zone. Stored in UTC."""
from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import timezone

from statuses.models import StatusSystem

_MONTHS = {StatusSystem.Period.MONTHLY: 1, StatusSystem.Period.QUARTERLY: 3, StatusSystem.Period.YEARLY: 12}


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + (day.month - 1) + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period_first_day(period: str, day: dt.date) -> dt.date:
    """First day of the system period containing `day`."""
    step = _MONTHS[StatusSystem.Period(period)]
    month = ((day.month - 1) // step) * step + 1
    return dt.date(day.year, month, 1)


def next_boundary(*, period: str, tz: str, after: dt.datetime | None = None) -> dt.datetime:
    """The first period boundary strictly after `after` (default now), as an aware UTC datetime."""
    zone = zoneinfo.ZoneInfo(tz)
    after = after or timezone.now()
    local = after.astimezone(zone)
    first = period_first_day(period, local.date())
    boundary = _add_months(first, _MONTHS[StatusSystem.Period(period)])
    return dt.datetime.combine(boundary, dt.time.min, tzinfo=zone).astimezone(dt.timezone.utc)


def local_end_of_day(day: dt.date, tz: str) -> dt.datetime:
    """`day` held "until" inclusive: the start of the next local day, in UTC."""
    zone = zoneinfo.ZoneInfo(tz)
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone).astimezone(dt.timezone.utc)


def local_date(moment: dt.datetime | None, tz: str) -> dt.date | None:
    return moment.astimezone(zoneinfo.ZoneInfo(tz)).date() if moment else None
