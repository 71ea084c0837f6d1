from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """Who did what, when, to what, with the state before and after. Append-only.

    Deliberately holds no foreign keys: an event outlives the row it speaks of, and the table
    can be partitioned by month as it grows without bound.
    """

    class ActorKind(models.TextChoices):
        OPERATOR = "operator"
        CUSTOMER = "customer"
        TILL = "till"
        SYSTEM = "system"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["object_type", "object_id", "-created_at"], name="audit_object_idx"),
            models.Index(fields=["actor_kind", "actor_id", "-created_at"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_type}#{self.object_id}"


class DomainEvent(models.Model):
    """Outbox of business events (purchase confirmed, points expiring soon, status changed, ...).

    Lower apps append here in the same transaction as the change; campaigns and triggers in
    communications consume them. Written in the writer's transaction, so an event exists exactly
    when its change committed: nothing is lost when a worker crashes.
    """

    kind = models.CharField(max_length=64)
    customer_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    dedup_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        indexes = [
            models.Index(fields=["kind", "id"], name="event_kind_idx"),
            models.Index(fields=["id"], name="event_unprocessed_idx", condition=models.Q(processed_at__isnull=True)),
            models.Index(fields=["customer_id", "kind"], name="event_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


def _import_upload_path(instance: "ImportJob", filename: str) -> str:
    return f"imports/{instance.kind}/{filename}"


class ImportJob(models.Model):
    """A CSV file uploaded for import, processed in chunks by a Celery task with visible progress.

    Each chunk commits together with the progress counters, so a worker that dies mid-file resumes
    after the last committed chunk and nothing is applied twice.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done", "processed"
        DONE_WITH_ERRORS = "done_with_errors", "processed with errors"
        FAILED = "failed"

    kind = models.CharField(max_length=64, help_text="Registered importer, e.g. crm.adjustments.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    file = models.FileField(upload_to=_import_upload_path, max_length=300)
    original_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    delimiter = models.CharField(max_length=1, blank=True)
    options = models.JSONField(default=dict, blank=True)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    rows_ok = models.PositiveIntegerField(default=0)
    rows_failed = models.PositiveIntegerField(default=0)
    report = models.FileField(upload_to="imports/reports/", max_length=300, blank=True)
    error_message = models.TextField(blank=True)
    actor_kind = models.CharField(max_length=16, blank=True)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["kind", "-created_at"], name="import_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.original_name} ({self.state})"

    @property
    def percent(self) -> int | None:
        if not self.rows_total:
            return 100 if self.state in (self.State.DONE, self.State.DONE_WITH_ERRORS) else None
        return min(100, int(self.rows_done * 100 / self.rows_total))

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.DONE_WITH_ERRORS, self.State.FAILED)


class ImportRowError(models.Model):
    """A rejected row of an import, committed with its chunk, so a resumed job keeps its report."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField()
    reason = models.CharField(max_length=500)
    values = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("job_id", "line")
        indexes = [models.Index(fields=["job", "line"], name="import_error_line_idx")]
