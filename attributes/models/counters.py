"""Counters: a sum or count of confirmed purchases per customer over a period.

Values are kept per (counter, customer, period_start). Calendar counters (month, quarter, year)
keep one row per period, so past periods stay readable (statuses look at the previous month);
rolling-N-days and all-time counters keep one row at `ALL_TIME` (1970-01-01).

Invariants (see attributes.services.counters):
- `value = imported + Σ contributions` of the customer's counted purchases in that period, where
  a purchase is counted iff it is confirmed; a refund counts against its original sale's period
  and store (negative sum, no count).
- A rolling counter counts purchases whose day (in the counter's time zone) is >= `window_start`;
  the periodic roll moves `window_start` forward and subtracts the days that left the window.
- `CountedPurchase` has a row iff the purchase's contribution is in the values (idempotency of
  `counter_apply_purchase`).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from catalogue.models import validate_timezone

ALL_TIME = dt.date(1970, 1, 1)


class Counter(models.Model):
    class Aggregate(models.TextChoices):
        SUM = "sum", "sum of purchase amounts (after discounts)"
        COUNT = "count", "number of purchases"

    class Period(models.TextChoices):
        ROLLING = "rolling", "rolling N days"
        MONTH = "month", "calendar month"
        QUARTER = "quarter", "calendar quarter"
        YEAR = "year", "calendar year"
        ALL_TIME = "all_time", "all time"

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    aggregate = models.CharField(max_length=8, choices=Aggregate.choices, default=Aggregate.SUM)
    period = models.CharField(max_length=10, choices=Period.choices, default=Period.ALL_TIME)
    period_days = models.PositiveIntegerField(null=True, blank=True, help_text="Rolling: the number of days, today included.")
    product_group = models.ForeignKey(
        "catalogue.ProductGroup", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Only lines of these products count (a purchase counts if one of its lines does).",
    )
    store = models.ForeignKey("catalogue.Store", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              help_text="Only purchases in this store count.")
    timezone = models.CharField(max_length=64, default="Europe/Moscow", validators=[validate_timezone],
                                help_text="Where days, months, quarters and years begin.")
    keep_periods = models.PositiveSmallIntegerField(default=24, help_text="Calendar counters: past periods kept.")
    is_active = models.BooleanField(default=True)
    window_start = models.DateField(null=True, blank=True, editable=False,
                                    help_text="Rolling: first day currently counted (moved by the daily roll).")
    recalc_pending = models.PositiveIntegerField(default=0, editable=False, help_text="Recalculation chunks still queued.")
    recalculated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.CheckConstraint(condition=~Q(period="rolling") | Q(period_days__gte=1), name="counter_rolling_has_days"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.period == self.Period.ROLLING and not self.period_days:
            raise ValidationError({"period_days": "A rolling counter needs its number of days."})
        if self.period != self.Period.ROLLING and self.period_days:
            raise ValidationError({"period_days": "Only rolling counters have a number of days."})

    def save(self, *args, **kwargs) -> None:
        # Invariant: a rolling counter always knows its window (the roll moves it; apply reads it).
        if self.period == self.Period.ROLLING and self.window_start is None:
            from attributes.periods import counter_today, rolling_window_start

            self.window_start = rolling_window_start(self, counter_today(self))
        super().save(*args, **kwargs)

    @property
    def calendar(self) -> bool:
        return self.period in (self.Period.MONTH, self.Period.QUARTER, self.Period.YEAR)


class CounterValue(models.Model):
    pk = models.CompositePrimaryKey("counter_id", "customer_id", "period_start")
    # No database FK constraints, for the reason given on AttributeValue (bulk imports and
    # recalculations write millions of rows; only this app writes here, with ids it just read).
    counter = models.ForeignKey(Counter, on_delete=models.CASCADE, related_name="values", db_index=False,
                                db_constraint=False)
    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="+", db_index=False,
                                 db_constraint=False)
    period_start = models.DateField(help_text="First day of the period; 1970-01-01 for rolling and all-time counters.")
    value = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    imported = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"),
                                   help_text="The part of the value that came from an import (kept by recalculation).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # Segments: "counter X in the current period > 10000" -> range scan yielding customers.
            models.Index(fields=["counter", "period_start", "value"], include=["customer"], name="countervalue_seg_idx"),
            models.Index(fields=["customer", "counter"], name="countervalue_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.counter_id}/{self.customer_id}/{self.period_start}: {self.value}"


class CountedPurchase(models.Model):
    """A purchase whose contribution is currently in the counter values (absent = not counted)."""

    purchase = models.OneToOneField("crm.Purchase", primary_key=True, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="+")
    counted_at = models.DateTimeField(auto_now_add=True)
