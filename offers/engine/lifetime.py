"""Activation and expiry of bonus lots and coupons: a delay (days, months), rounded up to the start
of the next day or month in the store's zone, or a fixed date.

Rounding goes up so that a delay is never shorter than promised: a purchase at 15:00 with
"14 days, rounded to the day" activates at 00:00 fifteen days later.
"""
from __future__ import annotations

import calendar
import datetime as dt
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from offers.engine.schema import Param, parse_params

UTC = dt.timezone.utc

LIFETIME_PARAMS: tuple[Param, ...] = (
    Param("days", "int", min=0, max=36500, default=0, help="delay in days"),
    Param("months", "int", min=0, max=1200, default=0, help="delay in months"),
    Param("round", "choice", choices=("none", "day", "month"), default="none",
          help="round up to the start of the next day or month (store time)"),
    Param("date", "date", help="a fixed date instead of a delay (start of that day, store time)"),
)


@lru_cache(maxsize=512)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def add_months(value: dt.datetime, months: int) -> dt.datetime:
    if not months:
        return value
    index = value.month - 1 + months
    year, month = value.year + index // 12, index % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


@dataclass(frozen=True, slots=True)
class Lifetime:
    """A delay of `months` then `days`, rounded up to the next `round` boundary, or a fixed `date`."""

    days: int = 0
    months: int = 0
    round: str = "none"
    date: dt.date | None = None

    @classmethod
    def parse(cls, data: Any, prefix: str = "") -> "Lifetime | None":
        if data in (None, {}, ""):
            return None
        from offers.engine.schema import SpecError

        if not isinstance(data, dict):
            raise SpecError(prefix.rstrip("."), "must be an object like {\"days\": 14, \"round\": \"day\"}.")
        values = parse_params(data, LIFETIME_PARAMS, prefix=prefix)
        return cls(days=values["days"], months=values["months"], round=values["round"], date=values["date"])

    def at(self, start: dt.datetime, tz_name: str) -> dt.datetime:
        """The moment (UTC) this lifetime ends for something that starts at `start` (aware)."""
        tz = zone(tz_name)
        if self.date is not None:
            return dt.datetime.combine(self.date, dt.time.min, tzinfo=tz).astimezone(UTC)
        local = start.astimezone(tz)
        local = add_months(local, self.months) + dt.timedelta(days=self.days)
        if self.round == "day" and local.timetz().replace(tzinfo=None) != dt.time.min:
            nxt = local.date() + dt.timedelta(days=1)
            local = dt.datetime.combine(nxt, dt.time.min, tzinfo=tz)
        elif self.round == "month" and (local.day != 1 or local.timetz().replace(tzinfo=None) != dt.time.min):
            year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
            local = dt.datetime(year, month, 1, tzinfo=tz)
        return local.astimezone(UTC)

    def at_date(self, local_date: dt.date, tz_name: str) -> dt.datetime:
        """Like `at`, for a lifetime rounded to a day or month (or fixed): the result depends on
        the local date only, not on the time of day."""
        assert self.round != "none" or self.date is not None
        start = dt.datetime.combine(local_date, dt.time(12), tzinfo=zone(tz_name))
        return self.at(start, tz_name)

    def describe(self) -> str:
        if self.date is not None:
            return f"on {self.date.isoformat()}"
        parts = [f"{self.months} months" if self.months else "", f"{self.days} days" if self.days else ""]
        text = " ".join(p for p in parts if p) or "at once"
        return text + (f", rounded up to the {self.round}" if self.round != "none" else "")


@lru_cache(maxsize=4096)
def moment_on(lifetime: Lifetime, local_date: dt.date, tz_name: str) -> dt.datetime:
    """`Lifetime.at_date`, cached: every cheque of a store day shares the result."""
    return lifetime.at_date(local_date, tz_name)
