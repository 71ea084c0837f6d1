"""How a segment filters customers on attributes: SQL over this app's storage.

Every function returns a `Condition`: a subquery of customer ids (plus whether it is negated), so
conditions compose by AND/OR in the caller's SQL, or as Django `Q` objects on `Customer`:

    cond = attribute_condition("shoe_size", "gte", 42)
    Customer.objects.filter(cond.q())                    # Django
    sql, params = cond.sql("c.id")                       # raw SQL: 'c.id IN (SELECT ...)'

    # "has a boy older than 12" -- both conditions hold for the same child
    group_condition("children", [("sex", "eq", "male"), ("birth_date", "age_gt", 12)])
    # "a child's birthday within 5 days of D" (year wrap handled)
    group_condition("children", [("birth_date", "anniversary_within", 5)], on=D)

Operators by value type (`ne`/`not_in` mean "has a value and it differs"; "not set" is `is_not_set`):

| type         | operators |
|--------------|-----------|
| boolean      | eq, is_set, is_not_set |
| integer, decimal | eq, ne, lt, lte, gt, gte, between [lo, hi], in [..], is_set, is_not_set |
| string       | eq, ne, in, contains (case-insensitive), starts_with, is_set, is_not_set |
| choice       | eq, ne, in, not_in, is_set, is_not_set |
| date         | eq, lt, lte, gt, gte, between, within_last_days N, anniversary_within N, age_gt/age_gte/age_lt/age_lte N (years on `on`), is_set, is_not_set |
| multi_choice | contains (any of [..]), contains_all [..], is_set, is_not_set |
| notifier     | is_set (has one), verified (has a verified one), eq (that value), is_not_set |
| counter      | eq, ne, lt, lte, gt, gte, between on the value of `period` ("current", "previous" or a date); no row = 0 |
| status, personal_products | whatever the owning app registers with `register_kind_filter` |

Dates are compared as given; `on` (default: today, UTC) anchors ages, anniversaries and counter periods.
Indexes: scalar conditions are range scans of the per-type partial indexes (attribute first);
group conditions scan the group's items (a few per customer); counters use countervalue_seg_idx.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from attributes.contacts import email_normalize, phone_normalize, phone_rules
from attributes.models import Attribute, Counter, Question, QuestionGroup
from attributes.periods import counter_today, period_start, previous_period_start, years_before
from attributes.values import COLUMN, value_parse
from core.errors import DomainError

VT = Attribute.ValueType
_SLUG = re.compile(r"[-a-zA-Z0-9_]+")


@dataclass(frozen=True)
class Condition:
    """`customer IN (ids_sql)`, or NOT IN when negated. ids_sql never yields NULL."""

    ids_sql: str
    params: tuple[Any, ...]
    negated: bool = False

    def sql(self, customer_column: str = "crm_customer.id") -> tuple[str, list[Any]]:
        expr = f"{customer_column} IN ({self.ids_sql})"
        return (f"NOT ({expr})" if self.negated else expr), list(self.params)

    def q(self) -> Q:
        """For `Customer.objects.filter(...)`."""
        q = Q(id__in=RawSQL(self.ids_sql, self.params))
        return ~q if self.negated else q

    def __invert__(self) -> "Condition":
        return Condition(self.ids_sql, self.params, not self.negated)


OPS: dict[str, tuple[str, ...]] = {
    VT.BOOLEAN: ("eq", "is_set", "is_not_set"),
    VT.INTEGER: ("eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "is_set", "is_not_set"),
    VT.DECIMAL: ("eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "is_set", "is_not_set"),
    VT.STRING: ("eq", "ne", "in", "contains", "starts_with", "is_set", "is_not_set"),
    VT.CHOICE: ("eq", "ne", "in", "not_in", "is_set", "is_not_set"),
    VT.DATE: ("eq", "lt", "lte", "gt", "gte", "between", "within_last_days", "anniversary_within",
              "age_gt", "age_gte", "age_lt", "age_lte", "is_set", "is_not_set"),
    VT.MULTI_CHOICE: ("contains", "contains_all", "is_set", "is_not_set"),
}
_CMP = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
NOTIFIER_OPS = ("is_set", "is_not_set", "verified", "eq")
COUNTER_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "between")

KindFilter = Callable[..., Condition]
_KIND_FILTERS: dict[str, KindFilter] = {}


def register_kind_filter(kind: str, compiler: KindFilter) -> None:
    """A higher app that owns a kind's values (statuses, offers' personal products) registers how
    to filter on it: `compiler(attribute, op, value, on=date) -> Condition`."""
    _KIND_FILTERS[kind] = compiler


def _bad(message: str, field: str = "value") -> DomainError:
    return DomainError("filter_invalid", message, field=field)


def _typed(value_type: str, raw: Any, options: Sequence[str]) -> Any:
    try:
        return value_parse(value_type, raw, options=options)
    except ValueError as exc:
        raise _bad(str(exc)) from None


def _whole(raw: Any) -> int:
    try:
        return int(value_parse(VT.INTEGER, raw))
    except ValueError as exc:
        raise _bad(str(exc)) from None


def _pair(raw: Any) -> tuple[Any, Any]:
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        raise _bad("between needs [low, high].")
    return raw[0], raw[1]


def _items(raw: Any) -> list[Any]:
    if not isinstance(raw, (list, tuple)) or not raw:
        raise _bad("Give a non-empty list.")
    return list(raw)


def _predicate(expr: str, value_type: str, op: str, value: Any, *, on: dt.date, options: Sequence[str] = (),
               json_list: bool = False) -> tuple[str, list[Any]]:
    """A boolean SQL predicate on `expr` (a typed column or a typed JSON field), with params.

    `json_list` says `expr` is a jsonb array (group items) rather than a text[] (attribute values).
    """
    if op not in OPS.get(value_type, ()):
        raise _bad(f"Operator '{op}' does not apply to {value_type} values; use one of {', '.join(OPS.get(value_type, ()))}.", "op")
    if op in _CMP:
        return f"{expr} {_CMP[op]} %s", [_typed(value_type, value, options)]
    if op == "between":
        low, high = _pair(value)
        return f"{expr} BETWEEN %s AND %s", [_typed(value_type, low, options), _typed(value_type, high, options)]
    if op in ("in", "not_in"):
        typed = [_typed(value_type, v, options) for v in _items(value)]
        return f"{expr} {'<>' if op == 'not_in' else '='} {'ALL' if op == 'not_in' else 'ANY'}(%s)", [typed]
    if op == "contains" and value_type == VT.STRING:
        text = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{expr} ILIKE %s", [f"%{text}%"]
    if op == "starts_with":
        text = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{expr} LIKE %s", [f"{text}%"]
    if op in ("contains", "contains_all"):
        wanted = value if isinstance(value, (list, tuple)) else [value]
        typed = _typed(VT.MULTI_CHOICE, list(wanted), options)
        if not typed:
            raise _bad("Give at least one option.")
        if json_list:
            return (f"{expr} ?| %s" if op == "contains" else f"{expr} ?& %s"), [typed]
        return (f"{expr} && %s::text[]" if op == "contains" else f"{expr} @> %s::text[]"), [typed]
    if op == "within_last_days":
        days = _whole(value)
        return f"{expr} BETWEEN %s AND %s", [on - dt.timedelta(days=days), on]
    if op == "anniversary_within":
        days = _whole(value)
        return f"attributes_next_anniversary({expr}, %s) - %s::date BETWEEN 0 AND %s", [on, on, days]
    if op.startswith("age_"):
        years = _whole(value)
        # age (completed years on `on`) > N  <=>  born on or before `on` minus N+1 years.
        bound = {"age_gt": (years + 1, "<="), "age_gte": (years, "<="), "age_lt": (years, ">"), "age_lte": (years + 1, ">")}[op]
        return f"{expr} {bound[1]} %s", [years_before(on, bound[0])]
    raise _bad(f"Operator '{op}' is not supported.", "op")


def _attribute(attribute: Attribute | str) -> Attribute:
    if isinstance(attribute, Attribute):
        return attribute
    found = Attribute.objects.select_related("counter").filter(code=attribute).first()
    if found is None:
        raise DomainError("filter_invalid", f"No attribute '{attribute}'.", field="attribute")
    return found


def attribute_condition(attribute: Attribute | str, op: str, value: Any = None, *, on: dt.date | None = None,
                        period: str | dt.date = "current") -> Condition:
    """Customers for whom `attribute op value` holds (see the module docstring for operators)."""
    attr = _attribute(attribute)
    on = on or timezone.now().date()
    if attr.kind == Attribute.Kind.NOTIFIER:
        return _notifier_condition(attr, op, value)
    if attr.kind == Attribute.Kind.COUNTER:
        return counter_condition(attr.counter, op, value, on=on, period=period)
    if attr.kind in _KIND_FILTERS:
        return _KIND_FILTERS[attr.kind](attr, op, value, on=on)
    if attr.kind not in Attribute.STORED_KINDS:
        raise DomainError("filter_unavailable", f"Filtering on {attr.get_kind_display()} attributes is provided by the app "
                          "that owns them, and it is not installed.", field="attribute")
    if attr.value_type == VT.GROUP:
        raise _bad("A group is filtered item by item: use group_condition.", "attribute")
    if op in ("is_set", "is_not_set"):
        return Condition("SELECT customer_id FROM attributes_value WHERE attribute_id = %s", (attr.pk,), op == "is_not_set")
    predicate, params = _predicate(COLUMN[VT(attr.value_type)], attr.value_type, op, value, on=on,
                                   options=attr.option_codes())
    return Condition(f"SELECT customer_id FROM attributes_value WHERE attribute_id = %s AND {predicate}",
                     (attr.pk, *params))


def _notifier_condition(attr: Attribute, op: str, value: Any) -> Condition:
    base = "SELECT customer_id FROM crm_notifier WHERE kind = %s"
    if op in ("is_set", "is_not_set"):
        return Condition(base, (attr.notifier_kind,), op == "is_not_set")
    if op == "verified":
        return Condition(base + " AND verified", (attr.notifier_kind,))
    if op == "eq":
        text = str(value or "").strip()
        try:
            if attr.notifier_kind == Attribute.NotifierKind.PHONE:
                text = phone_normalize(text, phone_rules())  # compared in the form it is stored in
            elif attr.notifier_kind == Attribute.NotifierKind.EMAIL:
                text = email_normalize(text)
        except ValueError as exc:
            raise _bad(str(exc)) from None
        return Condition(base + " AND value = %s", (attr.notifier_kind, text))
    raise _bad(f"Operator '{op}' does not apply to notifiers; use one of {', '.join(NOTIFIER_OPS)}.", "op")


def counter_condition(counter: Counter, op: str, value: Any, *, on: dt.date | None = None,
                      period: str | dt.date = "current") -> Condition:
    """`value of the counter in the period op value`; a customer with no row has 0."""
    if op not in COUNTER_OPS:
        raise _bad(f"Operator '{op}' does not apply to counters; use one of {', '.join(COUNTER_OPS)}.", "op")
    day = on or counter_today(counter)
    if isinstance(period, dt.date):
        start = period_start(counter.period, period)
    elif period == "previous":
        start = previous_period_start(counter.period, day)
    elif period == "current":
        start = period_start(counter.period, day)
    else:
        raise _bad("period: 'current', 'previous' or a date.", "period")
    predicate, params = _predicate("value", VT.DECIMAL, op, value, on=day)
    zero_matches = _zero_matches(op, params)
    base = "SELECT customer_id FROM attributes_countervalue WHERE counter_id = %s AND period_start = %s AND "
    if zero_matches:
        # Customers without a row have 0, which satisfies the condition: take everyone except
        # those whose row fails it.
        return Condition(base + f"NOT ({predicate})", (counter.pk, start, *params), negated=True)
    return Condition(base + predicate, (counter.pk, start, *params))


def _zero_matches(op: str, params: list[Any]) -> bool:
    zero = Decimal(0)
    if op == "between":
        return params[0] <= zero <= params[1]
    if op == "in":
        return zero in params[0]
    return {"eq": zero == params[0], "ne": zero != params[0], "lt": zero < params[0], "lte": zero <= params[0],
            "gt": zero > params[0], "gte": zero >= params[0]}[op]


def _group(group: QuestionGroup | str) -> QuestionGroup:
    if isinstance(group, QuestionGroup):
        return group
    found = (QuestionGroup.objects.filter(code=group, questionnaire__is_active=True).first()
             or QuestionGroup.objects.filter(code=group).order_by("-id").first())
    if found is None:
        raise DomainError("filter_invalid", f"No question group '{group}'.", field="group")
    return found


def group_condition(group: QuestionGroup | str, where: Sequence[tuple[Any, ...]], *,
                    on: dt.date | None = None) -> Condition:
    """Customers with at least one item of the group for which every (question, op, value) holds."""
    grp = _group(group)
    on = on or timezone.now().date()
    questions = {q.code: q for q in Question.objects.filter(group=grp)}
    clauses = ["group_id = %s"]
    params: list[Any] = [grp.pk]
    for index, condition in enumerate(where):
        code, op, value = (*condition, None)[:3]  # (question, op) is enough for is_set / is_not_set
        question = questions.get(code)
        if question is None or not _SLUG.fullmatch(code):
            raise DomainError("filter_invalid", f"Group '{grp.code}' has no question '{code}'.", field=f"where.{index}")
        value_type = question.value_type
        if op in ("is_set", "is_not_set"):
            clauses.append(f"{'NOT ' if op == 'is_not_set' else ''}(data ? '{code}')")
            continue
        # `code` is a slug (checked above), so it is safe as a SQL literal.
        if value_type == VT.MULTI_CHOICE:
            expr, json_list = f"(data -> '{code}')", True
        else:
            cast = {VT.DECIMAL: "numeric", VT.INTEGER: "bigint", VT.DATE: "date", VT.BOOLEAN: "boolean"}.get(value_type)
            expr, json_list = (f"((data ->> '{code}')::{cast})" if cast else f"(data ->> '{code}')"), False
        predicate, extra = _predicate(expr, value_type, op, value, on=on, options=question_option_codes(question),
                                      json_list=json_list)
        clauses.append(predicate)
        params.extend(extra)
    return Condition(f"SELECT customer_id FROM attributes_groupitem WHERE {' AND '.join(clauses)}", tuple(params))


def group_count_condition(group: QuestionGroup | str, op: str, count: int) -> Condition:
    """Customers by their number of items in a group ("has at least 2 children"); 0 items included."""
    grp = _group(group)
    if op not in COUNTER_OPS or op == "between":
        raise _bad(f"Operator '{op}' does not apply to item counts.", "op")
    n = _whole(count)
    inner = f"SELECT customer_id FROM attributes_groupitem WHERE group_id = %s GROUP BY customer_id HAVING count(*) {_CMP[op]} %s"
    zero_ok = {"eq": n == 0, "ne": n != 0, "lt": 0 < n, "lte": 0 <= n, "gt": 0 > n, "gte": 0 >= n}[op]
    if zero_ok:
        negated = {"eq": "<>", "ne": "=", "lt": ">=", "lte": ">", "gt": "<=", "gte": "<"}[op]
        inner = f"SELECT customer_id FROM attributes_groupitem WHERE group_id = %s GROUP BY customer_id HAVING count(*) {negated} %s"
        return Condition(inner, (grp.pk, n), negated=True)
    return Condition(inner, (grp.pk, n))


def question_option_codes(question: Question) -> list[str]:
    from attributes.models.definitions import option_codes

    try:
        return option_codes(question.options)
    except ValueError:
        return []
