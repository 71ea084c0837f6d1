"""Phones, emails and push tokens of a customer: add, verify by one-time code, change, remove.

Invariants:
- values are stored normalised (E.164 phones, lower-case emails: crm.identifiers);
- a verified phone or email belongs to one customer only. The services check first, to answer
  clearly, and the partial unique index `notifier_verified_unique` is the last wall against two
  verifications racing: its IntegrityError becomes DomainError("notifier_taken", 409);
- a customer has at most one primary notifier per kind that we message first.
"""
from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import Conflict, DomainError
from core.services import audit_record, snapshot
from crm.identifiers import notifier_value_normalize
from crm.models import Customer, Notifier, VerificationCode
from crm.services.common import customer_lock_usable
from crm.services.otp import raise_if, verification_code_check, verification_code_issue

VERIFIABLE = (Notifier.Kind.PHONE, Notifier.Kind.EMAIL)


def _taken_error(kind: str) -> Conflict:
    what = "phone number" if kind == Notifier.Kind.PHONE else "email address"
    return Conflict("notifier_taken", f"This {what} is already verified by another customer.", field="value")


def notifier_mark_verified(*, notifier: Notifier) -> Notifier:
    """Mark verified inside the caller's transaction. Raises notifier_taken when another customer has it."""
    if (
        Notifier.objects.filter(kind=notifier.kind, value=notifier.value, verified=True)
        .exclude(pk=notifier.pk)
        .exists()
    ):
        raise _taken_error(notifier.kind)
    notifier.verified = True
    notifier.verified_at = timezone.now()
    try:
        # A savepoint, so the caller's transaction survives the refused write and can raise cleanly.
        with transaction.atomic():
            Notifier.objects.filter(pk=notifier.pk).update(verified=True, verified_at=notifier.verified_at)
    except IntegrityError as exc:
        # Another transaction verified the same value between our check and our write.
        raise _taken_error(notifier.kind) from exc
    return notifier


def _make_primary(notifier: Notifier) -> None:
    Notifier.objects.filter(customer_id=notifier.customer_id, kind=notifier.kind).exclude(pk=notifier.pk).update(
        is_primary=False
    )
    if not notifier.is_primary:
        notifier.is_primary = True
        Notifier.objects.filter(pk=notifier.pk).update(is_primary=True)


@transaction.atomic
def notifier_add(
    *, customer: Customer, kind: str, value: str, actor: Actor, primary: bool | None = None, verified: bool = False
) -> Notifier:
    """Add a contact (normalised). Idempotent: the same value twice returns the existing notifier.

    `primary` None makes it primary only when the customer has no notifier of this kind yet.
    `verified=True` is for trusted sources (imports, demo); people verify with a code.
    """
    value = notifier_value_normalize(kind=kind, value=value)
    customer = customer_lock_usable(customer.pk)
    notifier = Notifier.objects.filter(customer=customer, kind=kind, value=value).first()
    created = notifier is None
    if created:
        has_kind = Notifier.objects.filter(customer=customer, kind=kind).exists()
        notifier = Notifier.objects.create(
            customer=customer, kind=kind, value=value, is_primary=not has_kind if primary is None else primary
        )
    before = {"is_primary": notifier.is_primary, "verified": notifier.verified}
    if primary:
        _make_primary(notifier)
    if verified and not notifier.verified:
        notifier_mark_verified(notifier=notifier)
    after = {"is_primary": notifier.is_primary, "verified": notifier.verified}
    if created:
        audit_record(actor=actor, action="notifier.add", target=notifier, after=snapshot(notifier))
    elif before != after:
        audit_record(actor=actor, action="notifier.change", target=notifier, before=before, after=after)
    return notifier


@transaction.atomic
def notifier_remove(*, notifier: Notifier, actor: Actor, reason: str = "") -> None:
    customer_lock_usable(notifier.customer_id)
    before = snapshot(notifier)
    was_primary = notifier.is_primary
    Notifier.objects.filter(pk=notifier.pk).delete()
    if was_primary:
        # Keep one primary per kind: the oldest remaining one, verified first.
        successor = (
            Notifier.objects.filter(customer_id=notifier.customer_id, kind=notifier.kind)
            .order_by("-verified", "created_at", "id")
            .first()
        )
        if successor is not None:
            _make_primary(successor)
    audit_record(actor=actor, action="notifier.remove", target=notifier, object_id=before["id"], before=before,
                 comment=reason)


@transaction.atomic
def notifier_verify_request(*, notifier: Notifier, actor: Actor, ip: str | None = None) -> VerificationCode:
    """Send a code to an unverified phone or email of the customer (operator or the customer).

    `ip`: the caller's address, counted by the per-IP limit (ip_rate_limited)."""
    if notifier.kind not in VERIFIABLE:
        raise DomainError("notifier_not_verifiable", "Only phones and emails are verified.", field="kind")
    customer = customer_lock_usable(notifier.customer_id)
    if notifier.verified:
        raise Conflict("notifier_already_verified", "This contact is already verified.", field="value")
    if Notifier.objects.filter(kind=notifier.kind, value=notifier.value, verified=True).exists():
        # Operators may see this (they can search by the value anyway); it saves a useless SMS.
        raise _taken_error(notifier.kind)
    return verification_code_issue(
        kind=notifier.kind, value=notifier.value, purpose=VerificationCode.Purpose.VERIFY,
        customer=customer, actor=actor, ip=ip,
    )


def notifier_verify_confirm(*, notifier: Notifier, code: str, actor: Actor) -> Notifier:
    """Check the code and mark the notifier verified. A wrong code's attempt is counted (committed)."""
    failure: DomainError | None = None
    with transaction.atomic():
        customer = customer_lock_usable(notifier.customer_id)
        notifier = Notifier.objects.get(pk=notifier.pk)
        failure = verification_code_check(
            kind=notifier.kind, value=notifier.value, purpose=VerificationCode.Purpose.VERIFY,
            customer=customer, code=code, actor=actor,
        )
        if failure is None:
            if not notifier.verified:
                notifier_mark_verified(notifier=notifier)
            audit_record(actor=actor, action="notifier.verify", target=notifier, after={"verified": True})
    raise_if(failure)
    return notifier


@transaction.atomic
def notifier_change_request(
    *, customer: Customer, kind: str, value: str, actor: Actor, ip: str | None = None
) -> VerificationCode:
    """Send a code to a new phone or email the customer wants instead of the current one.

    It does not say whether another customer has verified the value: that is only told to whoever
    proves they own it (at confirm). `ip`: the caller's address, counted by the per-IP limit.
    """
    if kind not in VERIFIABLE:
        raise DomainError("notifier_not_verifiable", "Only a phone or an email can be changed this way.", field="kind")
    value = notifier_value_normalize(kind=kind, value=value)
    customer = customer_lock_usable(customer.pk)
    if Notifier.objects.filter(customer=customer, kind=kind, value=value, verified=True, is_primary=True).exists():
        raise Conflict("notifier_unchanged", "This is already the customer's verified contact.", field="value")
    return verification_code_issue(
        kind=kind, value=value, purpose=VerificationCode.Purpose.CHANGE, customer=customer, actor=actor, ip=ip
    )


def notifier_change_confirm(*, customer: Customer, kind: str, value: str, code: str, actor: Actor) -> Notifier:
    """Check the code; the new value becomes the verified primary contact and the old primary goes."""
    value = notifier_value_normalize(kind=kind, value=value)
    failure: DomainError | None = None
    with transaction.atomic():
        customer = customer_lock_usable(customer.pk)
        failure = verification_code_check(
            kind=kind, value=value, purpose=VerificationCode.Purpose.CHANGE, customer=customer, code=code, actor=actor
        )
        if failure is None:
            old = list(Notifier.objects.filter(customer=customer, kind=kind, is_primary=True).exclude(value=value))
            notifier, _ = Notifier.objects.get_or_create(customer=customer, kind=kind, value=value)
            if not notifier.verified:
                notifier_mark_verified(notifier=notifier)
            _make_primary(notifier)
            for previous in old:
                audit_record(actor=actor, action="notifier.remove", target=previous, before=snapshot(previous),
                             comment="replaced by a verified change")
                previous.delete()
            audit_record(actor=actor, action="notifier.change", target=notifier,
                         before={"value": old[0].value if old else None}, after={"value": value, "verified": True})
    raise_if(failure)
    return notifier
