"""Tasks for the ledger: activation, expiry, expiring-soon events, expired holds. Thin: they call
the set-based services, which work in chunks with a transaction each. Scheduled in
settings.CELERY_BEAT_SCHEDULE; the `periodic_` names route them to the periodic queue. Batch
adjustments run as core.tasks.import_run (the importer `crm.adjustments`)."""
from __future__ import annotations

from celery import shared_task
from django.utils import timezone

__all__ = ["periodic_activate_lots", "periodic_expire_lots", "periodic_notify_expiring", "periodic_release_holds"]


@shared_task(name="crm.tasks.periodic_activate_lots")
def periodic_activate_lots() -> str:
    from crm.services.ledger_periodic import ledger_activate_due

    run = ledger_activate_due(now=timezone.now())
    return f"activated {run.rows} lots, {run.points} points"


@shared_task(name="crm.tasks.periodic_expire_lots")
def periodic_expire_lots() -> str:
    """Activation first, so a lot due for both is activated and then expired in the same run."""
    from crm.services.ledger_periodic import ledger_activate_due, ledger_expire_due

    now = timezone.now()
    ledger_activate_due(now=now)
    run = ledger_expire_due(now=now)
    return f"expired {run.rows} lots, {run.points} points; {len(run.postponed_accounts)} accounts postponed (open holds)"


@shared_task(name="crm.tasks.periodic_notify_expiring")
def periodic_notify_expiring() -> str:
    from crm.services.ledger_periodic import ledger_notify_expiring

    return f"{ledger_notify_expiring(now=timezone.now())} expiring-soon events"


@shared_task(name="crm.tasks.periodic_release_holds")
def periodic_release_holds() -> str:
    from crm.services.ledger_periodic import ledger_release_expired_holds

    run = ledger_release_expired_holds(now=timezone.now())
    return f"released {run.rows} holds, {run.points} points"
