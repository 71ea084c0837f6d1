"""Thin Celery wrappers: load by id, call a service."""
from __future__ import annotations

from celery import shared_task

from core.actors import Actor


@shared_task(name="attributes.tasks.counter_recalculate", acks_late=True)
def counter_recalculate(counter_id: int) -> int:
    """Queue the chunks of a full recalculation of one counter."""
    from attributes.services.counters import counter_recalculate_request

    return counter_recalculate_request(counter_id=counter_id, actor=Actor.system("counter recalculation"))


@shared_task(name="attributes.tasks.counter_recalculate_chunk", acks_late=True)
def counter_recalculate_chunk(counter_id: int, first_id: int, last_id: int) -> int:
    from attributes.services.counters import counter_recalculate_range

    return counter_recalculate_range(counter_id=counter_id, first_id=first_id, last_id=last_id)


@shared_task(name="attributes.tasks.counter_apply_purchase", acks_late=True)
def counter_apply_purchase(purchase_id: int) -> int:
    """For callers that cannot apply in their own transaction (idempotent, so retries are safe)."""
    from attributes.services.counters import counter_apply_purchase as apply

    return apply(purchase_id=purchase_id).sign


@shared_task(name="attributes.tasks.periodic_counters_roll")
def periodic_counters_roll() -> dict[str, int]:
    """Beat, hourly: rolling counters forget the days that left their window (a no-op until the
    day changes in the counter's time zone); calendar counters drop periods past keep_periods."""
    from attributes.services.counters import counters_roll_all

    return counters_roll_all()
