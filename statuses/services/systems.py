"""Defining status systems and their statuses (admin, demo, tests). Each write audited.

A system is a customer attribute of kind "status" whose code is the system's code; saving a
system creates or updates that attribute (its options list the statuses, best last), so segments
and offers find it among the attributes.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from attributes.filters import attribute_condition
from attributes.models import Attribute, Counter
from core.actors import Actor
from core.errors import DomainError
from core.services import audit_record, snapshot
from statuses.conditions import Condition, ConditionError, conditions_validate
from statuses.models import CustomerStatus, Status, StatusChange, StatusSystem
from statuses.schedule import next_boundary


def conditions_check(raw: Any, *, field: str = "conditions") -> list[Condition]:
    """Text or list -> the stored list, checked against the database: counters and attributes
    exist, and each attribute condition's operator and value fit the attribute's type."""
    try:
        conditions = conditions_validate(raw)
    except ConditionError as exc:
        raise DomainError("conditions_invalid", str(exc), field=field) from None
    codes = {c["counter"] for c in conditions if c["type"] == "counter"}
    known = set(Counter.objects.filter(code__in=codes).values_list("code", flat=True)) if codes else set()
    for index, cond in enumerate(conditions, start=1):
        if cond["type"] == "counter":
            if cond["counter"] not in known:
                raise DomainError("conditions_invalid", f"condition {index}: no counter '{cond['counter']}'.",
                                  field=field)
            continue
        attr = Attribute.objects.filter(code=cond["attribute"]).first()
        if attr is None:
            raise DomainError("conditions_invalid", f"condition {index}: no attribute '{cond['attribute']}'.",
                              field=field)
        try:
            attribute_condition(attr, cond["op"], cond.get("value"))
        except DomainError as exc:
            raise DomainError("conditions_invalid", f"condition {index}: {exc.message}", field=field) from None
    return conditions


def _attribute_sync(system: StatusSystem) -> None:
    """The system's attribute: same code and name, kind status, options = its statuses."""
    options = [{"code": s.code, "label": s.name} for s in Status.objects.filter(system=system).order_by("rank")]
    fields = {"code": system.code, "name": system.name, "kind": Attribute.Kind.STATUS, "value_type": "",
              "options": options, "config": {"status_system": system.code}, "is_active": system.is_active,
              "description": system.description or f"Status in the status system '{system.name}'."}
    attr = system.attribute
    if attr is None:
        clash = Attribute.objects.filter(code=system.code).first()
        if clash is not None and not (clash.kind == Attribute.Kind.STATUS and
                                      (clash.config or {}).get("status_system") == system.code):
            raise DomainError("code_taken", f"An attribute with the code '{system.code}' already exists: "
                              "choose another code for the status system.", field="code")
        attr = clash or Attribute(**fields)
    elif attr.code != system.code and Attribute.objects.filter(code=system.code).exclude(pk=attr.pk).exists():
        raise DomainError("code_taken", f"An attribute with the code '{system.code}' already exists.", field="code")
    for name, value in fields.items():
        setattr(attr, name, value)
    attr.save()
    if system.attribute_id != attr.pk:
        system.attribute = attr
        StatusSystem.objects.filter(pk=system.pk).update(attribute=attr)


@transaction.atomic
def status_system_save(*, system: StatusSystem, actor: Actor) -> StatusSystem:
    """Create or update a system (fields already set on the instance); keeps its attribute in step."""
    before = snapshot(StatusSystem.objects.get(pk=system.pk)) if system.pk else None
    if system.grace_days is None or system.grace_days < 0:
        raise DomainError("validation_error", "Grace days must be 0 or more.", field="grace_days")
    if system.next_recalculation_at is None:
        system.next_recalculation_at = next_boundary(period=system.period, tz=system.timezone)
    system.save()
    _attribute_sync(system)
    audit_record(actor=actor, action="status_system.change" if before else "status_system.create", target=system,
                 before=before, after=snapshot(system))
    return system


@transaction.atomic
def status_save(*, status: Status, actor: Actor) -> Status:
    """Create or update a status; its conditions are checked against counters and attributes."""
    status.conditions = conditions_check(status.conditions)
    before = snapshot(Status.objects.get(pk=status.pk)) if status.pk else None
    clash = Status.objects.filter(system_id=status.system_id).exclude(pk=status.pk)
    if clash.filter(code=status.code).exists():
        raise DomainError("code_taken", f"The system already has a status '{status.code}'.", field="code")
    if clash.filter(rank=status.rank).exists():
        raise DomainError("rank_taken", f"The system already has a status of rank {status.rank}.", field="rank")
    status.save()
    _attribute_sync(StatusSystem.objects.get(pk=status.system_id))
    audit_record(actor=actor, action="status.change" if before else "status.create", target=status,
                 before=before, after=snapshot(status))
    return status


@transaction.atomic
def status_delete(*, status: Status, actor: Actor) -> None:
    """Delete a status no customer holds and no history names (otherwise rename it instead)."""
    held = CustomerStatus.objects.filter(status=status).exists()
    named = StatusChange.objects.filter(system_id=status.system_id).filter(from_status=status).exists() or \
        StatusChange.objects.filter(system_id=status.system_id, to_status=status).exists()
    if held or named:
        raise DomainError("status_in_use", f"Status '{status.code}' is held by customers or named in their history; "
                          "it cannot be deleted.", status=409)
    audit_record(actor=actor, action="status.delete", target=status, before=snapshot(status))
    system = status.system
    status.delete()
    _attribute_sync(system)


@dataclass
class StatusSpec:
    code: str
    name: str
    rank: int
    conditions: Any = field(default_factory=list)  # text or list
    description: str = ""


@transaction.atomic
def status_system_define(*, code: str, name: str, statuses: Sequence[StatusSpec], actor: Actor,
                         period: str = StatusSystem.Period.MONTHLY, grace_days: int = 0,
                         timezone: str = "Europe/Moscow", counter_code: str | None = None,
                         description: str = "") -> StatusSystem:
    """Create or update a whole system with its statuses in one go (demo, tests, scripts).
    Statuses not listed are deleted when unused. Idempotent."""
    system = StatusSystem.objects.filter(code=code).first() or StatusSystem(code=code)
    system.name, system.period, system.grace_days, system.timezone, system.description = (
        name, period, grace_days, timezone, description)
    system.counter = Counter.objects.get(code=counter_code) if counter_code else None
    status_system_save(system=system, actor=actor)
    existing = {s.code: s for s in Status.objects.filter(system=system)}
    # Free the ranks first, so statuses can swap ranks without tripping the unique constraint.
    wanted = {spec.code for spec in statuses}
    for old in list(existing.values()):
        if old.code not in wanted:
            status_delete(status=old, actor=actor)
            del existing[old.code]
    offset = 1000
    for index, old in enumerate(existing.values()):
        Status.objects.filter(pk=old.pk).update(rank=offset + index)
    for spec in statuses:
        status = existing.get(spec.code) or Status(system=system, code=spec.code)
        status.name, status.rank, status.conditions, status.description = (
            spec.name, spec.rank, spec.conditions, spec.description)
        status_save(status=status, actor=actor)
    return system
