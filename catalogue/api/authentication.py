from __future__ import annotations

import hmac

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from catalogue.models import Store, Till
from catalogue.services import hash_secret
from core.actors import TillPrincipal
from core.db import prepared_cursor
from core.rows import cache_related, instance_from


_TILL_SQL = (
    "SELECT t.id, t.code, t.secret_hash, t.is_blocked, t.store_id, s.id, s.code, s.partner_id, s.is_active, s.timezone "
    "FROM catalogue_till t JOIN catalogue_store s ON s.id = t.store_id WHERE t.api_key = %s"
)


def till_by_key(key: str) -> Till | None:
    """The till and its store (only what authentication and the till API read; the rest deferred).
    Raw SQL: every till request authenticates, and the ORM's select_related/only compilation cost
    more CPU than the query itself."""
    with prepared_cursor() as cursor:
        cursor.execute(_TILL_SQL, [key])
        row = cursor.fetchone()
    if row is None:
        return None
    till = instance_from(Till, dict(zip(("id", "code", "secret_hash", "is_blocked", "store_id"), row[:5])))
    cache_related(till, "store", instance_from(Store, dict(zip(("id", "code", "partner_id", "is_active", "timezone"),
                                                               row[5:]))))
    return till


class TillAuthentication(authentication.BaseAuthentication):
    """`Authorization: Till <api_key>:<secret>`, credentials made per till in the admin."""

    keyword = "Till"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(self.keyword + " "):
            return None
        key, _, secret = header[len(self.keyword) + 1 :].strip().partition(":")
        if not key or not secret:
            raise exceptions.AuthenticationFailed("Till credentials must be 'Till <api_key>:<secret>'.")
        till = till_by_key(key)
        if till is None or not hmac.compare_digest(till.secret_hash, hash_secret(secret)):
            raise exceptions.AuthenticationFailed("Unknown till or wrong secret.", code="till_not_found")
        if till.is_blocked or not till.store.is_active:
            raise exceptions.AuthenticationFailed("This till is blocked.", code="till_blocked")
        principal = TillPrincipal(
            till_id=till.pk, store_id=till.store_id, partner_id=till.store.partner_id, label=f"till {till.store.code}/{till.code}"
        )
        return principal, till

    def authenticate_header(self, request) -> str:
        return self.keyword


class TillAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "catalogue.api.authentication.TillAuthentication"
    name = "tillAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Till <api_key>:<secret>` (created per till in the admin)"}
