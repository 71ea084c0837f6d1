"""Manual assignment by an operator: a status, a reason, optionally a date until which automatic
recalculation leaves the customer's status alone."""
from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError, NotFound
from core.services import audit_record, event_emit, snapshot
from crm.models import Customer
from statuses.models import CustomerStatus, Status, StatusChange, StatusSystem
from statuses.schedule import local_date, local_end_of_day


def _system(system: StatusSystem | str | int) -> StatusSystem:
    if isinstance(system, StatusSystem):
        return system
    found = (StatusSystem.objects.filter(pk=system) if isinstance(system, int)
             else StatusSystem.objects.filter(code=system)).first()
    if found is None:
        raise NotFound("not_found", f"No status system '{system}'.", field="system")
    return found


@transaction.atomic
def status_assign_manual(*, customer_id: int, system: StatusSystem | str | int, status: Status | str | None,
                         reason: str, actor: Actor, hold_until: dt.date | None = None) -> StatusChange:
    """Set the customer's status by hand. `reason` is required. With `hold_until` (a date, inclusive,
    in the system's time zone) automatic recalculation and upgrades leave the status alone until
    that day has passed; without it the next automatic change may move it again.
    `status=None` takes the status away. Cancels a running grace period. Records history, an
    event when the status changes, and an audit event."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", "Say why the status is set by hand.", field="reason")
    sys_ = _system(system)
    target: Status | None
    if status is None or status == "":
        target = None
    elif isinstance(status, Status):
        target = status
    else:
        target = Status.objects.filter(system=sys_, code=str(status)).first()
        if target is None:
            raise DomainError("validation_error", f"System '{sys_.code}' has no status '{status}'.", field="status")
    if target is not None and target.system_id != sys_.pk:
        raise DomainError("validation_error", f"Status '{target.code}' is not in system '{sys_.code}'.", field="status")
    manual_until = None
    if hold_until is not None:
        today = local_date(timezone.now(), sys_.timezone)
        if hold_until < today:
            raise DomainError("validation_error", "The hold date is in the past.", field="hold_until")
        manual_until = local_end_of_day(hold_until, sys_.timezone)
    if not Customer.objects.filter(pk=customer_id).exists():
        raise NotFound("not_found", f"No customer {customer_id}.")

    row = CustomerStatus.objects.select_for_update().filter(system=sys_, customer_id=customer_id).first()
    before = snapshot(row) if row else None
    previous = row.status if row else None
    now = timezone.now()
    if row is None:
        row = CustomerStatus(system=sys_, customer_id=customer_id, since=now)
    if previous != target:
        row.since = now
    row.status, row.manual_until, row.grace_until, row.reason = target, manual_until, None, reason[:300]
    row.save()
    change = StatusChange.objects.create(
        system=sys_, customer_id=customer_id, from_status=previous, to_status=target,
        reason=StatusChange.Reason.MANUAL, created_at=now, actor_kind=actor.kind, actor_id=str(actor.id)[:64],
        actor_label=actor.label[:150], comment=reason, manual_until=manual_until,
    )
    if previous != target:
        up = (target.rank if target else -1) > (previous.rank if previous else -1)
        event_emit(kind="status.changed", customer_id=customer_id, payload={
            "system": sys_.code, "from": previous.code if previous else None, "to": target.code if target else None,
            "from_name": previous.name if previous else None, "to_name": target.name if target else None,
            "reason": StatusChange.Reason.MANUAL, "direction": "up" if up else "down", "change_id": change.pk,
        })
    audit_record(actor=actor, action="status.assign_manual", target=row, before=before, after=snapshot(row),
                 comment=reason)
    return change
