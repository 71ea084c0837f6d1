"""Small helpers shared by the crm services."""
from __future__ import annotations

from core.errors import DomainError, NotFound
from crm.models import Card, Customer


def customer_lock(pk: int) -> Customer:
    """Re-read a customer under a row lock (FOR UPDATE) for the rest of the transaction."""
    customer = Customer.objects.select_for_update().filter(pk=pk).first()
    if customer is None:
        raise NotFound("customer_not_found", f"Customer #{pk} does not exist.")
    return customer


def customer_lock_usable(pk: int, *, field: str | None = None) -> Customer:
    """Lock a customer who may still be changed: not merged away."""
    customer = customer_lock(pk)
    if customer.state == Customer.State.MERGED:
        raise DomainError(
            "customer_merged", f"Customer #{pk} was merged into #{customer.merged_into_id}.", field=field, status=409
        )
    return customer


def card_lock(pk: int) -> Card:
    card = Card.objects.select_for_update().filter(pk=pk).first()
    if card is None:
        raise NotFound("card_not_found", f"Card #{pk} does not exist.")
    return card
