"""Celery tasks of segments: thin wrappers that load by id and call a service.

Beat (settings.CELERY_BEAT_SCHEDULE): purchase totals nightly, RFM after them, and every dynamic
segment with auto refresh once an hour (one task per segment, so segments refresh in parallel on
several workers and one slow segment does not hold the others).
"""
from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from core.actors import Actor
from core.errors import DomainError

logger = logging.getLogger(__name__)


@shared_task(name="segments.tasks.segment_refresh", acks_late=True)
def segment_refresh(segment_id: int, actor_label: str = "celery") -> dict:
    from segments.services import segment_refresh as refresh

    try:
        done = refresh(segment_id=segment_id, actor=Actor.system(actor_label))
    except DomainError as exc:  # a definition gone wrong (e.g. a product group deleted): recorded on the segment
        logger.warning("segment %s not refreshed: %s", segment_id, exc.message)
        return {"segment": segment_id, "error": exc.code}
    return {"segment": segment_id, "joined": done.joined, "left": done.left, "members": done.members}


@shared_task(name="segments.tasks.periodic_refresh_all")
def periodic_refresh_all() -> int:
    """Hourly: enqueue a refresh of every active dynamic segment that refreshes automatically."""
    from segments.models import Segment

    ids = list(Segment.objects.filter(kind=Segment.Kind.DYNAMIC, is_active=True, auto_refresh=True)
               .order_by("id").values_list("id", flat=True))
    for segment_id in ids:
        segment_refresh.delay(segment_id, "beat")
    return len(ids)


@shared_task(name="segments.tasks.rfm_recompute", acks_late=True)
def rfm_recompute(actor_label: str = "celery") -> int:
    from segments.services import rfm_recompute as recompute

    return recompute(actor=Actor.system(actor_label))


@shared_task(name="segments.tasks.periodic_rfm_recompute")
def periodic_rfm_recompute() -> int:
    """Nightly, after the purchase totals."""
    from segments.services import rfm_recompute as recompute

    return recompute(actor=Actor.system("beat"))


@shared_task(name="segments.tasks.periodic_customer_stats_rebuild")
def periodic_customer_stats_rebuild() -> int:
    """Nightly: everyone's purchase totals (windows slide by a day)."""
    from segments.services import customer_stats_rebuild

    return customer_stats_rebuild(actor=Actor.system("beat"))


@shared_task(name="segments.tasks.customer_stats_refresh", acks_late=True, autoretry_for=(OperationalError,),
             retry_backoff=True, max_retries=5)
def customer_stats_refresh(customer_ids: list[int]) -> int:
    """The purchase hook, asynchronous: processing may enqueue this instead of calling the service.
    Retried on a deadlock with the nightly rebuild (the refresh is idempotent)."""
    from segments.services import customer_stats_refresh as refresh

    return refresh(customer_ids=customer_ids)


__all__ = ["customer_stats_refresh", "periodic_customer_stats_rebuild", "periodic_refresh_all",
           "periodic_rfm_recompute", "rfm_recompute", "segment_refresh"]
