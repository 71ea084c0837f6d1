from __future__ import annotations

import hmac

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from catalogue.models import Till
from catalogue.services import hash_secret
from core.actors import TillPrincipal


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
        till = (
            Till.objects.select_related("store")
            .only("id", "code", "secret_hash", "is_blocked", "store__id", "store__code", "store__partner_id", "store__is_active",
                  "store__timezone")
            .filter(api_key=key)
            .first()
        )
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
