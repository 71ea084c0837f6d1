"""Reactions to lower apps' signals (connected in StatusesConfig.ready)."""
from __future__ import annotations

from typing import Any

from django.utils import timezone

from core.actors import Actor
from core.services import event_emit
from statuses.models import CustomerStatus, StatusChange


def on_customer_merged(sender: Any, *, source, target, actor: Actor, **kwargs: Any) -> None:
    """crm merged `source` into `target` (inside its transaction): the target keeps, per system,
    the better of the two statuses (with its hold and grace); the source's history moves to the
    target; then the target is upgraded if the merged counters now qualify it for more."""
    rows = {(r.customer_id, r.system_id): r for r in CustomerStatus.objects.select_for_update(of=("self",))
            .filter(customer_id__in=[source.pk, target.pk]).select_related("status", "system").order_by("id")}
    now = timezone.now()
    for (customer_id, system_id), theirs in list(rows.items()):
        if customer_id != source.pk:
            continue
        ours = rows.get((target.pk, system_id))
        if ours is None:
            CustomerStatus.objects.filter(pk=theirs.pk).update(customer_id=target.pk, updated_at=now)
            continue
        rank = lambda row: row.status.rank if row.status else -1  # noqa: E731
        if rank(theirs) > rank(ours):
            previous = ours.status
            ours.status, ours.since, ours.manual_until, ours.grace_until = (
                theirs.status, theirs.since, theirs.manual_until, theirs.grace_until)
            ours.reason = f"kept from merged customer #{source.pk}"
            ours.save()
            change = StatusChange.objects.create(
                system_id=system_id, customer_id=target.pk, from_status=previous, to_status=ours.status,
                reason=StatusChange.Reason.MERGE, created_at=now, actor_kind=actor.kind, actor_id=str(actor.id)[:64],
                actor_label=actor.label[:150], comment=f"customer #{source.pk} merged into #{target.pk}",
                manual_until=ours.manual_until)
            event_emit(kind="status.changed", customer_id=target.pk, payload={
                "system": theirs.system.code, "from": previous.code if previous else None, "to": ours.status.code,
                "from_name": previous.name if previous else None, "to_name": ours.status.name,
                "reason": StatusChange.Reason.MERGE, "direction": "up", "change_id": change.pk})
        CustomerStatus.objects.filter(pk=theirs.pk).delete()
    StatusChange.objects.filter(customer_id=source.pk).update(customer_id=target.pk)
    from statuses.services import status_upgrade_for_customer

    status_upgrade_for_customer(customer_id=target.pk, actor=actor)
