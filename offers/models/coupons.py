"""Coupon issues (batches) and coupons.

Lifecycle of a coupon: created -> issued -> used, or revoked, or expired. Batches and grants insert
their codes issued (ready to hand out or already the member's); `created` is kept for codes
reserved by hand and not yet valid. A coupon is redeemed only by a conditional UPDATE (offers.services.coupons), so two
tills can never both redeem a single-use coupon.
"""
from __future__ import annotations

from django.core.validators import FileExtensionValidator
from django.db import models
from django.db.models import F, Q

from catalogue.models import validate_timezone

POINTS = {"max_digits": 14, "decimal_places": 2}
ROUNDING = (("none", "no rounding"), ("day", "start of the next day"), ("month", "start of the next month"))


class CouponIssue(models.Model):
    class Kind(models.TextChoices):
        PUBLIC = "public", "public (one shared code, unique within the partner)"
        PERSONAL = "personal", "personal (unique codes, each issued to a member)"
        DISTRIBUTION = "distribution", "for distribution (unique bearer codes, handed out)"

    class Alphabet(models.TextChoices):
        DIGITS = "digits", "digits 0-9"
        SAFE = "safe", "letters and digits without look-alikes (23456789ABCDEFGHJKLMNPQRSTUVWXYZ)"
        HEX = "hex", "hexadecimal 0-9A-F"

    class CheckDigit(models.TextChoices):
        NONE = "none"
        LUHN = "luhn", "Luhn (digits only)"
        EAN13 = "ean13", "EAN-13 (12 digits + check digit)"

    class Generation(models.TextChoices):
        IDLE = "idle"
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    partner = models.ForeignKey("catalogue.Partner", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="coupon_issues")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DISTRIBUTION)
    title = models.CharField(max_length=200)
    short_description = models.CharField(max_length=300, blank=True, help_text="Shown in the app's coupon list.")
    long_description = models.TextField(blank=True, help_text="Shown on the coupon's page in the app.")
    image = models.FileField(upload_to="coupons/", blank=True,
                             validators=[FileExtensionValidator(["png", "jpg", "jpeg", "webp", "svg"])])
    price_points = models.DecimalField(null=True, blank=True, help_text="Price in points, when members buy it.",
                                       **POINTS)
    public_code = models.CharField(max_length=64, null=True, blank=True,
                                   help_text="Public issues: the one code every member types.")
    # Code format of personal and distribution codes.
    code_prefix = models.CharField(max_length=16, blank=True)
    code_length = models.PositiveSmallIntegerField(default=12, help_text="Random characters after the prefix "
                                                                         "(EAN-13: prefix + random = 12 digits).")
    alphabet = models.CharField(max_length=8, choices=Alphabet.choices, default=Alphabet.SAFE)
    check_digit = models.CharField(max_length=8, choices=CheckDigit.choices, default=CheckDigit.NONE)
    max_uses = models.PositiveIntegerField(default=1, help_text="Uses per coupon (public: per member). 1 = single use.")
    # Activation and expiry: a delay from issue, rounded, or a fixed moment.
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone],
                                help_text="Zone in which delays are rounded to a day or month.")
    activation_delay_days = models.PositiveIntegerField(default=0)
    activation_round = models.CharField(max_length=8, choices=ROUNDING, default="none")
    activate_at_fixed = models.DateTimeField(null=True, blank=True, help_text="Overrides the delay.")
    lifetime_days = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: never expires.")
    expiry_round = models.CharField(max_length=8, choices=ROUNDING, default="none")
    expire_at_fixed = models.DateTimeField(null=True, blank=True, help_text="Overrides the lifetime.")
    # Batch generation (a Celery task), with progress.
    requested_count = models.PositiveIntegerField(default=0, editable=False)
    generated_count = models.PositiveIntegerField(default=0, editable=False)
    generation = models.CharField(max_length=8, choices=Generation.choices, default=Generation.IDLE, editable=False)
    generation_error = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["partner", "public_code"], condition=Q(public_code__isnull=False),
                                    name="coupon_public_code_unique_per_partner"),
            models.CheckConstraint(condition=~Q(kind="public") | Q(public_code__isnull=False),
                                   name="coupon_public_issue_has_code"),
            models.CheckConstraint(condition=Q(max_uses__gte=1), name="coupon_issue_max_uses_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def progress(self) -> int:
        """Percent of the requested codes generated so far."""
        if not self.requested_count:
            return 100 if self.generation == self.Generation.DONE else 0
        return min(100, self.generated_count * 100 // self.requested_count)


class Coupon(models.Model):
    class State(models.TextChoices):
        CREATED = "created"
        ISSUED = "issued"
        USED = "used"
        REVOKED = "revoked"
        EXPIRED = "expired"

    # No database foreign key for the issue: a batch COPYs up to millions of rows that all name the
    # same issue, and PostgreSQL would check each of them (the per-row check took most of the
    # batch's time). Coupons are only written by offers.services.coupons, from an issue it has just
    # read, and an issue with coupons cannot be deleted (PROTECT, enforced by Django).
    issue = models.ForeignKey(CouponIssue, on_delete=models.PROTECT, related_name="coupons", db_constraint=False,
                              db_index=False)
    code = models.CharField(max_length=64)
    state = models.CharField(max_length=8, choices=State.choices, default=State.ISSUED)
    customer = models.ForeignKey("crm.Customer", null=True, blank=True, on_delete=models.PROTECT, db_index=False,
                                 related_name="coupons", help_text="Empty: a bearer coupon.")
    uses = models.PositiveIntegerField(default=0)
    max_uses = models.PositiveIntegerField(default=1)
    activate_at = models.DateTimeField(null=True, blank=True)
    expire_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=300, blank=True)
    grant = models.ForeignKey("offers.CouponGrant", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="coupons", db_index=False)

    class Meta:
        ordering = ("-id",)
        # Few indexes, each needed: every index is maintained for every code of a batch.
        constraints = [
            # A plain unique index (unique=True would add a second, LIKE-pattern, index).
            models.UniqueConstraint(fields=["code"], name="coupon_code_unique"),
            models.CheckConstraint(condition=Q(uses__lte=F("max_uses")), name="coupon_uses_within_max"),
            models.CheckConstraint(condition=Q(max_uses__gte=1), name="coupon_max_uses_positive"),
        ]
        indexes = [
            models.Index(fields=["customer", "state"], name="coupon_customer_state_idx",
                         condition=Q(customer__isnull=False)),
            models.Index(fields=["issue", "state"], name="coupon_issue_state_idx"),
            models.Index(fields=["grant"], name="coupon_grant_idx", condition=Q(grant__isnull=False)),
            # The expiry sweep reads only coupons that can still expire.
            models.Index(fields=["expire_at"], name="coupon_due_expiry_idx",
                         condition=Q(state__in=["created", "issued"])),
        ]

    def __str__(self) -> str:
        return self.code


class CouponGrant(models.Model):
    """Coupons given to a member for one reason (an offer's coupon_issue action at a confirmed
    cheque, an operator's gift). The key makes a retried confirm give nothing twice."""

    issue = models.ForeignKey(CouponIssue, on_delete=models.PROTECT, related_name="grants")
    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=200)
    count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issue", "key"], name="coupon_grant_key_unique")]


class CouponRedemption(models.Model):
    """One use of a coupon (or of a public issue's code). The key makes a retried confirm idempotent."""

    issue = models.ForeignKey(CouponIssue, on_delete=models.PROTECT, related_name="redemptions")
    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.PROTECT, related_name="redemptions")
    customer_id = models.BigIntegerField(null=True, blank=True)
    key = models.CharField(max_length=200, help_text="The purchase's idempotency key.")
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issue", "key"], name="coupon_redemption_key_unique")]
        indexes = [models.Index(fields=["issue", "customer_id"], name="coupon_redemption_member_idx")]
