from __future__ import annotations

import hashlib

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from core.actors import CustomerPrincipal
from crm.models import Customer, CustomerToken


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CustomerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Customer <token>`, the token issued at app login. It sees only its owner."""

    keyword = "Customer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(self.keyword + " "):
            return None
        token = header[len(self.keyword) + 1 :].strip()
        if not token:
            raise exceptions.AuthenticationFailed("Customer token missing.")
        row = (
            CustomerToken.objects.select_related("customer")
            .only("id", "expires_at", "revoked_at", "customer__id", "customer__state", "customer__first_name")
            .filter(token_hash=hash_token(token))
            .first()
        )
        if row is None or row.revoked_at is not None or row.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed("Token unknown, expired or revoked.", code="token_invalid")
        if row.customer.state in (Customer.State.BLOCKED, Customer.State.MERGED):
            raise exceptions.AuthenticationFailed("This customer cannot log in.", code="customer_blocked")
        return CustomerPrincipal(customer_id=row.customer_id, label=f"customer #{row.customer_id}"), row

    def authenticate_header(self, request) -> str:
        return self.keyword


class CustomerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "crm.api.authentication.CustomerTokenAuthentication"
    name = "customerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Customer <token>` (issued at app login)"}
