"""Purchase history for agents: search by date range, store, cheque number, card, customer.

Every filter has an index (crm.models.purchases): customer/card/store + time, number, time. The list
query joins store, till, card and customer in one SELECT and leaves out the heavy JSON columns
(trace, answer); the detail adds lines and their offers in two more queries. No N+1.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from core.errors import DomainError
from crm.models import Purchase, PurchaseLine, PurchaseLineOffer

HEAVY_FIELDS = ("trace", "answer")


@dataclass(frozen=True)
class PurchaseFilter:
    date_from: dt.date | dt.datetime | None = None
    date_to: dt.date | dt.datetime | None = None
    store_id: int | None = None
    number: str | None = None
    card_id: int | None = None
    card_number: str | None = None
    customer_id: int | None = None
    state: str | None = None
    kind: str | None = None


def _start(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, dt.timezone.utc)
    return dt.datetime.combine(value, dt.time.min, tzinfo=dt.timezone.utc)


def purchase_search(*, filters: PurchaseFilter) -> QuerySet[Purchase]:
    """Newest first. Dates are UTC days; `date_to` as a date includes that whole day."""
    qs = Purchase.objects.select_related("store", "till", "card", "customer").defer(*HEAVY_FIELDS)
    if filters.date_from and filters.date_to and _start(filters.date_from) > _start(filters.date_to):
        raise DomainError("date_range_invalid", "date_from is after date_to.", field="date_from")
    if filters.date_from:
        qs = qs.filter(purchased_at__gte=_start(filters.date_from))
    if filters.date_to:
        if isinstance(filters.date_to, dt.datetime):
            qs = qs.filter(purchased_at__lte=_start(filters.date_to))
        else:
            qs = qs.filter(purchased_at__lt=_start(filters.date_to + dt.timedelta(days=1)))
    if filters.store_id:
        qs = qs.filter(store_id=filters.store_id)
    if filters.number:
        qs = qs.filter(number=filters.number.strip())
    if filters.card_id:
        qs = qs.filter(card_id=filters.card_id)
    if filters.card_number:
        qs = qs.filter(card__number=filters.card_number.strip())
    if filters.customer_id:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.state:
        if filters.state not in Purchase.State.values:
            raise DomainError("state_invalid", f"State must be one of {', '.join(Purchase.State.values)}.", field="state")
        qs = qs.filter(state=filters.state)
    if filters.kind:
        if filters.kind not in Purchase.Kind.values:
            raise DomainError("kind_invalid", f"Kind must be one of {', '.join(Purchase.Kind.values)}.", field="kind")
        qs = qs.filter(kind=filters.kind)
    return qs.order_by("-purchased_at", "-id")


def purchase_detail(*, purchase_id: int) -> Purchase | None:
    """One cheque with its lines and the offers of each line: three queries."""
    return (
        Purchase.objects.filter(pk=purchase_id)
        .select_related("store", "till", "card", "customer", "original")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=PurchaseLine.objects.order_by("position").prefetch_related(
                    Prefetch("offers", queryset=PurchaseLineOffer.objects.order_by("id"))
                ),
            )
        )
        .first()
    )
