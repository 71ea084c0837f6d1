from __future__ import annotations

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_KEY = "health:beat-heartbeat"


@shared_task(name="core.tasks.ping")
def ping() -> str:
    """Proves the worker runs tasks (used by the health check and the wiring test)."""
    return "pong"


@shared_task(name="core.tasks.periodic_heartbeat")
def periodic_heartbeat() -> str:
    """Beat sends this every 30 s; the health page reads when a worker last ran it."""
    stamp = timezone.now().isoformat()
    cache.set(HEARTBEAT_KEY, stamp, timeout=600)
    return stamp


@shared_task(name="core.tasks.import_run", acks_late=True)
def import_run(job_id: int) -> str:
    from core.imports import import_job_run

    job = import_job_run(job_id=job_id)
    return f"{job.state}: {job.rows_ok} ok, {job.rows_failed} failed"
