"""Segments filter on status systems like on any attribute: `attribute_condition("tier", "gte", "gold")`.

Registered with attributes.filters for the attribute kind "status" (see StatusesConfig.ready):

| op | value | customers |
|----|-------|-----------|
| eq, ne | a status code | holding it / holding another one |
| in, not_in | [codes] | holding one of them / holding another one |
| gte, gt, lte, lt | a status code | by rank: "gold or better" is `gte gold` |
| is_set, is_not_set | - | holding any status / none |

Each is an index range scan of customerstatus_status_idx (system, status) INCLUDE customer.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from attributes.filters import Condition
from attributes.models import Attribute
from core.errors import DomainError

OPS = ("eq", "ne", "in", "not_in", "gte", "gt", "lte", "lt", "is_set", "is_not_set")
_CMP = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}


def status_condition(attribute: Attribute, op: str, value: Any = None, *,
                     on: dt.date | None = None) -> Condition:  # noqa: ARG001 - the compiler signature
    from statuses.models import Status, StatusSystem

    code = (attribute.config or {}).get("status_system") or attribute.code
    system = StatusSystem.objects.filter(code=code).first()
    if system is None:
        raise DomainError("filter_invalid", f"No status system '{code}'.", field="attribute")
    if op not in OPS:
        raise DomainError("filter_invalid", f"Operator '{op}' does not apply to statuses; use one of {', '.join(OPS)}.",
                          field="op")
    base = "SELECT customer_id FROM statuses_customerstatus WHERE system_id = %s AND status_id IS NOT NULL"
    if op in ("is_set", "is_not_set"):
        return Condition(base, (system.pk,), negated=op == "is_not_set")
    statuses = {s.code: s for s in Status.objects.filter(system=system)}
    wanted = value if isinstance(value, (list, tuple)) else [value]
    if op not in ("in", "not_in") and len(wanted) != 1:
        raise DomainError("filter_invalid", "Give one status code.", field="value")
    unknown = [str(v) for v in wanted if str(v) not in statuses]
    if unknown or not wanted:
        missing = ", ".join(unknown) or "(none given)"
        raise DomainError("filter_invalid", f"System '{system.code}' has no status {missing}; "
                          f"its statuses: {', '.join(statuses)}.", field="value")
    ids = [statuses[str(v)].pk for v in wanted]
    if op in ("eq", "in"):
        return Condition(base + " AND status_id = ANY(%s)", (system.pk, ids))
    if op in ("ne", "not_in"):
        return Condition(base + " AND status_id <> ALL(%s)", (system.pk, ids))
    rank = statuses[str(wanted[0])].rank
    ranked = [s.pk for s in statuses.values() if eval_rank(s.rank, op, rank)]
    return Condition(base + " AND status_id = ANY(%s)", (system.pk, ranked))


def eval_rank(rank: int, op: str, pivot: int) -> bool:
    return {"gte": rank >= pivot, "gt": rank > pivot, "lte": rank <= pivot, "lt": rank < pivot}[op]
