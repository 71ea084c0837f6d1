"""Status systems: ordered statuses with entry conditions, each customer's current status, history.

A `StatusSystem` is a customer attribute (kind "status", see attributes.models.definitions) whose
values are its statuses. Several systems run side by side (e.g. Silver/Gold/Platinum by spend and
another by visit frequency); a customer holds at most one status per system (`CustomerStatus`).

Invariants:
- statuses of a system are ordered by `rank` (higher = better), rank and code unique per system;
- a customer's qualifying status is the highest-ranked status whose conditions all hold (a status
  without conditions always holds: the entry level); see statuses.conditions for the language;
- the current status changes only through statuses.services (upgrade at purchase confirm,
  scheduled recalculation, manual assignment), and every change writes one `StatusChange` row and
  one "status.changed" DomainEvent in the same transaction.
"""
from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from catalogue.models import validate_timezone


class StatusSystem(models.Model):
    class Period(models.TextChoices):
        MONTHLY = "monthly"
        QUARTERLY = "quarterly"
        YEARLY = "yearly"

    code = models.SlugField(max_length=50, unique=True, help_text="Stable name used by the API, offers and segments.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    period = models.CharField(
        max_length=10, choices=Period.choices, default=Period.MONTHLY,
        help_text="How often the scheduled recalculation runs (downgrades happen only then).",
    )
    grace_days = models.PositiveSmallIntegerField(
        default=0,
        help_text="A customer who no longer qualifies at a recalculation keeps the status this many days more "
                  "(0: downgraded at once). Qualifying again in the meantime cancels the downgrade.",
    )
    timezone = models.CharField(max_length=64, default="Europe/Moscow", validators=[validate_timezone],
                                help_text="Where months, quarters and years begin for the schedule.")
    counter = models.ForeignKey(
        "attributes.Counter", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The counter shown to the member as the system's current value (optional).",
    )
    attribute = models.OneToOneField(
        "attributes.Attribute", null=True, blank=True, on_delete=models.PROTECT, related_name="status_system",
        editable=False, help_text="The customer attribute this system is (kind: status system).",
    )
    next_recalculation_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the next scheduled recalculation starts (UTC; empty: the next period boundary).",
    )
    last_recalculated_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        indexes = [models.Index(fields=["next_recalculation_at"], name="statussystem_due_idx",
                                condition=Q(is_active=True))]

    def __str__(self) -> str:
        return self.name


class Status(models.Model):
    system = models.ForeignKey(StatusSystem, on_delete=models.CASCADE, related_name="statuses")
    code = models.SlugField(max_length=50)
    name = models.CharField(max_length=200)
    rank = models.PositiveSmallIntegerField(help_text="Order in the system: a higher rank is a better status.")
    conditions = models.JSONField(
        default=list, blank=True,
        help_text="All must hold to enter this status (see statuses.conditions). Empty: everyone qualifies.",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ("system_id", "rank")
        verbose_name_plural = "statuses"
        constraints = [
            models.UniqueConstraint(fields=["system", "code"], name="status_code_unique_per_system"),
            models.UniqueConstraint(fields=["system", "rank"], name="status_rank_unique_per_system"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from statuses.conditions import ConditionError, conditions_validate

        try:
            self.conditions = conditions_validate(self.conditions)
        except ConditionError as exc:
            raise ValidationError({"conditions": str(exc)}) from None


class CustomerStatus(models.Model):
    """A customer's current status in one system: the value of the system's attribute.

    `status` is null when the customer qualified for nothing (no entry level) after having had a
    status; customers who never had one have no row. While `manual_until` is in the future the row
    is frozen: no automatic change (upgrade, downgrade, grace) touches it.
    `grace_until` is set when a recalculation found the customer below the status and the system
    has a grace period: the downgrade happens when it passes unless the customer qualifies again.
    """

    system = models.ForeignKey(StatusSystem, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.ForeignKey(Status, null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    since = models.DateTimeField(help_text="When the customer got this status.")
    manual_until = models.DateTimeField(
        null=True, blank=True, help_text="Set by hand and kept by automatic recalculation until then (UTC).",
    )
    grace_until = models.DateTimeField(
        null=True, blank=True, help_text="No longer qualifies: kept until then, downgraded afterwards (UTC).",
    )
    reason = models.CharField(max_length=300, blank=True, help_text="Why the status was last set.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "customer status"
        verbose_name_plural = "customer statuses"
        constraints = [
            models.UniqueConstraint(fields=["system", "customer"], name="customerstatus_unique"),
        ]
        indexes = [
            # Segments and offers: "status of system S is Gold" -> index-only range of customers.
            models.Index(fields=["system", "status"], include=["customer"], name="customerstatus_status_idx"),
            models.Index(fields=["customer"], name="customerstatus_customer_idx"),
            models.Index(fields=["system", "grace_until"], name="customerstatus_grace_idx",
                         condition=Q(grace_until__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"customer #{self.customer_id}: {self.status or '-'}"


class StatusChange(models.Model):
    """History: every change of a customer's status (from, to, why, when, by whom). Append-only."""

    class Reason(models.TextChoices):
        UPGRADE = "upgrade", "upgrade (qualifying purchase)"
        DOWNGRADE = "downgrade", "downgrade (scheduled recalculation)"
        RECALCULATION = "recalculation", "raised by the scheduled recalculation"
        MANUAL = "manual", "set by an operator"
        MERGE = "merge", "kept from a merged customer"

    system = models.ForeignKey(StatusSystem, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="+", db_index=False)
    from_status = models.ForeignKey(Status, null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    to_status = models.ForeignKey(Status, null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    created_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    comment = models.TextField(blank=True)
    manual_until = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey("statuses.StatusRecalculation", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+", db_index=False)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["customer", "system", "-created_at"], name="statuschange_customer_idx")]

    def __str__(self) -> str:
        return f"customer #{self.customer_id}: {self.from_status_id} -> {self.to_status_id} ({self.reason})"


class StatusRecalculation(models.Model):
    """One recalculation run of a system over all customers, split into chunks done by tasks.

    Every chunk evaluates the conditions as of `as_of` (counter periods too), so a run gives the
    same answer whichever worker runs which chunk, and when.
    """

    class Mode(models.TextChoices):
        SCHEDULED = "scheduled", "scheduled (upgrades and downgrades)"
        UPGRADE = "upgrade", "upgrades only"
        GRACE = "grace", "expired grace periods"

    class State(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    system = models.ForeignKey(StatusSystem, on_delete=models.CASCADE, related_name="runs")
    mode = models.CharField(max_length=10, choices=Mode.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.RUNNING)
    as_of = models.DateTimeField()
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    # First customer id of each chunk already applied: a chunk task delivered twice (acks_late
    # after a lost worker) counts once. The statement itself is idempotent anyway.
    done_chunks = ArrayField(models.BigIntegerField(), default=list, blank=True, editable=False)
    rows_written = models.PositiveIntegerField(default=0)
    changes = models.PositiveIntegerField(default=0, help_text="Customers whose status changed.")
    error = models.TextField(blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-started_at", "-id")
        verbose_name = "recalculation run"

    def __str__(self) -> str:
        return f"{self.system} {self.mode} {self.as_of:%Y-%m-%d %H:%M} ({self.state})"
