"""Tasks for customers, notifiers and cards."""
from __future__ import annotations

from celery import shared_task

from core.actors import Actor


@shared_task(name="crm.tasks.periodic_verification_codes_purge")
def periodic_verification_codes_purge() -> int:
    """Daily: one-time codes older than a day go (beat schedule: settings.CELERY_BEAT_SCHEDULE)."""
    from crm.services.otp import verification_codes_purge

    return verification_codes_purge(actor=Actor.system("beat"))


__all__ = ["periodic_verification_codes_purge"]
