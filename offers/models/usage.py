"""Usage of offers with limits, recorded at confirm by processing through
offers.services.usage.offer_usage_record. Counters are updated with conditional UPDATEs, so two
tills confirming at once can never push a member or the budget past a limit."""
from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q

MONEY = {"max_digits": 14, "decimal_places": 2}
ALL_MEMBERS = 0  # OfferCounter.customer_id of the offer-wide row that carries the budget


class OfferCounter(models.Model):
    """Uses and benefit of an offer: one row per member, and one offer-wide row (customer_id 0).

    `customer_id` is a plain integer rather than a foreign key so that the offer-wide row can exist.
    """

    offer = models.ForeignKey("offers.Offer", on_delete=models.CASCADE, related_name="counters")
    customer_id = models.BigIntegerField(default=ALL_MEMBERS)
    uses = models.PositiveIntegerField(default=0)
    benefit = models.DecimalField(default=Decimal("0"), **MONEY)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["offer", "customer_id"], name="offer_counter_unique"),
            models.CheckConstraint(condition=Q(benefit__gte=0), name="offer_counter_benefit_not_negative"),
        ]
        indexes = [models.Index(fields=["customer_id", "offer"], name="offer_counter_customer_idx")]


class OfferUsageRecord(models.Model):
    """One recorded application (idempotency: a retried confirm with the same key counts once)."""

    offer = models.ForeignKey("offers.Offer", on_delete=models.CASCADE, related_name="usage_records")
    customer_id = models.BigIntegerField(null=True, blank=True)
    key = models.CharField(max_length=200, help_text="The purchase's idempotency key.")
    benefit = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True, help_text="Set when the purchase was cancelled or refunded.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["offer", "key"], name="offer_usage_key_unique")]
