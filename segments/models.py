"""Segments: who is in a target audience, and since when; RFM scores; per-customer purchase totals.

A `Segment` is dynamic (its `definition`, a tree of conditions, is compiled to one SQL query and
its members are materialised by a refresh) or static (members uploaded from a list of identifiers
or added by the API). Either way the current members live in `Membership` and every stay in the
segment is one `MembershipChange` interval, so "who was in S on date X" is one query.

Invariants (kept by segments.services, in one transaction per segment):
- a customer has a `Membership` row for S exactly when S has an open interval for them
  (`left_at IS NULL`) in `MembershipChange`;
- `Segment.member_count` equals the number of its `Membership` rows after each refresh or upload.

Membership rows are derived data written set-based (500k rows at once): they carry no database
foreign keys (a per-row RI check would dominate the refresh), and a segment's rows are deleted
by segment_delete with one statement before the segment itself.
"""
from __future__ import annotations

from django.db import models
from django.db.models import Q

MONEY = {"max_digits": 16, "decimal_places": 2}


class Segment(models.Model):
    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", "dynamic (by conditions)"
        STATIC = "static", "static (uploaded list)"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.DYNAMIC)
    definition = models.JSONField(
        default=dict, blank=True,
        help_text="Dynamic segments: the tree of conditions (see docs/segments.md). Static: empty.",
    )
    auto_refresh = models.BooleanField(default=True, help_text="Refreshed by the periodic task (dynamic segments).")
    is_active = models.BooleanField(default=True, help_text="Archived segments keep their members but are not refreshed.")
    member_count = models.PositiveIntegerField(null=True, blank=True, editable=False)
    refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    refresh_ms = models.PositiveIntegerField(null=True, blank=True, editable=False)
    refresh_error = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["dynamic", "static"]), name="segment_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class SegmentRefresh(models.Model):
    """One materialisation of a segment (refresh or upload): who joined and left at `at` is in
    MembershipChange (joined_at = at, left_at = at)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="refreshes")
    at = models.DateTimeField(help_text="The moment members joined or left (also their joined_at / left_at).")
    source = models.CharField(max_length=16, default="refresh", help_text="refresh, upload, add, remove.")
    joined = models.PositiveIntegerField(default=0)
    left = models.PositiveIntegerField(default=0)
    members = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    actor_label = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ("-at", "-id")
        indexes = [models.Index(fields=["segment", "-at"], name="segment_refresh_idx")]

    def __str__(self) -> str:
        return f"{self.segment_id} at {self.at:%Y-%m-%d %H:%M}: +{self.joined} -{self.left}"


class Membership(models.Model):
    """A current member. Primary key (segment, customer); the (customer, segment) index answers
    "which segments is this customer in" (offers, at every cheque) with one index-only scan."""

    pk = models.CompositePrimaryKey("segment", "customer")
    segment = models.ForeignKey(Segment, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
                                related_name="+")
    customer = models.ForeignKey("crm.Customer", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
                                 related_name="+")
    joined_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["customer", "segment"], name="membership_customer_idx")]


class MembershipChange(models.Model):
    """One stay in a segment: joined at, left at (open while still a member).

    Member on date X: `joined_at <= X AND (left_at IS NULL OR left_at > X)`.
    """

    pk = models.CompositePrimaryKey("segment", "customer", "joined_at")
    segment = models.ForeignKey(Segment, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
                                related_name="+")
    customer = models.ForeignKey("crm.Customer", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
                                 related_name="+")
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(left_at__isnull=True) | Q(left_at__gte=models.F("joined_at")),
                                   name="membership_change_left_after_joined"),
        ]


class Totals(models.Model):
    """Purchase totals: net amount = confirmed sales minus confirmed refunds, each `amount - discount`
    (line amounts for a product group); counts are confirmed sales (cheques). Window columns hold the
    last 30/90/180/365 days as of `computed_at`."""

    WINDOWS = (30, 90, 180, 365)

    purchase_count = models.PositiveIntegerField(default=0)
    amount = models.DecimalField(default=0, **MONEY)
    first_purchase_at = models.DateTimeField(null=True)
    last_purchase_at = models.DateTimeField(null=True)
    count_30 = models.PositiveIntegerField(default=0)
    amount_30 = models.DecimalField(default=0, **MONEY)
    count_90 = models.PositiveIntegerField(default=0)
    amount_90 = models.DecimalField(default=0, **MONEY)
    count_180 = models.PositiveIntegerField(default=0)
    amount_180 = models.DecimalField(default=0, **MONEY)
    count_365 = models.PositiveIntegerField(default=0)
    amount_365 = models.DecimalField(default=0, **MONEY)
    computed_at = models.DateTimeField()

    class Meta:
        abstract = True


class CustomerStats(Totals):
    """Per-customer purchase totals over all stores and products, so that "spent more than 1000 in
    365 days" reads one row per customer instead of aggregating ten million cheques.

    Exact for a customer right after their purchase (processing calls customer_stats_refresh for
    them) and for everyone after the nightly rebuild; a cheque leaving a window is noticed at the
    next rebuild (at most a day late).
    """

    customer = models.OneToOneField("crm.Customer", primary_key=True, on_delete=models.DO_NOTHING,
                                    db_constraint=False, related_name="+")

    class Meta:
        verbose_name = verbose_name_plural = "customer purchase totals"


class ScopeStats(Totals):
    """The same totals per customer and product group (lines of its products; a cheque counts once
    per group) or per store. Maintained with CustomerStats."""

    class Scope(models.TextChoices):
        GROUP = "group", "product group"
        STORE = "store"

    pk = models.CompositePrimaryKey("scope", "scope_id", "customer_id")
    scope = models.CharField(max_length=5, choices=Scope.choices)
    scope_id = models.BigIntegerField(help_text="catalogue ProductGroup or Store id.")
    customer_id = models.BigIntegerField()

    class Meta:
        verbose_name = verbose_name_plural = "purchase totals per product group or store"
        indexes = [models.Index(fields=["customer_id"], name="scopestats_customer_idx")]


class StatsRun(models.Model):
    """When the per-customer purchase totals were last rebuilt for everyone (one row)."""

    refreshed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    customers = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="stats_run_single_row")]


class RfmSettings(models.Model):
    """How RFM scores are computed (one row). Quintiles rank customers against each other; fixed
    thresholds keep a score's meaning stable over time."""

    class Method(models.TextChoices):
        QUINTILES = "quintiles", "quintiles (each score holds a fifth of the customers)"
        THRESHOLDS = "thresholds", "fixed thresholds"

    window_days = models.PositiveIntegerField(default=365, help_text="Purchases of the last N days are scored.")
    method = models.CharField(max_length=12, choices=Method.choices, default=Method.QUINTILES)
    recency_days = models.JSONField(
        default=list, blank=True,
        help_text="Thresholds: 4 ascending day counts; a last purchase within the first gets R=5, ... beyond the last R=1.",
    )
    frequency = models.JSONField(default=list, blank=True,
                                 help_text="Thresholds: 4 ascending purchase counts; at least the first gives F=2, ... the last F=5.")
    monetary = models.JSONField(default=list, blank=True,
                                help_text="Thresholds: 4 ascending amounts; at least the first gives M=2, ... the last M=5.")
    computed_at = models.DateTimeField(null=True, blank=True, editable=False)
    computed_ms = models.PositiveIntegerField(null=True, blank=True, editable=False)
    scored_customers = models.PositiveIntegerField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "RFM settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="rfm_settings_single_row")]

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "RfmSettings":
        """The settings row, or the defaults (unsaved): a read never writes."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)

    def __str__(self) -> str:
        return "RFM settings"


class RfmScore(models.Model):
    """A customer's RFM scores (1..5 each, 5 best) and named cell, from the last recomputation
    (RfmSettings.computed_at). Only customers with a sale in the window are scored. A recomputation
    rewrites only the rows that changed, so there is no per-row timestamp."""

    customer = models.OneToOneField("crm.Customer", primary_key=True, on_delete=models.DO_NOTHING,
                                    db_constraint=False, related_name="+")
    last_purchase_at = models.DateTimeField()
    frequency = models.PositiveIntegerField()
    monetary = models.DecimalField(**MONEY)
    r = models.PositiveSmallIntegerField()
    f = models.PositiveSmallIntegerField()
    m = models.PositiveSmallIntegerField()
    cell = models.CharField(max_length=24)

    class Meta:
        db_table = "segments_rfm"
        verbose_name = "RFM score"
        indexes = [models.Index(fields=["cell", "customer"], name="rfm_cell_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(r__range=(1, 5)) & Q(f__range=(1, 5)) & Q(m__range=(1, 5)),
                                   name="rfm_scores_1_to_5"),
        ]


class StaticUploadRow(models.Model):
    """Customers resolved by a static-segment import, staged per job until its last chunk; then
    applied to the segment in one transaction (add, or replace the members) and removed."""

    pk = models.CompositePrimaryKey("job_id", "customer_id")
    job_id = models.BigIntegerField()
    customer_id = models.BigIntegerField()
