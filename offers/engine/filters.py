"""Filters: what must hold for a rule to apply. All filters of a rule must hold.

Cheque-level filters look at the cheque, the time or the member and are checked once per cheque;
line-level filters (product group) pick the lines a rule acts on. Each type declares its
parameters (see schema.py); every filter also takes `negate: true` to invert it.

`check(ev)` answers fast (no strings); `explain(ev)` builds the human reason, and is only called
for the trace of a rule that failed.
"""
from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from offers.engine.schema import Param, SpecError, parse_params
from offers.engine.types import ZERO

if TYPE_CHECKING:  # pragma: no cover
    from offers.engine.evaluate import Evaluation

CHEQUE, LINE = "cheque", "line"
NEGATE = Param("negate", "bool", default=False, help="invert the filter")
DATE_SOURCES = ("registration", "birth", "last_status_change", "attribute")


class Filter:
    TYPE: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    LEVEL: ClassVar[str] = CHEQUE
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    EXAMPLE: ClassVar[dict[str, Any]] = {}
    # Filters that need the member: they fail with "no member" on an anonymous cheque.
    NEEDS_CUSTOMER: ClassVar[bool] = False

    __slots__ = ("negate", "p")

    def __init__(self, params: dict[str, Any]) -> None:
        self.p = params
        self.negate: bool = params["negate"]
        self.validate()

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> "Filter":
        return cls(parse_params(data, (*cls.PARAMS, NEGATE), ignore=frozenset({"type"})))

    def validate(self) -> None:
        """Cross-field checks; raise SpecError."""

    # cheque level
    def check(self, ev: "Evaluation") -> bool:
        raise NotImplementedError

    def explain(self, ev: "Evaluation") -> str:
        raise NotImplementedError

    # line level
    def line_ok(self, ev: "Evaluation", index: int) -> bool:
        raise NotImplementedError

    def index_groups(self) -> frozenset[str] | None:
        """Groups a line must belong to for this filter to hold (for the candidate index), or None."""
        return None

    def line_mask(self, ev: "Evaluation") -> int:
        """The lines this line filter holds for, as a bit mask (bit i = line index i)."""
        mask = 0
        for index in range(ev.n):
            if self.line_ok(ev, index):
                mask |= 1 << index
        return mask


# ---- helpers ---------------------------------------------------------------------------------


def occurrence(base: dt.date, year: int) -> dt.date:
    """`base`'s day and month in `year`; 29 February falls on the 28th in other years."""
    if base.month == 2 and base.day == 29 and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return base.replace(year=year)


def near_anniversary(base: dt.date, today: dt.date, before: int, after: int, *, years: tuple[int, ...] = (),
                     min_years: int = 1) -> bool:
    """Whether `today` lies within [-before, +after] days of an anniversary of `base`."""
    for year in (today.year - 1, today.year, today.year + 1):
        count = year - base.year
        if count < min_years or (years and count not in years):
            continue
        day = occurrence(base, year)
        if day - dt.timedelta(days=before) <= today <= day + dt.timedelta(days=after):
            return True
    return False


def age_on(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def customer_date(ev: "Evaluation", source: str, attribute: str | None) -> dt.date | None:
    customer = ev.customer
    if customer is None:
        return None
    if source == "registration":
        return customer.registered_on
    if source == "birth":
        return customer.birth_date
    if source == "last_status_change":
        return customer.last_status_change_on
    return as_date(customer.attributes.get(attribute or ""))


def compare(actual: Any, op: str, expected: Any) -> bool:
    """Compare a member's value with a rule's, coercing the rule's value to the member's type."""
    if op == "set":
        return actual not in (None, "", [], ())
    if op == "not_set":
        return actual in (None, "", [], ())
    if actual is None:
        return op in ("ne", "not_in")
    if op in ("in", "not_in"):
        options = expected if isinstance(expected, (list, tuple)) else [expected]
        found = any(compare(actual, "eq", option) for option in options)
        return found if op == "in" else not found
    if op == "contains":
        if isinstance(actual, (list, tuple, set, frozenset)):
            return any(compare(item, "eq", expected) for item in actual)
        return str(expected).lower() in str(actual).lower()
    left, right = _coerce(actual, expected)
    if left is None or right is None:
        return op == "ne"
    try:
        if op == "eq":
            return left == right
        if op == "ne":
            return left != right
        if op == "gt":
            return left > right
        if op == "gte":
            return left >= right
        if op == "lt":
            return left < right
        if op == "lte":
            return left <= right
    except TypeError:
        return False
    return False


def _coerce(actual: Any, expected: Any) -> tuple[Any, Any]:
    if isinstance(actual, bool):
        if isinstance(expected, bool):
            return actual, expected
        text = str(expected).strip().lower()
        return actual, {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text)
    if isinstance(actual, (dt.date, dt.datetime)):
        return as_date(actual), as_date(expected) if not isinstance(expected, dt.date) else as_date(expected)
    if isinstance(actual, (int, Decimal, float)):
        try:
            return Decimal(str(actual)), Decimal(str(expected))
        except InvalidOperation:
            return None, None
    text = str(actual).strip()
    if isinstance(expected, (int, Decimal)) and not isinstance(expected, bool):
        try:
            return Decimal(text), Decimal(str(expected))
        except InvalidOperation:
            return None, None
    return text.lower(), str(expected).strip().lower()


COMPARE_OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "set", "not_set")


def _fmt(values: Any) -> str:
    return ", ".join(str(v) for v in values)


# ---- time ------------------------------------------------------------------------------------


class DatetimeRange(Filter):
    TYPE = "datetime_range"
    TITLE = "Date and time window (store time; `to` excluded)"
    PARAMS = (Param("from", "datetime"), Param("to", "datetime"))
    EXAMPLE = {"type": "datetime_range", "from": "2024-03-08T00:00", "to": "2024-03-09T00:00"}
    __slots__ = ("start", "end")

    def validate(self) -> None:
        self.start, self.end = self.p["from"], self.p["to"]
        if self.start is None and self.end is None:
            raise SpecError("from", "give `from`, `to` or both.")
        if self.start and self.end and self.start >= self.end:
            raise SpecError("to", "must be after `from`.")

    def check(self, ev: "Evaluation") -> bool:
        return (self.start is None or ev.local >= self.start) and (self.end is None or ev.local < self.end)

    def explain(self, ev: "Evaluation") -> str:
        return f"store time {ev.local:%Y-%m-%d %H:%M} is outside {self.start or '…'} – {self.end or '…'}"


class Weekdays(Filter):
    TYPE = "weekdays"
    TITLE = "Days of the week (1 = Monday … 7 = Sunday)"
    PARAMS = (Param("days", "int_list", required=True, min=1, max=7),)
    EXAMPLE = {"type": "weekdays", "days": [6, 7]}
    __slots__ = ("days",)

    def validate(self) -> None:
        self.days = frozenset(self.p["days"])

    def check(self, ev: "Evaluation") -> bool:
        return ev.weekday in self.days

    def explain(self, ev: "Evaluation") -> str:
        return f"day {ev.weekday} of the week is not one of {_fmt(sorted(self.days))}"


class Hours(Filter):
    TYPE = "hours"
    TITLE = "Hours of the day (store time; wraps past midnight when `from` > `to`)"
    PARAMS = (Param("from", "time", required=True), Param("to", "time", required=True))
    EXAMPLE = {"type": "hours", "from": "08:00", "to": "11:00"}
    __slots__ = ("start", "end")

    def validate(self) -> None:
        self.start, self.end = self.p["from"], self.p["to"]
        if self.start == self.end:
            raise SpecError("to", "must differ from `from`.")

    def check(self, ev: "Evaluation") -> bool:
        now = ev.time
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def explain(self, ev: "Evaluation") -> str:
        return f"store time {ev.time:%H:%M} is outside {self.start:%H:%M}–{self.end:%H:%M}"


# ---- member dates ----------------------------------------------------------------------------


class Birthday(Filter):
    TYPE = "birthday"
    TITLE = "Birthday: in the birthday month, or N days around the birthday"
    NEEDS_CUSTOMER = True
    PARAMS = (
        Param("mode", "choice", choices=("month", "around"), default="month"),
        Param("days_before", "int", min=0, max=366, default=0),
        Param("days_after", "int", min=0, max=366, default=0),
    )
    EXAMPLE = {"type": "birthday", "mode": "around", "days_before": 3, "days_after": 3}
    __slots__ = ()

    def check(self, ev: "Evaluation") -> bool:
        birth = ev.customer.birth_date if ev.customer else None
        if birth is None:
            return False
        if self.p["mode"] == "month":
            return birth.month == ev.date.month
        return near_anniversary(birth, ev.date, self.p["days_before"], self.p["days_after"], min_years=0)

    def explain(self, ev: "Evaluation") -> str:
        birth = ev.customer.birth_date if ev.customer else None
        if birth is None:
            return "the member's birth date is unknown"
        if self.p["mode"] == "month":
            return f"birthday month {birth.month} is not the cheque's month {ev.date.month}"
        return (f"{ev.date.isoformat()} is not within {self.p['days_before']} days before / "
                f"{self.p['days_after']} after the birthday ({birth:%d.%m})")


class Anniversary(Filter):
    TYPE = "anniversary"
    TITLE = "Anniversary of a member's date (registration, a questionnaire date such as a wedding)"
    NEEDS_CUSTOMER = True
    PARAMS = (
        Param("date", "choice", choices=DATE_SOURCES, required=True),
        Param("attribute", "str", help="attribute code when date = attribute"),
        Param("years", "int_list", min=1, max=200, help="which anniversaries (e.g. [2]); every year if empty"),
        Param("days_before", "int", min=0, max=366, default=0),
        Param("days_after", "int", min=0, max=366, default=0),
    )
    EXAMPLE = {"type": "anniversary", "date": "attribute", "attribute": "wedding_date", "years": [2],
               "days_before": 0, "days_after": 7}
    __slots__ = ()

    def validate(self) -> None:
        if self.p["date"] == "attribute" and not self.p["attribute"]:
            raise SpecError("attribute", "is required when date = attribute.")
        self.p["years"] = self.p["years"] or ()

    def check(self, ev: "Evaluation") -> bool:
        base = customer_date(ev, self.p["date"], self.p["attribute"])
        if base is None:
            return False
        return near_anniversary(base, ev.date, self.p["days_before"], self.p["days_after"], years=self.p["years"])

    def explain(self, ev: "Evaluation") -> str:
        base = customer_date(ev, self.p["date"], self.p["attribute"])
        name = self.p["attribute"] if self.p["date"] == "attribute" else self.p["date"]
        if base is None:
            return f"the member has no {name} date"
        which = f"anniversary {_fmt(self.p['years'])}" if self.p["years"] else "an anniversary"
        return f"{ev.date.isoformat()} is not within the window of {which} of {name} {base.isoformat()}"


class CustomerDate(Filter):
    TYPE = "customer_date"
    TITLE = "A member's date (registration, last status change, …) in a range or N days ago"
    NEEDS_CUSTOMER = True
    PARAMS = (
        Param("date", "choice", choices=DATE_SOURCES, required=True),
        Param("attribute", "str"),
        Param("from", "date"),
        Param("to", "date"),
        Param("within_days", "int", min=0, help="the date is at most N days before the cheque"),
        Param("older_than_days", "int", min=0, help="the date is at least N days before the cheque"),
    )
    EXAMPLE = {"type": "customer_date", "date": "registration", "within_days": 30}
    __slots__ = ()

    def validate(self) -> None:
        if self.p["date"] == "attribute" and not self.p["attribute"]:
            raise SpecError("attribute", "is required when date = attribute.")
        if all(self.p[k] is None for k in ("from", "to", "within_days", "older_than_days")):
            raise SpecError("from", "give from/to, within_days or older_than_days.")

    def check(self, ev: "Evaluation") -> bool:
        value = customer_date(ev, self.p["date"], self.p["attribute"])
        if value is None:
            return False
        p = self.p
        if p["from"] is not None and value < p["from"]:
            return False
        if p["to"] is not None and value > p["to"]:
            return False
        age = (ev.date - value).days
        if p["within_days"] is not None and not 0 <= age <= p["within_days"]:
            return False
        return p["older_than_days"] is None or age >= p["older_than_days"]

    def explain(self, ev: "Evaluation") -> str:
        value = customer_date(ev, self.p["date"], self.p["attribute"])
        if value is None:
            return f"the member has no {self.p['date']} date"
        return f"{self.p['date']} date {value.isoformat()} does not meet the condition"


# ---- member facts ----------------------------------------------------------------------------


class Status(Filter):
    TYPE = "status"
    TITLE = "The member's status in a status system"
    NEEDS_CUSTOMER = True
    PARAMS = (Param("system", "str", required=True), Param("statuses", "str_list", required=True))
    EXAMPLE = {"type": "status", "system": "tier", "statuses": ["gold", "platinum"]}
    __slots__ = ("statuses",)

    def validate(self) -> None:
        self.statuses = frozenset(self.p["statuses"])

    def check(self, ev: "Evaluation") -> bool:
        return ev.customer is not None and ev.customer.statuses.get(self.p["system"]) in self.statuses

    def explain(self, ev: "Evaluation") -> str:
        current = ev.customer.statuses.get(self.p["system"]) if ev.customer else None
        return f"status in {self.p['system']} is {current or 'none'}, not one of {_fmt(sorted(self.statuses))}"


class Segment(Filter):
    TYPE = "segment"
    TITLE = "The member is in any (or all) of the segments"
    NEEDS_CUSTOMER = True
    PARAMS = (Param("segments", "int_list", required=True), Param("all", "bool", default=False))
    EXAMPLE = {"type": "segment", "segments": [3]}
    __slots__ = ("segments",)

    def validate(self) -> None:
        self.segments = frozenset(self.p["segments"])

    def check(self, ev: "Evaluation") -> bool:
        if ev.customer is None:
            return False
        mine = ev.customer.segment_ids
        return self.segments <= mine if self.p["all"] else not self.segments.isdisjoint(mine)

    def explain(self, ev: "Evaluation") -> str:
        word = "all" if self.p["all"] else "any"
        return f"the member is not in {word} of segments {_fmt(sorted(self.segments))}"


class Attribute(Filter):
    TYPE = "attribute"
    TITLE = "An attribute's value"
    NEEDS_CUSTOMER = True
    PARAMS = (
        Param("code", "str", required=True),
        Param("op", "choice", choices=COMPARE_OPS, default="eq"),
        Param("value", "any"),
    )
    EXAMPLE = {"type": "attribute", "code": "favourite_drink", "op": "eq", "value": "coffee"}
    __slots__ = ()

    def validate(self) -> None:
        if self.p["op"] not in ("set", "not_set") and self.p["value"] is None:
            raise SpecError("value", f"is required for op {self.p['op']}.")

    def check(self, ev: "Evaluation") -> bool:
        if ev.customer is None:
            return False
        return compare(ev.customer.attributes.get(self.p["code"]), self.p["op"], self.p["value"])

    def explain(self, ev: "Evaluation") -> str:
        actual = ev.customer.attributes.get(self.p["code"]) if ev.customer else None
        return f"attribute {self.p['code']} = {actual!r} does not satisfy {self.p['op']} {self.p['value']!r}"


ITEM_OPS = (*COMPARE_OPS, "age_gt", "age_gte", "age_lt", "age_lte", "around")
ITEM_CONDITION = (
    Param("field", "str", required=True),
    Param("op", "choice", choices=ITEM_OPS, default="eq"),
    Param("value", "any", help="for age_*: years; for around: unused"),
    Param("days_before", "int", min=0, max=366, default=0, help="for around"),
    Param("days_after", "int", min=0, max=366, default=0, help="for around"),
)


def item_condition_holds(item: Mapping[str, Any], condition: Mapping[str, Any], today: dt.date) -> bool:
    actual = item.get(condition["field"])
    op = condition["op"]
    if op.startswith("age_") or op == "around":
        born = as_date(actual)
        if born is None:
            return False
        if op == "around":
            return near_anniversary(born, today, condition["days_before"], condition["days_after"], min_years=0)
        return compare(age_on(born, today), op[4:], condition["value"])
    return compare(actual, op, condition["value"])


class GroupItems(Filter):
    TYPE = "group_items"
    TITLE = "Items of a repeating questionnaire group (e.g. children): any / all / none match"
    NEEDS_CUSTOMER = True
    PARAMS = (
        Param("group", "str", required=True),
        Param("quantifier", "choice", choices=("any", "all", "none"), default="any"),
        Param("conditions", "object_list", required=True, fields=ITEM_CONDITION),
    )
    EXAMPLE = {"type": "group_items", "group": "children", "quantifier": "any",
               "conditions": [{"field": "sex", "op": "eq", "value": "male"},
                              {"field": "birth_date", "op": "age_gt", "value": 12}]}
    __slots__ = ()

    def validate(self) -> None:
        for index, condition in enumerate(self.p["conditions"]):
            op = condition["op"]
            if op.startswith("age_"):
                if isinstance(condition["value"], bool) or not isinstance(condition["value"], int):
                    raise SpecError(f"conditions.{index}.value", "must be a whole number of years.")
            elif op not in ("set", "not_set", "around") and condition["value"] is None:
                raise SpecError(f"conditions.{index}.value", f"is required for op {op}.")

    def _matches(self, ev: "Evaluation") -> tuple[int, int]:
        items = ev.customer.groups.get(self.p["group"], ()) if ev.customer else ()
        good = sum(
            1 for item in items if all(item_condition_holds(item, c, ev.date) for c in self.p["conditions"])
        )
        return good, len(items)

    def check(self, ev: "Evaluation") -> bool:
        if ev.customer is None:
            return False
        good, total = self._matches(ev)
        quantifier = self.p["quantifier"]
        if quantifier == "any":
            return good > 0
        if quantifier == "all":
            return total > 0 and good == total
        return good == 0

    def explain(self, ev: "Evaluation") -> str:
        good, total = self._matches(ev)
        return f"{good} of {total} items of {self.p['group']} match; needed {self.p['quantifier']}"


class PurchasedGroup(Filter):
    TYPE = "purchased_group"
    TITLE = "Bought a product of a group in a past period"
    NEEDS_CUSTOMER = True
    PARAMS = (
        Param("group", "str", required=True, help="product group code"),
        Param("from", "date"),
        Param("to", "date"),
        Param("within_days", "int", min=0, help="in the last N days"),
        Param("min_count", "int", min=1, default=1, help="at least this many purchases"),
    )
    EXAMPLE = {"type": "purchased_group", "group": "cars", "from": "2022-01-01", "to": "2022-01-31"}
    __slots__ = ()

    def validate(self) -> None:
        if self.p["from"] and self.p["to"] and self.p["from"] > self.p["to"]:
            raise SpecError("to", "must not be before `from`.")

    def _count(self, ev: "Evaluation") -> int:
        dates = ev.customer.group_purchases.get(self.p["group"], ()) if ev.customer else ()
        start, end, within = self.p["from"], self.p["to"], self.p["within_days"]
        earliest = ev.date - dt.timedelta(days=within) if within is not None else None
        return sum(
            1 for day in dates
            if (start is None or day >= start) and (end is None or day <= end)
            and (earliest is None or earliest <= day <= ev.date)
        )

    def check(self, ev: "Evaluation") -> bool:
        return ev.customer is not None and self._count(ev) >= self.p["min_count"]

    def explain(self, ev: "Evaluation") -> str:
        return (f"{self._count(ev)} purchases of group {self.p['group']} in the period, "
                f"needed {self.p['min_count']}")


# ---- the cheque ------------------------------------------------------------------------------


class ChequeSum(Filter):
    TYPE = "cheque_sum"
    TITLE = "Cheque sum (before discounts) between min and max, optionally of some groups only"
    PARAMS = (Param("min", "decimal", min=Decimal(0)), Param("max", "decimal", min=Decimal(0)),
              Param("groups", "str_list", help="count only lines of these product groups"))
    EXAMPLE = {"type": "cheque_sum", "min": "1000"}
    __slots__ = ()

    def validate(self) -> None:
        if self.p["min"] is None and self.p["max"] is None:
            raise SpecError("min", "give min, max or both.")

    def _sum(self, ev: "Evaluation") -> Decimal:
        return ev.sum_of(self.p["groups"])

    def check(self, ev: "Evaluation") -> bool:
        total = self._sum(ev)
        return (self.p["min"] is None or total >= self.p["min"]) and (self.p["max"] is None or total <= self.p["max"])

    def explain(self, ev: "Evaluation") -> str:
        scope = f" of groups {_fmt(self.p['groups'])}" if self.p["groups"] else ""
        return f"sum{scope} {self._sum(ev)} is not within {self.p['min'] or 0} … {self.p['max'] or '∞'}"


class ChequeQuantity(Filter):
    TYPE = "cheque_quantity"
    TITLE = "Number of units (or lines) in the cheque, optionally of some groups only"
    PARAMS = (Param("min", "decimal", min=Decimal(0)), Param("max", "decimal", min=Decimal(0)),
              Param("groups", "str_list"), Param("count", "choice", choices=("units", "lines"), default="units"))
    EXAMPLE = {"type": "cheque_quantity", "min": "3", "groups": ["dairy"]}
    __slots__ = ()

    def validate(self) -> None:
        if self.p["min"] is None and self.p["max"] is None:
            raise SpecError("min", "give min, max or both.")

    def _qty(self, ev: "Evaluation") -> Decimal:
        return ev.quantity_of(self.p["groups"], self.p["count"])

    def check(self, ev: "Evaluation") -> bool:
        qty = self._qty(ev)
        return (self.p["min"] is None or qty >= self.p["min"]) and (self.p["max"] is None or qty <= self.p["max"])

    def explain(self, ev: "Evaluation") -> str:
        return f"{self.p['count']} {self._qty(ev)} not within {self.p['min'] or 0} … {self.p['max'] or '∞'}"


class Store(Filter):
    TYPE = "store"
    TITLE = "The cheque's store"
    PARAMS = (Param("stores", "int_list", required=True, help="store ids"),)
    EXAMPLE = {"type": "store", "stores": [1, 2]}
    __slots__ = ("stores",)

    def validate(self) -> None:
        self.stores = frozenset(self.p["stores"])

    def check(self, ev: "Evaluation") -> bool:
        return ev.cheque.store_id in self.stores

    def explain(self, ev: "Evaluation") -> str:
        return f"store {ev.cheque.store_id} is not one of {_fmt(sorted(self.stores))}"


class Card(Filter):
    TYPE = "card"
    TITLE = "The card's category and/or type"
    PARAMS = (Param("categories", "str_list", help="card category codes"),
              Param("kinds", "str_list", choices=("physical", "virtual")))
    EXAMPLE = {"type": "card", "categories": ["gold"]}
    __slots__ = ()

    def validate(self) -> None:
        if not self.p["categories"] and not self.p["kinds"]:
            raise SpecError("categories", "give categories, kinds or both.")

    def check(self, ev: "Evaluation") -> bool:
        card = ev.cheque.card
        if card is None:
            return False
        return (not self.p["categories"] or card.category in self.p["categories"]) and (
            not self.p["kinds"] or card.kind in self.p["kinds"])

    def explain(self, ev: "Evaluation") -> str:
        card = ev.cheque.card
        if card is None:
            return "no card in the cheque"
        return f"card category {card.category or '-'} / type {card.kind or '-'} does not match"


class Coupon(Filter):
    TYPE = "coupon"
    TITLE = "A coupon of one of the issues was presented"
    PARAMS = (Param("issues", "int_list", required=True, help="coupon issue ids"),)
    EXAMPLE = {"type": "coupon", "issues": [1]}
    __slots__ = ("issues",)

    def validate(self) -> None:
        self.issues = frozenset(self.p["issues"])

    def matched_code(self, ev: "Evaluation") -> str | None:
        for coupon in ev.cheque.coupons:
            if coupon.issue_id in self.issues:
                return coupon.code
        return None

    def check(self, ev: "Evaluation") -> bool:
        return self.matched_code(ev) is not None

    def explain(self, ev: "Evaluation") -> str:
        return f"no coupon of issues {_fmt(sorted(self.issues))} presented"


# ---- lines -----------------------------------------------------------------------------------


class ProductGroup(Filter):
    TYPE = "product_group"
    TITLE = "Line's product is in one of the groups (or one of the SKUs)"
    LEVEL = LINE
    PARAMS = (Param("groups", "str_list", help="product group codes"), Param("skus", "str_list"))
    EXAMPLE = {"type": "product_group", "groups": ["dairy"]}
    __slots__ = ("groups", "skus")

    def validate(self) -> None:
        if not self.p["groups"] and not self.p["skus"]:
            raise SpecError("groups", "give groups, skus or both.")
        self.groups = frozenset(self.p["groups"] or ())
        self.skus = frozenset(self.p["skus"] or ())

    def line_ok(self, ev: "Evaluation", index: int) -> bool:
        holds = (not self.groups.isdisjoint(ev.line_groups[index])) or ev.lines[index].sku in self.skus
        return holds != self.negate

    def index_groups(self) -> frozenset[str] | None:
        return None if (self.negate or self.skus) else self.groups

    def line_mask(self, ev: "Evaluation") -> int:
        mask = 0
        groups, skus = ev.group_masks, ev.sku_masks
        for group in self.groups:
            mask |= groups.get(group, 0)
        for sku in self.skus:
            mask |= skus.get(sku, 0)
        return ev.all_mask & ~mask if self.negate else mask

    def explain(self, ev: "Evaluation") -> str:
        what = _fmt(sorted(self.groups | self.skus))
        return f"no line {'outside' if self.negate else 'in'} {what}"


FILTERS: dict[str, type[Filter]] = {
    cls.TYPE: cls
    for cls in (DatetimeRange, Weekdays, Hours, Birthday, Anniversary, CustomerDate, Status, Segment, Attribute,
                GroupItems, PurchasedGroup, ChequeSum, ChequeQuantity, Store, Card, Coupon, ProductGroup)
}


def parse_filter(data: Any) -> Filter:
    if not isinstance(data, Mapping):
        raise SpecError("", "a filter must be an object with a `type`.")
    cls = FILTERS.get(data.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise SpecError("type", f"unknown filter type {data.get('type')!r}; known: {', '.join(FILTERS)}.")
    return cls.parse(data)


__all__ = ["FILTERS", "Filter", "parse_filter", "CHEQUE", "LINE", "ZERO"]
