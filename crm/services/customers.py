"""Customer profile: create, update, register, block and unblock. Merge is in crm.services.merge.

States: anonymous (a card only) -> registered -> blocked (and back); merged is terminal.
Registration activates the customer's not-activated cards (an anonymous card earns but cannot
spend until its holder registers) and emits `customer_registered` for campaigns.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalogue.models import Store, validate_timezone
from core.actors import Actor
from core.errors import Conflict, DomainError
from core.services import audit_bulk, audit_record, event_emit, snapshot
from crm.identifiers import email_normalize, phone_normalize
from crm.models import Card, Customer
from crm.services.accounts import account_open
from crm.services.common import customer_lock_usable
from crm.services.notifiers import notifier_add

# Profile fields an operator may set; the customer app may set the same minus external_uid.
PROFILE_FIELDS = ("first_name", "last_name", "middle_name", "gender", "birth_date", "timezone", "external_uid")
SELF_SERVICE_FIELDS = ("first_name", "last_name", "middle_name", "gender", "birth_date", "timezone")
EARLIEST_BIRTH = dt.date(1900, 1, 1)


def customer_profile_clean(changes: dict[str, Any]) -> dict[str, Any]:
    """Validate profile values; raise DomainError naming the first bad field."""
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("first_name", "last_name", "middle_name"):
            value = (value or "").strip()
            if len(value) > 100:
                raise DomainError("name_too_long", "At most 100 characters.", field=name)
        elif name == "gender":
            value = value or ""
            if value not in Customer.Gender.values:
                raise DomainError("gender_invalid", "Gender must be 'male', 'female' or empty.", field=name)
        elif name == "birth_date":
            if value is not None:
                if isinstance(value, str):
                    try:
                        value = dt.date.fromisoformat(value)
                    except ValueError as exc:
                        raise DomainError("birth_date_invalid", "Use YYYY-MM-DD.", field=name) from exc
                if not EARLIEST_BIRTH <= value <= timezone.localdate():
                    raise DomainError("birth_date_invalid", "Birth date must be between 1900 and today.", field=name)
        elif name == "timezone":
            value = value or "UTC"
            try:
                validate_timezone(value)
            except ValidationError as exc:
                raise DomainError("timezone_invalid", exc.messages[0], field=name) from exc
        elif name == "external_uid":
            value = (value or "").strip() or None
            if value is not None and len(value) > 64:
                raise DomainError("external_uid_invalid", "At most 64 characters.", field=name)
        else:
            raise DomainError("field_unknown", f"'{name}' cannot be changed here.", field=name)
        clean[name] = value
    return clean


def _activate_cards(*, customer: Customer, actor: Actor) -> int:
    """Set-based: every not-activated card of the customer becomes active, one audit row each."""
    now = timezone.now()
    ids = list(
        Card.objects.filter(customer=customer, state=Card.State.NOT_ACTIVATED).select_for_update().values_list("id", flat=True)
    )
    if ids:
        Card.objects.filter(id__in=ids).update(state=Card.State.ACTIVE, activated_at=now, updated_at=now)
        audit_bulk(actor=actor, action="card.activate", object_type="crm.card",
                   rows=[(str(pk), {"state": Card.State.ACTIVE, "reason": "customer registered"}) for pk in ids])
    return len(ids)


@transaction.atomic
def customer_create(
    *,
    actor: Actor,
    channel: str,
    phone: str | None = None,
    email: str | None = None,
    registered: bool = True,
    registration_store: Store | None = None,
    **profile: Any,
) -> tuple[Customer, bool]:
    """Create a customer with an account in the default currency; returns (customer, created).

    Safe to retry when `external_uid` is given: a customer with that uid is returned as it is.
    Phone and email are added unverified (they are verified with a code).
    """
    if channel not in Customer.Channel.values:
        raise DomainError("channel_invalid", f"Unknown registration channel '{channel}'.", field="registration_channel")
    clean = customer_profile_clean(profile)
    # Normalise before any write, so a bad phone changes nothing and names its field.
    phone = phone_normalize(phone, field="phone") if phone else None
    email = email_normalize(email, field="email") if email else None
    uid = clean.get("external_uid")
    if uid:
        existing = Customer.objects.filter(external_uid=uid).first()
        if existing is not None:
            return existing, False
    now = timezone.now()
    customer = Customer(
        **clean,
        state=Customer.State.REGISTERED if registered else Customer.State.ANONYMOUS,
        registered_at=now if registered else None,
        registration_channel=channel,
        registration_store=registration_store,
    )
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:
        existing = Customer.objects.filter(external_uid=uid).first() if uid else None
        if existing is None:
            raise
        return existing, False  # a concurrent retry with the same uid won
    audit_record(actor=actor, action="customer.create", target=customer, after=snapshot(customer))
    account_open(customer=customer, actor=actor)
    if phone:
        notifier_add(customer=customer, kind="phone", value=phone, actor=actor)
    if email:
        notifier_add(customer=customer, kind="email", value=email, actor=actor)
    if registered:
        event_emit(kind="customer_registered", customer_id=customer.pk, payload={"channel": channel})
    return customer, True


@transaction.atomic
def customer_update(*, customer: Customer, actor: Actor, allowed: tuple[str, ...] = PROFILE_FIELDS,
                    **changes: Any) -> Customer:
    """Change profile fields; only those in `allowed` (the customer app passes SELF_SERVICE_FIELDS)."""
    refused = sorted(set(changes) - set(allowed))
    if refused:
        raise DomainError("field_not_allowed", f"'{refused[0]}' cannot be changed here.", field=refused[0])
    clean = customer_profile_clean(changes)
    customer = customer_lock_usable(customer.pk)
    before = snapshot(customer, clean.keys())
    for name, value in clean.items():
        setattr(customer, name, value)
    try:
        with transaction.atomic():
            customer.save(update_fields=[*clean.keys(), "updated_at"])
    except IntegrityError as exc:
        raise Conflict("external_uid_taken", "Another customer has this external UID.", field="external_uid") from exc
    after = snapshot(customer, clean.keys())
    if before != after:
        audit_record(actor=actor, action="customer.update", target=customer, before=before, after=after)
    return customer


@transaction.atomic
def customer_register(*, customer: Customer, actor: Actor, channel: str, store: Store | None = None) -> Customer:
    """An anonymous customer becomes registered; their cards become active. Idempotent."""
    customer = customer_lock_usable(customer.pk)
    if customer.state == Customer.State.BLOCKED:
        raise DomainError("customer_blocked", "A blocked customer cannot register.", status=409)
    if customer.state == Customer.State.REGISTERED:
        return customer
    before = snapshot(customer, ["state", "registered_at", "registration_channel"])
    customer.state = Customer.State.REGISTERED
    customer.registered_at = timezone.now()
    customer.registration_channel = channel
    customer.registration_store = store or customer.registration_store
    customer.save(update_fields=["state", "registered_at", "registration_channel", "registration_store", "updated_at"])
    audit_record(actor=actor, action="customer.register", target=customer, before=before,
                 after=snapshot(customer, ["state", "registered_at", "registration_channel"]))
    _activate_cards(customer=customer, actor=actor)
    event_emit(kind="customer_registered", customer_id=customer.pk, payload={"channel": channel})
    return customer


@transaction.atomic
def customer_block(*, customer: Customer, reason: str, actor: Actor) -> Customer:
    """A blocked customer cannot log in; processing refuses them. Their cards keep their states."""
    if not (reason or "").strip():
        raise DomainError("reason_required", "Say why the customer is blocked.", field="reason")
    customer = customer_lock_usable(customer.pk)
    if customer.state == Customer.State.BLOCKED:
        return customer
    before = snapshot(customer, ["state", "blocked_reason"])
    customer.state = Customer.State.BLOCKED
    customer.blocked_reason = reason.strip()[:300]
    customer.save(update_fields=["state", "blocked_reason", "updated_at"])
    audit_record(actor=actor, action="customer.block", target=customer, before=before,
                 after=snapshot(customer, ["state", "blocked_reason"]), comment=reason)
    return customer


@transaction.atomic
def customer_unblock(*, customer: Customer, reason: str, actor: Actor) -> Customer:
    """Back to registered (or anonymous when the customer never registered)."""
    customer = customer_lock_usable(customer.pk)
    if customer.state != Customer.State.BLOCKED:
        return customer
    before = snapshot(customer, ["state", "blocked_reason"])
    customer.state = Customer.State.REGISTERED if customer.registered_at else Customer.State.ANONYMOUS
    customer.blocked_reason = ""
    customer.save(update_fields=["state", "blocked_reason", "updated_at"])
    audit_record(actor=actor, action="customer.unblock", target=customer, before=before,
                 after=snapshot(customer, ["state", "blocked_reason"]), comment=reason)
    return customer
