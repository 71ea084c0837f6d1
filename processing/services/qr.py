"""The customer side of QR identification: a short-lived one-time code shown in the app."""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from core.actors import Actor
from core.services import audit_record
from processing.selectors import QR_PREFIX, qr_hash

QR_TTL_SECONDS = 300


def qr_issue(*, customer_id: int, actor: Actor) -> dict[str, Any]:
    """A new code for the member's app: valid QR_TTL_SECONDS, used up by the first calculate that
    presents it. Only its SHA-256 is kept (in Redis, with the TTL)."""
    token = secrets.token_urlsafe(24)
    cache.set(QR_PREFIX + qr_hash(token), customer_id, QR_TTL_SECONDS)
    expires_at = timezone.now() + dt.timedelta(seconds=QR_TTL_SECONDS)
    audit_record(actor=actor, action="processing.qr_issue", object_type="crm.customer", object_id=customer_id,
                 after={"expires_at": expires_at})
    return {"token": token, "expires_at": expires_at, "ttl_seconds": QR_TTL_SECONDS}
