"""Audit trail: every write in every app records one event through `audit_record`."""
from __future__ import annotations

import datetime as dt
import json
import decimal
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models

from core.actors import Actor
from core.models import AuditEvent


def _jsonable(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def snapshot(instance: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The concrete field values of a row, JSON-ready, for `before`/`after`."""
    names = set(fields) if fields is not None else None
    out: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if names is not None and field.name not in names:
            continue
        if getattr(field, "audit_exclude", False) or field.name in {"password", "code_hash", "secret_hash", "token_hash"}:
            continue
        out[field.attname] = _jsonable(getattr(instance, field.attname))
    return out


def audit_json(value: Mapping[str, Any]) -> str:
    """An audit event's `before`/`after` as JSON text, the way `audit_record` stores it: for
    services that write their audit row in their own SQL statement (one round trip)."""
    return json.dumps(_jsonable(dict(value)))


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    comment: str = "",
) -> AuditEvent:
    """Record one audit event. Call inside the writing transaction, so both commit or neither."""
    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_id = target.pk if object_id is None else object_id
    if not object_type:
        raise ValueError("audit_record needs a target or an object_type")
    diff_before, diff_after = before, after
    if before is not None and after is not None:
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        diff_before = {k: before.get(k) for k in changed}
        diff_after = {k: after.get(k) for k in changed}
    return AuditEvent.objects.create(
        actor_kind=actor.kind,
        actor_id=str(actor.id)[:64],
        actor_label=actor.label[:150],
        action=action[:64],
        object_type=object_type[:64],
        object_id="" if object_id is None else str(object_id)[:64],
        object_repr=(str(target) if target is not None else "")[:200],
        before=_jsonable(diff_before) if diff_before is not None else None,
        after=_jsonable(diff_after) if diff_after is not None else None,
        comment=comment,
    )


def audit_bulk(*, actor: Actor, action: str, object_type: str, rows: Iterable[tuple[str, dict | None]]) -> int:
    """One event per row for set-based work (imports, batch adjustments), written in one INSERT."""
    events = [
        AuditEvent(
            actor_kind=actor.kind,
            actor_id=str(actor.id)[:64],
            actor_label=actor.label[:150],
            action=action[:64],
            object_type=object_type[:64],
            object_id=str(object_id)[:64],
            after=_jsonable(after) if after is not None else None,
        )
        for object_id, after in rows
    ]
    AuditEvent.objects.bulk_create(events, batch_size=2000)
    return len(events)


def event_emit(*, kind: str, customer_id: int | None = None, payload: Mapping[str, Any] | None = None,
               dedup_key: str | None = None) -> None:
    """Append a business event to the outbox, in the caller's transaction.

    With `dedup_key`, a second emit of the same key is silently ignored (e.g. one "expiring soon"
    event per lot).
    """
    from core.models import DomainEvent

    if dedup_key is None:
        DomainEvent.objects.create(kind=kind, customer_id=customer_id, payload=_jsonable(dict(payload or {})))
        return
    DomainEvent.objects.bulk_create(
        [DomainEvent(kind=kind, customer_id=customer_id, payload=_jsonable(dict(payload or {})), dedup_key=dedup_key)],
        ignore_conflicts=True,
    )
