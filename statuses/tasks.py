"""Thin Celery wrappers: load by id, call a service."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="statuses.tasks.periodic_recalculate_due")
def periodic_recalculate_due() -> list[int]:
    """Beat, every 10 minutes: start the scheduled runs that have come and expired grace periods."""
    from statuses.services import status_recalculations_start_due

    return status_recalculations_start_due()


@shared_task(name="statuses.tasks.status_recalculate_chunk", bind=True, acks_late=True, max_retries=3,
             default_retry_delay=30)
def status_recalculate_chunk(self, run_id: int, first_id: int, last_id: int) -> int:
    """One range of customers of a run; idempotent, so a redelivered or retried task is harmless."""
    from django.db import OperationalError

    from statuses.services import status_recalculate_chunk as apply
    from statuses.services import status_recalculate_chunk_failed

    try:
        outcome = apply(run_id=run_id, first_id=first_id, last_id=last_id)
    except OperationalError as exc:  # deadlock, lost connection: try again later
        if self.request.retries >= self.max_retries:
            status_recalculate_chunk_failed(run_id=run_id, error=str(exc))
            raise
        raise self.retry(exc=exc) from exc
    except Exception as exc:
        status_recalculate_chunk_failed(run_id=run_id, error=repr(exc))
        raise
    return outcome.changes if outcome else 0


@shared_task(name="statuses.tasks.status_recalculate", acks_late=True)
def status_recalculate(system_id: int, mode: str = "upgrade") -> int:
    """Start a run of one system (admin action "recalculate now"); returns the run id."""
    from core.actors import Actor
    from statuses.services import status_recalculation_start

    return status_recalculation_start(system_id=system_id, mode=mode, actor=Actor.system("status recalculation")).pk


# ignore_result: nobody reads the count, and with the Redis result backend every .delay() would
# also subscribe to the result's channel: a round trip more on each till confirm that enqueues it.
@shared_task(name="statuses.tasks.status_upgrade", acks_late=True, ignore_result=True)
def status_upgrade(customer_id: int) -> int:
    """For callers that cannot upgrade in their own transaction: after commit, by task."""
    from statuses.services import status_upgrade_for_customer

    return len(status_upgrade_for_customer(customer_id=customer_id))
