"""Bonus accounts and the append-only ledger.

Invariants (enforced by services, backed by constraints):
- `Account.activated_balance == sum(LedgerEntry.activated_delta)`, likewise pending and held.
- `activated_balance >= held_balance >= 0` and `pending_balance >= 0`: nothing can spend points that
  are not there, or points held for a cheque at a till.
- A `LedgerEntry` is never updated or deleted. Lots (what is left of each accrual) are the only
  mutable bookkeeping, changed in the same transaction as the entry that moves them.
- Every entry has an idempotency key unique per source: a retried request never books twice.
"""
from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

ZERO = Decimal("0")
POINTS = {"max_digits": 18, "decimal_places": 2}


class Currency(models.Model):
    """A bonus currency (points, miles, ...)."""

    code = models.SlugField(max_length=16, unique=True)
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "currencies"
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_currency")
        ]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    """A balance in one currency, owned by a customer; cards reach it through CardAccount."""

    # Indexed by account_customer_currency_idx (customer, currency).
    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="accounts", db_index=False)
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="accounts")
    activated_balance = models.DecimalField(default=ZERO, **POINTS)
    pending_balance = models.DecimalField(default=ZERO, **POINTS)
    held_balance = models.DecimalField(default=ZERO, **POINTS)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(condition=Q(held_balance__gte=0), name="account_held_not_negative"),
            models.CheckConstraint(condition=Q(pending_balance__gte=0), name="account_pending_not_negative"),
            models.CheckConstraint(
                condition=Q(activated_balance__gte=F("held_balance")), name="account_activated_covers_held"
            ),
        ]
        indexes = [models.Index(fields=["customer", "currency"], name="account_customer_currency_idx")]

    def __str__(self) -> str:
        return f"account #{self.pk} ({self.currency_id})"

    @property
    def available_balance(self) -> Decimal:
        """What may be spent now: activated points not held for a cheque in progress."""
        return self.activated_balance - self.held_balance


class LedgerEntry(models.Model):
    """One booking. Append-only: never updated, never deleted."""

    class Kind(models.TextChoices):
        ACCRUAL = "accrual"
        ACTIVATION = "activation"
        REDEMPTION = "redemption"
        HOLD = "hold"
        RELEASE = "release"
        ADJUSTMENT = "adjustment"
        EXPIRY = "expiry"
        REVERSAL = "reversal"
        TRANSFER = "transfer"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(help_text="Signed: what this entry adds to the account's total.", **POINTS)
    activated_delta = models.DecimalField(default=ZERO, **POINTS)
    pending_delta = models.DecimalField(default=ZERO, **POINTS)
    held_delta = models.DecimalField(default=ZERO, **POINTS)
    source = models.CharField(max_length=32, help_text="What booked it: purchase, adjustment, batch, system, ...")
    idempotency_key = models.CharField(max_length=200)
    purchase = models.ForeignKey("crm.Purchase", null=True, blank=True, on_delete=models.PROTECT, related_name="entries")
    lot = models.ForeignKey("crm.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="entries")
    hold = models.ForeignKey("crm.Hold", null=True, blank=True, on_delete=models.PROTECT, related_name="entries")
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals")
    actor_kind = models.CharField(max_length=16, blank=True)
    actor_id = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["source", "idempotency_key"], name="ledger_idempotency_unique"),
            models.CheckConstraint(
                condition=Q(amount=F("activated_delta") + F("pending_delta")), name="ledger_amount_is_sum_of_deltas"
            ),
        ]
        indexes = [models.Index(fields=["account", "-created_at"], name="ledger_account_time_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} on #{self.account_id}"


class Lot(models.Model):
    """What is left of one accrual: redeemed soonest-expiring first, activated and expired on time."""

    class State(models.TextChoices):
        PENDING = "pending"
        ACTIVE = "active"
        EXHAUSTED = "exhausted"
        EXPIRED = "expired"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lots")
    amount = models.DecimalField(**POINTS)
    remaining = models.DecimalField(**POINTS)
    state = models.CharField(max_length=16, choices=State.choices)
    activate_at = models.DateTimeField(null=True, blank=True)
    expire_at = models.DateTimeField(null=True, blank=True)
    expiring_notified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")), name="lot_remaining_in_range"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="lot_amount_positive"),
        ]
        indexes = [
            # Redemption order: soonest-expiring active lots of an account first.
            models.Index(fields=["account", "expire_at", "id"], name="lot_spend_order_idx", condition=Q(state="active")),
            models.Index(fields=["activate_at"], name="lot_due_activation_idx", condition=Q(state="pending")),
            models.Index(fields=["expire_at"], name="lot_due_expiry_idx", condition=Q(state__in=["pending", "active"])),
        ]


class LotConsumption(models.Model):
    """Which lots a debit took from, so a reversal can give back exactly what was taken."""

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="consumptions")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="consumptions")
    amount = models.DecimalField(**POINTS)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="lot_consumption_positive")]


class Hold(models.Model):
    """Points reserved by a till's calculate; confirmed (spent) or released by confirm or cancel."""

    class State(models.TextChoices):
        OPEN = "open"
        CONFIRMED = "confirmed"
        RELEASED = "released"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds")
    amount = models.DecimalField(**POINTS)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    source = models.CharField(max_length=32)
    idempotency_key = models.CharField(max_length=200)
    expires_at = models.DateTimeField(help_text="An open hold past this time is released by a periodic task.")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "idempotency_key"], name="hold_idempotency_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive"),
        ]
        indexes = [models.Index(fields=["expires_at"], name="hold_open_expiry_idx", condition=Q(state="open"))]
