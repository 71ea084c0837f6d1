"""Cards: issue, bind, activate, block, unblock, replace.

States and what they allow (Card.can_accrue / can_redeem):
    not_activated  earns, cannot spend     (issued, or held by an anonymous customer)
    active         earns and spends        (bound to a registered customer, or activated by hand)
    blocked        neither                 (with a reason; unblock returns to active or not_activated)
    replaced       neither, terminal       (replaced_by names the successor; the accounts follow)

A bound card is linked to every account of its customer (crm.services.accounts), so binding,
merging and replacing never move points: they move links.
"""
from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import Conflict, DomainError
from core.services import audit_record, snapshot
from crm.identifiers import card_code_normalize
from crm.models import Card, CardCategory, CardGroup, Customer
from crm.services.accounts import card_accounts_copy, card_accounts_link
from crm.services.common import card_lock, customer_lock_usable

STATE_FIELDS = ["state", "state_reason", "customer_id", "activated_at", "replaced_by_id"]


def _codes(number: str, barcode: str | None, track: str | None) -> tuple[str, str | None, str | None]:
    return (
        card_code_normalize(number, field="number"),
        card_code_normalize(barcode, field="barcode", max_length=64) if barcode else None,
        card_code_normalize(track, field="track", max_length=128) if track else None,
    )


def _unique_conflict(number: str, barcode: str | None, track: str | None, exclude: int | None = None) -> None:
    """Name the field whose value another card already has (clearer than the IntegrityError)."""
    for field, value in (("number", number), ("barcode", barcode), ("track", track)):
        if value and Card.objects.filter(**{field: value}).exclude(pk=exclude).exists():
            raise Conflict("card_exists", f"Another card already has this {field}.", field=field)


@transaction.atomic
def card_issue(
    *,
    number: str,
    actor: Actor,
    barcode: str | None = None,
    track: str | None = None,
    kind: str = Card.Kind.PHYSICAL,
    category: CardCategory | None = None,
    group: CardGroup | None = None,
    customer: Customer | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[Card, bool]:
    """Issue a card (not activated); bind it when `customer` is given. Returns (card, created).

    Safe to retry: issuing a number that exists with the same barcode, track and holder returns
    the existing card; any difference is a conflict naming the field.
    """
    number, barcode, track = _codes(number, barcode, track)
    if kind not in Card.Kind.values:
        raise DomainError("card_kind_invalid", f"Unknown card kind '{kind}'.", field="kind")
    existing = Card.objects.filter(number=number).first()
    if existing is not None:
        same = (existing.barcode, existing.track) == (barcode, track) and (
            customer is None or existing.customer_id == customer.pk
        )
        if same:
            return existing, False
        raise Conflict("card_exists", "A card with this number already exists with other details.", field="number")
    _unique_conflict(number, barcode, track)
    card = Card(number=number, barcode=barcode, track=track, kind=kind, category=category, group=group,
                expires_at=expires_at, state=Card.State.NOT_ACTIVATED)
    try:
        with transaction.atomic():
            card.save()
    except IntegrityError as exc:  # a concurrent issue of the same codes
        raise Conflict("card_exists", "A card with this number, barcode or track already exists.", field="number") from exc
    audit_record(actor=actor, action="card.issue", target=card, after=snapshot(card))
    if customer is not None:
        card = card_bind(card=card, customer=customer, actor=actor)
    return card, True


def _refuse_dead(card: Card) -> None:
    if card.state == Card.State.REPLACED:
        raise Conflict("card_replaced", f"Card {card.number} was replaced by another card.", field="card")


@transaction.atomic
def card_bind(*, card: Card, customer: Customer, actor: Actor) -> Card:
    """Give a card to a customer and link it to their accounts.

    - an unbound card is simply bound;
    - a card held by an anonymous customer brings that customer along: they are merged into
      `customer` (their points and history follow);
    - a card of another known customer is refused (merge the two customers instead).
    The card becomes active when the customer is registered.
    """
    card = card_lock(card.pk)
    _refuse_dead(card)
    customer = customer_lock_usable(customer.pk, field="customer")
    if card.customer_id == customer.pk:
        return card
    if card.customer_id is not None:
        holder = Customer.objects.get(pk=card.customer_id)
        if holder.state != Customer.State.ANONYMOUS:
            raise Conflict("card_bound_to_other", f"Card {card.number} belongs to another customer.", field="card")
        from crm.services.merge import customer_merge  # merge binds cards itself; imported late to avoid a cycle

        customer_merge(source=holder, target=customer, actor=actor, comment=f"card {card.number} bound")
        return Card.objects.get(pk=card.pk)
    before = snapshot(card, STATE_FIELDS)
    card.customer = customer
    fields = ["customer", "updated_at"]
    if customer.state == Customer.State.REGISTERED and card.state == Card.State.NOT_ACTIVATED:
        card.state, card.activated_at = Card.State.ACTIVE, timezone.now()
        fields += ["state", "activated_at"]
    card.save(update_fields=fields)
    audit_record(actor=actor, action="card.bind", target=card, before=before, after=snapshot(card, STATE_FIELDS))
    card_accounts_link(card=card, actor=actor)
    return card


@transaction.atomic
def card_customer_ensure(*, card: Card, actor: Actor, channel: str = Customer.Channel.TILL) -> Customer:
    """The customer behind a card; an unbound card used for the first time gets an anonymous one.

    Called by processing when a card is shown at a till. Concurrent calls create one customer: the
    card row is locked and re-read.
    """
    card = card_lock(card.pk)
    if card.customer_id is not None:
        return Customer.objects.get(pk=card.customer_id)
    _refuse_dead(card)
    customer = Customer.objects.create(state=Customer.State.ANONYMOUS, registration_channel=channel)
    audit_record(actor=actor, action="customer.create", target=customer, after=snapshot(customer),
                 comment=f"anonymous holder of card {card.number}")
    card_bind(card=card, customer=customer, actor=actor)
    return customer


@transaction.atomic
def card_activate(*, card: Card, actor: Actor, reason: str = "") -> Card:
    card = card_lock(card.pk)
    _refuse_dead(card)
    if card.state == Card.State.BLOCKED:
        raise Conflict("card_blocked", "Unblock the card first.", field="card")
    if card.state == Card.State.ACTIVE:
        return card
    before = snapshot(card, STATE_FIELDS)
    card.state, card.activated_at = Card.State.ACTIVE, timezone.now()
    card.save(update_fields=["state", "activated_at", "updated_at"])
    audit_record(actor=actor, action="card.activate", target=card, before=before,
                 after=snapshot(card, STATE_FIELDS), comment=reason)
    return card


@transaction.atomic
def card_block(*, card: Card, reason: str, actor: Actor) -> Card:
    """Block a card (lost, stolen, fraud): it neither earns nor spends until unblocked."""
    if not (reason or "").strip():
        raise DomainError("reason_required", "Say why the card is blocked.", field="reason")
    card = card_lock(card.pk)
    _refuse_dead(card)
    if card.state == Card.State.BLOCKED:
        return card
    before = snapshot(card, STATE_FIELDS)
    card.state, card.state_reason = Card.State.BLOCKED, reason.strip()[:300]
    card.save(update_fields=["state", "state_reason", "updated_at"])
    audit_record(actor=actor, action="card.block", target=card, before=before,
                 after=snapshot(card, STATE_FIELDS), comment=reason)
    return card


@transaction.atomic
def card_unblock(*, card: Card, reason: str, actor: Actor) -> Card:
    """Back to active when the card was ever activated, else to not activated."""
    card = card_lock(card.pk)
    _refuse_dead(card)
    if card.state != Card.State.BLOCKED:
        return card
    before = snapshot(card, STATE_FIELDS)
    card.state = Card.State.ACTIVE if card.activated_at else Card.State.NOT_ACTIVATED
    card.state_reason = (reason or "").strip()[:300]
    card.save(update_fields=["state", "state_reason", "updated_at"])
    audit_record(actor=actor, action="card.unblock", target=card, before=before,
                 after=snapshot(card, STATE_FIELDS), comment=reason)
    return card


@transaction.atomic
def card_replace(
    *, card: Card, new_number: str, actor: Actor, reason: str = "",
    new_barcode: str | None = None, new_track: str | None = None,
) -> Card:
    """Replace a card by another (new or an unbound existing one); returns the new card.

    The old card becomes `replaced` with `replaced_by` set (history kept); the new card gets the old
    card's holder and the same account links, so the balance follows. The new card is active when
    the old one had been activated (a blocked, lost card is the usual reason to replace).
    """
    card = card_lock(card.pk)
    number, barcode, track = _codes(new_number, new_barcode, new_track)
    if card.state == Card.State.REPLACED and card.replaced_by is not None and card.replaced_by.number == number:
        return card.replaced_by  # a retry of the same replacement
    _refuse_dead(card)
    new = Card.objects.select_for_update().filter(number=number).first()
    if new is None:
        _unique_conflict(number, barcode, track)
        new = Card(number=number, barcode=barcode, track=track, kind=card.kind, category=card.category,
                   group=card.group, state=Card.State.NOT_ACTIVATED)
        new.save()
        audit_record(actor=actor, action="card.issue", target=new, after=snapshot(new), comment=f"replaces {card.number}")
    else:
        if new.pk == card.pk:
            raise DomainError("card_replace_self", "A card cannot replace itself.", field="new_number")
        if new.customer_id is not None and new.customer_id != card.customer_id:
            raise Conflict("card_bound_to_other", f"Card {new.number} belongs to another customer.", field="new_number")
        if new.state in (Card.State.BLOCKED, Card.State.REPLACED):
            raise Conflict("card_not_usable", f"Card {new.number} is {new.state}.", field="new_number")
    before_new = snapshot(new, STATE_FIELDS)
    new.customer_id = card.customer_id
    if card.activated_at and new.state == Card.State.NOT_ACTIVATED:
        new.state, new.activated_at = Card.State.ACTIVE, timezone.now()
    new.save(update_fields=["customer", "state", "activated_at", "updated_at"])
    card_accounts_copy(source=card, target=new, actor=actor)

    before_old = snapshot(card, STATE_FIELDS)
    card.state, card.replaced_by, card.state_reason = Card.State.REPLACED, new, (reason or "replaced").strip()[:300]
    card.save(update_fields=["state", "replaced_by", "state_reason", "updated_at"])
    audit_record(actor=actor, action="card.replace", target=card, before=before_old,
                 after=snapshot(card, STATE_FIELDS), comment=reason)
    audit_record(actor=actor, action="card.replacement", target=new, before=before_new,
                 after=snapshot(new, STATE_FIELDS), comment=f"replaces {card.number}")
    return new
