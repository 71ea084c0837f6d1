from __future__ import annotations

import hashlib
import secrets

from django.db import transaction

from catalogue.models import Store, Till
from core.actors import Actor
from core.services import audit_record, snapshot


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def till_create(*, store: Store, code: str, name: str = "", actor: Actor) -> tuple[Till, str]:
    """Create a till and return it with its secret; the secret is shown once and never stored."""
    secret = secrets.token_urlsafe(32)
    till = Till.objects.create(
        store=store, code=code, name=name, api_key=secrets.token_hex(16), secret_hash=hash_secret(secret)
    )
    audit_record(actor=actor, action="till.create", target=till, after=snapshot(till))
    return till, secret


@transaction.atomic
def till_rotate_secret(*, till: Till, actor: Actor) -> str:
    secret = secrets.token_urlsafe(32)
    Till.objects.filter(pk=till.pk).update(secret_hash=hash_secret(secret))
    audit_record(actor=actor, action="till.rotate_secret", target=till)
    return secret


@transaction.atomic
def till_set_blocked(*, till: Till, blocked: bool, actor: Actor, reason: str = "") -> Till:
    before = snapshot(till, ["is_blocked"])
    till.is_blocked = blocked
    till.save(update_fields=["is_blocked"])
    audit_record(actor=actor, action="till.block" if blocked else "till.unblock", target=till,
                 before=before, after=snapshot(till, ["is_blocked"]), comment=reason)
    return till
