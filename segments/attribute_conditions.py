"""Condition kinds over the attributes and statuses apps: attribute values, questionnaire group
items, counters, statuses.

The SQL comes from attributes.filters (which owns the storage and its indexes); here it is wrapped
as a leaf of the tree: `c.id IN (ids)` or, negated, `NOT EXISTS (... ids ... = c.id)`, both
(anti-)semi-joins.

| kind | parameters | holds when |
|---|---|---|
| attribute | attribute (code), op, value, period? | the attribute's value compares (operators by its type: docs/attributes.md); counters and status systems are attributes too |
| questionnaire_group | group (code), where: [{question, op, value}, ...] | at least one item of the repeating group satisfies every clause ("has a boy older than 12") |
| questionnaire_group_count | group, op, value | the number of items compares ("at least 2 children"; 0 items included) |
| counter | counter (code), op, value, period? (current, previous, YYYY-MM-DD) | the counter's value in that period compares (no row = 0) |
| status | system (code), op, value | the customer's status in the system: eq/ne/in/not_in codes, gte/gt/lte/lt by rank ("gold or better"), is_set/is_not_set |

The attributes' own checks (operator for the type, value parse, unknown question) run when the
definition is validated; their errors are reported at the leaf's path.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from core.errors import DomainError
from segments.conditions import Context, Kind, Pred
from segments.definition import Invalid, LeafReader, as_int, as_list, as_str


def _pred(condition) -> Pred:
    if condition.negated:
        return Pred(f"NOT EXISTS (SELECT 1 FROM ({condition.ids_sql}) x (customer_id) WHERE x.customer_id = c.id)",
                    tuple(condition.params))
    return Pred(f"c.id IN ({condition.ids_sql})", tuple(condition.params))


def _any(raw: Any) -> Any:
    if isinstance(raw, (dict,)):
        raise Invalid("must be a value or a list of values")
    return raw


def _period(raw: Any) -> str | dt.date:
    if raw in ("current", "previous"):
        return raw
    if isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    raise Invalid("must be current, previous or a date as YYYY-MM-DD")


class AttributeKind(Kind):
    kind = "attribute"
    title = "Attribute value (generic, questionnaire answer, notifier, counter, status)"
    example = {"kind": "attribute", "attribute": "shoe_size", "op": "gte", "value": 42}
    fields = [{"name": "attribute", "type": "text"}, {"name": "op", "type": "text"}, {"name": "value", "type": "value"},
              {"name": "period", "type": "text"}]

    def parse(self, reader: LeafReader) -> dict[str, Any]:
        return {"attribute": reader.get("attribute", lambda raw: as_str(raw, max_length=64), required=True),
                "op": reader.get("op", lambda raw: as_str(raw, max_length=32), required=True),
                "value": reader.get("value", _any), "period": reader.get("period", _period, default="current")}

    def references(self, params: dict[str, Any]) -> list[tuple[str, Any, str]]:
        return [("attribute", params["attribute"], "attribute")]

    def condition(self, params: dict[str, Any], cx: Context):
        from attributes.filters import attribute_condition

        return attribute_condition(params["attribute"], params["op"], params["value"], on=cx.today,
                                   period=params["period"])

    def compile(self, params: dict[str, Any], cx: Context) -> Pred:
        return _pred(self.condition(params, cx))

    check = condition


def _clause(raw: Any) -> tuple[str, str, Any]:
    if isinstance(raw, dict):
        unknown = set(raw) - {"question", "op", "value"}
        if unknown:
            raise Invalid(f"unknown key {', '.join(sorted(unknown))} (a clause has question, op, value)")
        question, op, value = raw.get("question"), raw.get("op"), raw.get("value")
    elif isinstance(raw, list) and len(raw) in (2, 3):
        question, op, value = (*raw, None)[:3]
    else:
        raise Invalid("a clause is {\"question\", \"op\", \"value\"}")
    return as_str(question, max_length=64), as_str(op, max_length=32), value


class GroupItemsKind(Kind):
    kind = "questionnaire_group"
    title = "Questionnaire group: an item matching all clauses"
    example = {"kind": "questionnaire_group", "group": "children",
               "where": [{"question": "sex", "op": "eq", "value": "male"},
                         {"question": "birth_date", "op": "age_gt", "value": 12}]}
    fields = [{"name": "group", "type": "text"}, {"name": "where", "type": "value"}]

    def parse(self, reader: LeafReader) -> dict[str, Any]:
        return {"group": reader.get("group", lambda raw: as_str(raw, max_length=64), required=True),
                "where": reader.get("where", lambda raw: as_list(raw, _clause, max_items=20), required=True)}

    def references(self, params: dict[str, Any]) -> list[tuple[str, Any, str]]:
        return [("question_group", params["group"], "group")]

    def condition(self, params: dict[str, Any], cx: Context):
        from attributes.filters import group_condition

        return group_condition(params["group"], params["where"], on=cx.today)

    def compile(self, params: dict[str, Any], cx: Context) -> Pred:
        return _pred(self.condition(params, cx))

    check = condition


class GroupCountKind(Kind):
    kind = "questionnaire_group_count"
    title = "Questionnaire group: number of items"
    example = {"kind": "questionnaire_group_count", "group": "children", "op": "gte", "value": 2}
    fields = [{"name": "group", "type": "text"},
              {"name": "op", "type": "choice", "choices": ["eq", "ne", "lt", "lte", "gt", "gte"]},
              {"name": "value", "type": "number"}]

    def parse(self, reader: LeafReader) -> dict[str, Any]:
        return {"group": reader.get("group", lambda raw: as_str(raw, max_length=64), required=True),
                "op": reader.get("op", lambda raw: as_str(raw, max_length=8), required=True),
                "value": reader.get("value", lambda raw: as_int(raw, low=0), required=True)}

    def references(self, params: dict[str, Any]) -> list[tuple[str, Any, str]]:
        return [("question_group", params["group"], "group")]

    def condition(self, params: dict[str, Any], cx: Context):
        from attributes.filters import group_count_condition

        return group_count_condition(params["group"], params["op"], params["value"])

    def compile(self, params: dict[str, Any], cx: Context) -> Pred:
        return _pred(self.condition(params, cx))

    check = condition


class CounterKind(Kind):
    kind = "counter"
    title = "Counter value in a period"
    example = {"kind": "counter", "counter": "spent_month", "op": "gte", "value": "5000", "period": "current"}
    fields = [{"name": "counter", "type": "text"},
              {"name": "op", "type": "choice", "choices": ["eq", "ne", "lt", "lte", "gt", "gte", "between"]},
              {"name": "value", "type": "value"}, {"name": "period", "type": "text"}]

    def parse(self, reader: LeafReader) -> dict[str, Any]:
        return {"counter": reader.get("counter", lambda raw: as_str(raw, max_length=64), required=True),
                "op": reader.get("op", lambda raw: as_str(raw, max_length=8), required=True),
                "value": reader.get("value", _any, required=True),
                "period": reader.get("period", _period, default="current")}

    def references(self, params: dict[str, Any]) -> list[tuple[str, Any, str]]:
        return [("counter", params["counter"], "counter")]

    def condition(self, params: dict[str, Any], cx: Context):
        from attributes.filters import counter_condition
        from attributes.models import Counter

        counter = Counter.objects.filter(code=params["counter"]).first()
        if counter is None:
            raise DomainError("filter_invalid", f"No counter '{params['counter']}'.", field="counter")
        return counter_condition(counter, params["op"], params["value"], period=params["period"])

    def compile(self, params: dict[str, Any], cx: Context) -> Pred:
        return _pred(self.condition(params, cx))

    check = condition


STATUS_OPS = ("eq", "ne", "in", "not_in", "gte", "gt", "lte", "lt", "is_set", "is_not_set")


class StatusKind(Kind):
    kind = "status"
    title = "Status in a status system"
    example = {"kind": "status", "system": "tier", "op": "gte", "value": "gold"}
    fields = [{"name": "system", "type": "text"}, {"name": "op", "type": "choice", "choices": list(STATUS_OPS)},
              {"name": "value", "type": "value"}]

    def parse(self, reader: LeafReader) -> dict[str, Any]:
        from segments.definition import as_choice

        return {"system": reader.get("system", lambda raw: as_str(raw, max_length=50), required=True),
                "op": reader.get("op", lambda raw: as_choice(raw, STATUS_OPS), required=True),
                "value": reader.get("value", _any)}

    def references(self, params: dict[str, Any]) -> list[tuple[str, Any, str]]:
        return [("status_system", params["system"], "system")]

    def condition(self, params: dict[str, Any], cx: Context):
        from attributes.filters import attribute_condition
        from statuses.models import StatusSystem

        system = StatusSystem.objects.select_related("attribute").filter(code=params["system"]).first()
        if system is None or system.attribute is None:
            raise DomainError("filter_invalid", f"No status system '{params['system']}'.", field="system")
        # The system is an attribute of kind "status": statuses registered how to filter on it.
        return attribute_condition(system.attribute, params["op"], params["value"], on=cx.today)

    def compile(self, params: dict[str, Any], cx: Context) -> Pred:
        return _pred(self.condition(params, cx))

    check = condition


KINDS = (AttributeKind(), GroupItemsKind(), GroupCountKind(), CounterKind(), StatusKind())
REFERENCES = {
    "status_system": ("statuses_statussystem", "code", "status system"),
    "attribute": ("attributes_attribute", "code", "attribute"),
    "question_group": ("attributes_questiongroup", "code", "question group"),
    "counter": ("attributes_counter", "code", "counter"),
}

__all__ = ["KINDS", "REFERENCES"]
