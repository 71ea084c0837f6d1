"""Whether any status system is active, cached per process (the till's confirm asks it per cheque).

A confirm enqueues `statuses.tasks.status_upgrade` after commit; with no active system that task
would only read the (empty) list of systems, so the confirm skips the enqueue (a Celery publish: a
Redis round trip and about 1 ms of CPU). The answer is kept CHECK_SECONDS in each process; a
change to a StatusSystem clears it at once in the process that saved it (signals below, also
after commit), so another process sees an activation within CHECK_SECONDS.
"""
from __future__ import annotations

import time

from django.db import transaction
from django.db.models.signals import post_delete, post_save

CHECK_SECONDS = 1.0
_cached: dict[str, float | bool] = {"active": False, "checked": 0.0}


def status_systems_active() -> bool:
    """True when at least one status system is active (one query at most once per CHECK_SECONDS)."""
    now = time.monotonic()
    if now - float(_cached["checked"]) >= CHECK_SECONDS:
        from statuses.models import StatusSystem

        _cached["active"] = StatusSystem.objects.filter(is_active=True).exists()
        _cached["checked"] = now
    return bool(_cached["active"])


def forget(*args: object, **kwargs: object) -> None:
    _cached["checked"] = 0.0


def _changed(*args: object, **kwargs: object) -> None:
    forget()
    transaction.on_commit(forget)  # a read between the save and its commit may have cached the old rows


def connect() -> None:
    from statuses.models import StatusSystem

    post_save.connect(_changed, sender=StatusSystem, dispatch_uid="statuses.active.saved")
    post_delete.connect(_changed, sender=StatusSystem, dispatch_uid="statuses.active.deleted")
