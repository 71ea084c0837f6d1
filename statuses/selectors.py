"""Reads: a customer's statuses with what is needed for the next one, history, the offers' context."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from attributes.filters import attribute_condition
from attributes.models import Attribute, Counter, CounterValue
from core.errors import DomainError
from crm.models import Customer
from statuses.engine import counter_period_start
from statuses.models import CustomerStatus, Status, StatusChange, StatusSystem
from statuses.schedule import local_date
from statuses.words import Requirement, attribute_requirement, counter_requirement, fmt_date, sentence


def statuses_map(*, customer_id: int) -> dict[str, str]:
    """{system code: status code} of the customer's current statuses in active systems (one query).
    This is what the offers engine reads as `statuses` in its context."""
    rows = (CustomerStatus.objects.filter(customer_id=customer_id, system__is_active=True, status__isnull=False)
            .values_list("system__code", "status__code"))
    return dict(rows)


def statuses_map_many(*, customer_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """The same for many customers at once (one query)."""
    out: dict[int, dict[str, str]] = {}
    rows = (CustomerStatus.objects.filter(customer_id__in=list(customer_ids), system__is_active=True,
                                          status__isnull=False)
            .values_list("customer_id", "system__code", "status__code"))
    for customer_id, system, status in rows:
        out.setdefault(customer_id, {})[system] = status
    return out


def systems_active() -> list[StatusSystem]:
    return list(StatusSystem.objects.filter(is_active=True).select_related("counter").order_by("name")
                .prefetch_related(Prefetch("statuses", queryset=Status.objects.order_by("rank"))))


def _status_json(status: Status | None) -> dict[str, Any] | None:
    return None if status is None else {"code": status.code, "name": status.name, "rank": status.rank}


def customer_statuses(*, customer_id: int, as_of: dt.datetime | None = None,
                      for_operator: bool = False) -> list[dict[str, Any]]:
    """Per active system: the current status, the next recalculation date, the system's counter
    value, and the next status with what is still needed for it, in plain words."""
    if not Customer.objects.filter(pk=customer_id).exists():
        raise DomainError("not_found", f"No customer {customer_id}.", status=404)
    as_of = as_of or timezone.now()
    systems = systems_active()
    rows = {r.system_id: r for r in CustomerStatus.objects.filter(customer_id=customer_id,
                                                                  system_id__in=[s.pk for s in systems])}
    codes = {c["counter"] for s in systems for st in s.statuses.all() for c in st.conditions if c["type"] == "counter"}
    codes |= {s.counter.code for s in systems if s.counter}
    counters = {c.code: c for c in Counter.objects.filter(code__in=codes)
                .select_related("product_group", "store")}
    values: dict[tuple[int, dt.date], Decimal] = {
        (v.counter_id, v.period_start): v.value
        for v in CounterValue.objects.filter(customer_id=customer_id, counter_id__in=[c.pk for c in counters.values()])
    }

    def value(counter: Counter, period: str) -> Decimal:
        return values.get((counter.pk, counter_period_start(counter, period, as_of)), Decimal(0))

    out: list[dict[str, Any]] = []
    for system in systems:
        row = rows.get(system.pk)
        statuses = list(system.statuses.all())
        by_id = {s.pk: s for s in statuses}
        current = by_id.get(row.status_id) if row and row.status_id else None
        next_on = local_date(system.next_recalculation_at, system.timezone)
        better = [s for s in statuses if s.rank > (current.rank if current else -1)]
        nxt = better[0] if better else None
        item: dict[str, Any] = {
            "system": system.code, "name": system.name, "period": system.period,
            "status": _status_json(current),
            "since": row.since if row and current else None,
            "kept_until": row.grace_until if row else None,
            "next_recalculation_at": system.next_recalculation_at,
            "next_recalculation_on": next_on,
            "value": None,
            "next_status": None,
        }
        if system.counter_id and system.counter.code in counters:
            counter = counters[system.counter.code]
            item["value"] = {"counter": counter.code, "name": counter.name, "value": str(value(counter, "current"))}
        if for_operator:
            item["manual_until"] = row.manual_until if row else None
            item["reason"] = row.reason if row else ""
        if nxt is not None:
            requirements = [_requirement(c, counters, value, customer_id, as_of) for c in nxt.conditions]
            item["next_status"] = {
                **(_status_json(nxt) or {}),
                "requirements": [r.as_json() for r in requirements],
                "text": sentence(requirements, nxt.name, next_recalculation=next_on),
            }
        item["text"] = _summary(current, nxt, item, row, system.timezone)
        out.append(item)
    return out


def _requirement(cond: dict, counters: dict[str, Counter], value, customer_id: int,
                 as_of: dt.datetime) -> Requirement:
    if cond["type"] == "counter":
        counter = counters.get(cond["counter"])
        if counter is None:
            return Requirement(cond, False, f"counter {cond['counter']} (unknown)")
        return counter_requirement(cond, counter, current_period=value(counter, "current"),
                                   previous_period=value(counter, "previous"), as_of=as_of)
    attribute = Attribute.objects.filter(code=cond["attribute"]).first()
    met = False
    if attribute is not None:
        try:
            found = attribute_condition(attribute, cond["op"], cond.get("value"), on=as_of.date())
            met = Customer.objects.filter(pk=customer_id).filter(found.q()).exists()
        except DomainError:
            met = False
    return attribute_requirement(cond, attribute, met=met)


def _summary(current: Status | None, nxt: Status | None, item: dict[str, Any], row: CustomerStatus | None,
             tz: str) -> str:
    parts: list[str] = []
    if current is None:
        parts.append("You have no status yet.")
    elif nxt is None:
        parts.append(f"You have {current.name}, the highest status.")
    else:
        parts.append(f"You have {current.name}.")
    if current is not None and row is not None and row.grace_until:
        parts.append(f"It is kept until {fmt_date(local_date(row.grace_until, tz))}; qualify again to keep it.")
    if nxt is not None:
        parts.append(item["next_status"]["text"])
    return " ".join(parts)


def status_history(*, customer_id: int, system_code: str | None = None) -> QuerySet[StatusChange]:
    qs = (StatusChange.objects.filter(customer_id=customer_id)
          .select_related("system", "from_status", "to_status").order_by("-created_at", "-id"))
    if system_code:
        qs = qs.filter(system__code=system_code)
    return qs


def recalculation_runs(*, system_code: str | None = None):
    from statuses.models import StatusRecalculation

    qs = StatusRecalculation.objects.select_related("system").order_by("-started_at", "-id")
    return qs.filter(system__code=system_code) if system_code else qs
