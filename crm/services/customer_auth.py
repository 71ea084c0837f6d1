"""The customer app's login: phone -> one-time code -> CustomerToken. Login and registration are one flow.

- `customer_login_request` answers the same whether or not the phone is known: registration
  never reveals that a phone is taken.
- `customer_login_confirm`, once the code proves the caller owns the phone:
    * the customer with that phone verified logs in;
    * else, when exactly one customer has it unverified (typed by an agent, or given at a till),
      that customer logs in and the phone becomes verified;
    * else a new registered customer is created (channel "app") with the phone verified.
  It returns a fresh token; only its SHA-256 is stored (crm.api.authentication.hash_token).
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from core.services import audit_record
from crm.api.authentication import hash_token
from crm.identifiers import phone_normalize
from crm.models import Customer, CustomerToken, Notifier, VerificationCode
from crm.services.customers import customer_create, customer_register
from crm.services.notifiers import notifier_add, notifier_mark_verified
from crm.services.otp import raise_if, verification_code_check, verification_code_issue

DEFAULT_TOKEN_DAYS = 90


def token_lifetime() -> dt.timedelta:
    return dt.timedelta(days=int(getattr(settings, "LOYALTY", {}).get("CUSTOMER_TOKEN_DAYS", DEFAULT_TOKEN_DAYS)))


def customer_login_request(*, phone: str, actor: Actor, ip: str | None = None) -> VerificationCode:
    """Send a login code to the phone (known or not). Raises phone_invalid, ip_rate_limited, code_rate_limited."""
    value = phone_normalize(phone, field="phone")
    return verification_code_issue(kind=Notifier.Kind.PHONE, value=value, purpose=VerificationCode.Purpose.LOGIN,
                                   actor=actor, ip=ip)


def _follow_merges(customer: Customer) -> Customer:
    seen = 0
    while customer.state == Customer.State.MERGED and customer.merged_into_id and seen < 10:
        customer, seen = Customer.objects.get(pk=customer.merged_into_id), seen + 1
    return customer


def _holder(value: str, actor: Actor) -> Customer:
    verified = Notifier.objects.select_related("customer").filter(kind="phone", value=value, verified=True).first()
    if verified is not None:
        return _follow_merges(verified.customer)
    holders = list(
        Notifier.objects.filter(kind="phone", value=value)
        .exclude(customer__state=Customer.State.MERGED)
        .select_related("customer")[:2]
    )
    if len(holders) == 1:
        notifier_mark_verified(notifier=holders[0])
        audit_record(actor=actor, action="notifier.verify", target=holders[0], after={"verified": True},
                     comment="verified by app login")
        customer = holders[0].customer
        if customer.state == Customer.State.ANONYMOUS:
            customer = customer_register(customer=customer, actor=actor, channel=Customer.Channel.APP)
        return customer
    customer, _ = customer_create(actor=actor, channel=Customer.Channel.APP)
    notifier_add(customer=customer, kind="phone", value=value, actor=actor, verified=True)
    return customer


@dataclass(frozen=True)
class Login:
    customer: Customer
    token: str  # shown once; only its hash is kept
    expires_at: dt.datetime


def customer_login_confirm(*, phone: str, code: str, actor: Actor, device: str = "") -> Login:
    """Check the code and log in (or register). A wrong code's attempt is counted (committed)."""
    value = phone_normalize(phone, field="phone")
    failure: DomainError | None = None
    with transaction.atomic():
        failure = verification_code_check(kind="phone", value=value, purpose=VerificationCode.Purpose.LOGIN,
                                          code=code, actor=actor)
        if failure is None:
            customer = _holder(value, actor)
            if customer.state == Customer.State.BLOCKED:
                raise DomainError("customer_blocked", "This account is blocked; call the support line.", status=403)
            token = secrets.token_urlsafe(32)
            row = CustomerToken.objects.create(
                customer=customer, token_hash=hash_token(token), device=(device or "")[:200],
                expires_at=timezone.now() + token_lifetime(),
            )
            who = Actor(kind="customer", id=str(customer.pk), label=f"customer #{customer.pk}")
            audit_record(actor=who, action="customer.login", target=customer, after={"token_id": row.pk, "device": row.device})
    raise_if(failure)
    return Login(customer=customer, token=token, expires_at=row.expires_at)


@transaction.atomic
def customer_logout(*, token: CustomerToken, actor: Actor) -> None:
    CustomerToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    audit_record(actor=actor, action="customer.logout", object_type="crm.customer", object_id=token.customer_id,
                 after={"token_id": token.pk})
