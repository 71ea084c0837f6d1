"""What a member still needs for the next status, in plain words, generated from the conditions.

    "Spend 3,200.00 more by 31.12.2026 and make 2 more purchases to reach Gold."

Per condition of the next status:
- counter >= / > threshold: the amount still missing. The value that will count is the one of the
  counter's *current* period, so a condition on the previous period speaks of the current one
  (it becomes the previous period at the next recalculation). A calendar counter adds "by <last
  day of its current period>"; rolling and all-time counters have no deadline.
- other counter operators and attribute conditions: a short sentence of what must hold.
Met conditions are listed with `met: true` and left out of the sentence.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from attributes.models import Attribute, Counter
from attributes.periods import counter_today, period_start
from statuses.conditions import Condition

_UNIT = {Counter.Aggregate.SUM: Decimal("0.01"), Counter.Aggregate.COUNT: Decimal("1")}


def fmt_amount(value: Decimal) -> str:
    return f"{value:,.2f}"


def fmt_count(value: Decimal) -> str:
    return f"{int(value):,}"


def fmt_date(day: dt.date) -> str:
    return day.strftime("%d.%m.%Y")


def _fmt(counter: Counter, value: Decimal) -> str:
    return fmt_count(value) if counter.aggregate == Counter.Aggregate.COUNT else fmt_amount(value)


def period_last_day(counter: Counter, as_of: dt.datetime) -> dt.date | None:
    """Last day of the counter's current calendar period (None for rolling and all-time)."""
    if not counter.calendar:
        return None
    today = counter_today(counter, as_of)
    start = period_start(counter.period, today)
    months = {Counter.Period.MONTH: 1, Counter.Period.QUARTER: 3, Counter.Period.YEAR: 12}[counter.period]
    index = start.year * 12 + start.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1) - dt.timedelta(days=1)


@dataclass(frozen=True)
class Requirement:
    condition: Condition
    met: bool
    text: str  # lower-case clause, e.g. "spend 3,200.00 more by 31.12.2026"
    counter: Counter | None = None
    current: Decimal | None = None
    required: Decimal | None = None
    missing: Decimal | None = None
    by: dt.date | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.condition["type"], "met": self.met, "text": self.text}
        if self.counter is not None:
            out.update({"counter": self.counter.code, "counter_name": self.counter.name,
                        "period": self.condition.get("period", "current"),
                        "current": None if self.current is None else str(self.current),
                        "required": None if self.required is None else str(self.required),
                        "missing": None if self.missing is None else str(self.missing),
                        "by": self.by})
        else:
            out["attribute"] = self.condition.get("attribute")
        return out


def _counter_clause(counter: Counter, missing: Decimal, by: dt.date | None) -> str:
    where = ""
    if counter.product_group_id:
        where += f" on {counter.product_group.name}"  # selectors load it with the counter
    if counter.store_id:
        where += f" at {counter.store.name}"
    if counter.aggregate == Counter.Aggregate.COUNT:
        noun = "purchase" if missing == 1 else "purchases"
        text = f"make {fmt_count(missing)} more {noun}{where}"
    else:
        text = f"spend {fmt_amount(missing)} more{where}"
    return text + (f" by {fmt_date(by)}" if by else "")


_OP_WORDS = {"gte": "at least", "gt": "more than", "lte": "at most", "lt": "less than", "eq": "exactly",
             "ne": "other than"}


def counter_requirement(cond: Condition, counter: Counter, *, current_period: Decimal, previous_period: Decimal,
                        as_of: dt.datetime) -> Requirement:
    """`current_period`/`previous_period`: the customer's value in those periods (0 when none)."""
    threshold = Decimal(cond["value"])
    op = cond["op"]
    in_previous = cond.get("period") == "previous" and counter.calendar
    judged = previous_period if in_previous else current_period
    met = {"gte": judged >= threshold, "gt": judged > threshold, "lte": judged <= threshold,
           "lt": judged < threshold, "eq": judged == threshold, "ne": judged != threshold}[op]
    by = period_last_day(counter, as_of)
    if met:
        return Requirement(cond, True, f"{counter.name}: {_fmt(counter, judged)}", counter, judged, threshold,
                           Decimal(0), None)
    if op in ("gte", "gt"):
        need = threshold + (_UNIT[counter.aggregate] if op == "gt" else 0)
        # What will count is this period's value (for a "previous" condition: at the next recalculation).
        missing = max(Decimal(0), need - current_period)
        return Requirement(cond, False, _counter_clause(counter, missing, by), counter, current_period, need,
                           missing, by)
    clause = f"keep {counter.name.lower()} {_OP_WORDS[op]} {_fmt(counter, threshold)}"
    return Requirement(cond, False, clause + (f" by {fmt_date(by)}" if by else ""), counter, judged, threshold,
                       None, by)


def attribute_requirement(cond: Condition, attribute: Attribute | None, *, met: bool) -> Requirement:
    name = attribute.name if attribute else cond["attribute"]
    op, value = cond["op"], cond.get("value")
    shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    text = {
        "is_set": f"fill in {name}",
        "is_not_set": f"leave {name} empty",
        "in": f"have {name} one of {shown}",
        "not_in": f"have {name} other than {shown}",
        "contains": f"have {shown} in {name}",
        "eq": f"have {name} {shown}",
        "ne": f"have {name} other than {shown}",
    }.get(op) or f"have {name} {_OP_WORDS.get(op, op)} {shown}"
    return Requirement(cond, met, text)


def join_clauses(clauses: list[str]) -> str:
    if len(clauses) <= 1:
        return "".join(clauses)
    return ", ".join(clauses[:-1]) + " and " + clauses[-1]


def sentence(requirements: list[Requirement], target_name: str, *, next_recalculation: dt.date | None) -> str:
    """The member-facing sentence for reaching `target_name`."""
    missing = [r.text for r in requirements if not r.met]
    if not missing:
        when = f" at the recalculation on {fmt_date(next_recalculation)}" if next_recalculation else ""
        return f"You meet the conditions for {target_name}: it is given with your next purchase{when and ' or'}{when}."
    text = join_clauses(missing)
    return f"{text[0].upper()}{text[1:]} to reach {target_name}."
