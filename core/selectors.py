from __future__ import annotations

from django.db.models import QuerySet

from core.models import AuditEvent


def audit_events_for(*, object_type: str, object_id: str | int, limit: int = 200) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(object_type=object_type, object_id=str(object_id)).order_by("-created_at", "-id")[
        :limit
    ]
