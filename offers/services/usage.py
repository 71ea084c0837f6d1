"""Offer limits across cheques: processing records each applied limited offer at confirm.

Race safety: the counters move by conditional UPDATEs (`... WHERE uses < limit`), row-locked by
PostgreSQL, always member row first and offer-wide row second (one lock order, no deadlock). Two
tills confirming at once for the last allowed use: one UPDATE matches, the other matches nothing
and gets `limit_reached`.
"""
from __future__ import annotations

from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import Conflict
from core.services import audit_record
from offers.models import Offer, OfferUsageRecord
from offers.models.usage import ALL_MEMBERS


@transaction.atomic
def offer_usage_record(*, offer_id: int, customer_id: int | None, key: str, benefit: Decimal, actor: Actor) -> bool:
    """Count one application of an offer (at confirm). Idempotent per `key`: False when already counted.

    Raises Conflict("limit_reached") when the member's limit or the budget would be exceeded.
    """
    offer = Offer.objects.only("id", "limit_per_customer", "budget").get(pk=offer_id)
    _, created = OfferUsageRecord.objects.get_or_create(
        offer_id=offer_id, key=key, defaults={"customer_id": customer_id, "benefit": benefit})
    if not created:
        return False
    with connection.cursor() as cursor:
        rows = [(offer_id, ALL_MEMBERS)] + ([(offer_id, customer_id)] if customer_id is not None else [])
        cursor.executemany(
            "INSERT INTO offers_offercounter (offer_id, customer_id, uses, benefit, updated_at) "
            "VALUES (%s, %s, 0, 0, now()) ON CONFLICT (offer_id, customer_id) DO NOTHING", rows)
        if customer_id is not None:
            cursor.execute(
                "UPDATE offers_offercounter SET uses = uses + 1, benefit = benefit + %s, updated_at = now() "
                "WHERE offer_id = %s AND customer_id = %s AND (%s::int IS NULL OR uses < %s::int)",
                [benefit, offer_id, customer_id, offer.limit_per_customer, offer.limit_per_customer])
            if cursor.rowcount != 1:
                raise Conflict("limit_reached", f"The member has used offer #{offer_id} "
                                                f"{offer.limit_per_customer} times already.", field="offer")
        elif offer.limit_per_customer is not None:
            raise Conflict("limit_reached", "An offer limited per member needs an identified member.", field="offer")
        cursor.execute(
            "UPDATE offers_offercounter SET uses = uses + 1, benefit = benefit + %s, updated_at = now() "
            "WHERE offer_id = %s AND customer_id = %s AND (%s::numeric IS NULL OR benefit + %s <= %s::numeric)",
            [benefit, offer_id, ALL_MEMBERS, offer.budget, benefit, offer.budget])
        if cursor.rowcount != 1:
            raise Conflict("limit_reached", f"Offer #{offer_id}'s budget {offer.budget} would be exceeded.",
                           field="offer")
    audit_record(actor=actor, action="offer.usage_record", object_type="offers.offer", object_id=offer_id,
                 after={"customer_id": customer_id, "key": key, "benefit": benefit})
    return True


@transaction.atomic
def offer_usage_release(*, offer_id: int, key: str, actor: Actor) -> bool:
    """Give back a recorded application (cheque cancelled or refunded). Idempotent."""
    record = OfferUsageRecord.objects.select_for_update().filter(offer_id=offer_id, key=key).first()
    if record is None or record.released_at is not None:
        return False
    record.released_at = timezone.now()
    record.save(update_fields=["released_at"])
    with connection.cursor() as cursor:
        members = [ALL_MEMBERS] + ([record.customer_id] if record.customer_id is not None else [])
        # Member row first, then the offer-wide row: the same lock order as offer_usage_record.
        for member in sorted(members, reverse=True):
            cursor.execute(
                "UPDATE offers_offercounter SET uses = GREATEST(uses - 1, 0), "
                "benefit = GREATEST(benefit - %s, 0), updated_at = now() WHERE offer_id = %s AND customer_id = %s",
                [record.benefit, offer_id, member])
    audit_record(actor=actor, action="offer.usage_release", object_type="offers.offer", object_id=offer_id,
                 after={"key": key, "benefit": record.benefit})
    return True
