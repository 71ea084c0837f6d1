"""Purchase history: cheques from tills, written by processing, searched by the call center."""
from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q

MONEY = {"max_digits": 14, "decimal_places": 2}
ZERO = Decimal("0")


class Purchase(models.Model):
    class State(models.TextChoices):
        CALCULATED = "calculated"
        CONFIRMED = "confirmed"
        CANCELLED = "cancelled"

    class Kind(models.TextChoices):
        SALE = "sale"
        REFUND = "refund"

    # till, store, customer and card lead the composite indexes of Meta; original is usually NULL
    # (indexed partially). No single-column index on them: every cheque would pay for it.
    till = models.ForeignKey("catalogue.Till", on_delete=models.PROTECT, related_name="+", db_index=False)
    store = models.ForeignKey("catalogue.Store", on_delete=models.PROTECT, related_name="+", db_index=False)
    number = models.CharField(max_length=64, help_text="Cheque number, unique per till.")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.SALE)
    original = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds",
                                 db_index=False)
    customer = models.ForeignKey("crm.Customer", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="purchases", db_index=False)
    card = models.ForeignKey("crm.Card", null=True, blank=True, on_delete=models.PROTECT, related_name="purchases",
                             db_index=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CALCULATED)
    purchased_at = models.DateTimeField(help_text="When the sale happened (UTC).")
    offline = models.BooleanField(default=False, help_text="Sent later by a till that had lost its connection.")
    amount = models.DecimalField(default=ZERO, help_text="Sum of lines before discounts.", **MONEY)
    discount = models.DecimalField(default=ZERO, **MONEY)
    bonus_accrued = models.DecimalField(default=ZERO, **MONEY)
    bonus_paid = models.DecimalField(default=ZERO, **MONEY)
    trace = models.JSONField(default=list, blank=True, help_text="Why each offer applied or not (for support).")
    answer = models.JSONField(default=dict, blank=True, help_text="The answer given to the till, replayed on retries.")
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-purchased_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=["till", "kind", "number"], name="purchase_number_unique_per_till"),
            models.CheckConstraint(condition=Q(kind="sale") | Q(original__isnull=False), name="refund_has_original"),
        ]
        indexes = [
            models.Index(fields=["customer", "-purchased_at"], name="purchase_customer_time_idx"),
            models.Index(fields=["card", "-purchased_at"], name="purchase_card_time_idx"),
            models.Index(fields=["store", "-purchased_at"], name="purchase_store_time_idx"),
            models.Index(fields=["number"], name="purchase_number_idx"),
            models.Index(fields=["-purchased_at"], name="purchase_time_idx"),
            models.Index(fields=["original"], name="purchase_original_idx", condition=Q(original__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"cheque {self.number} ({self.state})"


class PurchaseLine(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    product = models.ForeignKey("catalogue.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=300, blank=True)
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    price = models.DecimalField(**MONEY)
    amount = models.DecimalField(help_text="Line amount before discount.", **MONEY)
    discount = models.DecimalField(default=ZERO, **MONEY)
    bonus_accrued = models.DecimalField(default=ZERO, **MONEY)
    bonus_paid = models.DecimalField(default=ZERO, **MONEY)
    refunded_quantity = models.DecimalField(max_digits=12, decimal_places=3, default=ZERO)

    class Meta:
        ordering = ("purchase_id", "position")
        constraints = [
            models.UniqueConstraint(fields=["purchase", "position"], name="purchase_line_position_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="purchase_line_quantity_positive"),
            models.CheckConstraint(condition=Q(refunded_quantity__gte=0) & Q(refunded_quantity__lte=models.F("quantity")),
                                   name="purchase_line_refund_within_quantity"),
        ]


class PurchaseLineOffer(models.Model):
    """Which offer gave a line its discount or bonus. `offer_id` is not a foreign key: offers live
    in a higher app, and history must outlive an offer's deletion."""

    class Effect(models.TextChoices):
        DISCOUNT = "discount"
        BONUS = "bonus"
        BONUS_CAP = "bonus_cap"
        COUPON = "coupon"
        MESSAGE = "message"

    line = models.ForeignKey(PurchaseLine, on_delete=models.CASCADE, related_name="offers")
    offer_id = models.BigIntegerField()
    offer_name = models.CharField(max_length=200)
    effect = models.CharField(max_length=16, choices=Effect.choices)
    value = models.DecimalField(**MONEY)

    class Meta:
        indexes = [models.Index(fields=["offer_id"], name="line_offer_idx")]
