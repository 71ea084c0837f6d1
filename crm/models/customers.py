from __future__ import annotations

from django.db import models
from django.db.models import Q


class ProgramSettings(models.Model):
    """One row of program-wide settings an administrator may change in the admin."""

    default_phone_region = models.CharField(max_length=2, default="RU", help_text="ISO 3166 region for numbers without +.")
    allowed_phone_regions = models.JSONField(
        default=list, blank=True, help_text='Regions whose numbers are accepted, e.g. ["RU", "KZ"]; empty = any.'
    )
    otp_ttl_seconds = models.PositiveIntegerField(default=300)
    otp_max_attempts = models.PositiveSmallIntegerField(default=5)
    otp_requests_per_hour = models.PositiveSmallIntegerField(default=5, help_text="Codes sent to one phone or email per hour.")
    expiring_soon_days = models.PositiveSmallIntegerField(default=7, help_text="Days before expiry to emit 'points expiring soon'.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "program settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="program_settings_single_row")]

    def save(self, *args, **kwargs) -> None:
        self.pk = 1  # a singleton: there is exactly one row
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "ProgramSettings":
        """The settings row; the defaults (unsaved) until an administrator first saves it. A read never writes."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)

    def __str__(self) -> str:
        return "Program settings"


class Customer(models.Model):
    """A person in the program. Anonymous (a card only) until registered."""

    class State(models.TextChoices):
        ANONYMOUS = "anonymous"
        REGISTERED = "registered"
        BLOCKED = "blocked"
        MERGED = "merged"

    class Gender(models.TextChoices):
        UNKNOWN = "", "unknown"
        MALE = "male"
        FEMALE = "female"

    class Channel(models.TextChoices):
        TILL = "till"
        APP = "app"
        WEB = "web"
        CALL_CENTER = "call_center"
        IMPORT = "import"
        ADMIN = "admin"

    external_uid = models.CharField(max_length=64, null=True, blank=True, unique=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    middle_name = models.CharField(max_length=100, blank=True)
    gender = models.CharField(max_length=8, choices=Gender.choices, blank=True, default="")
    birth_date = models.DateField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ANONYMOUS)
    registered_at = models.DateTimeField(null=True, blank=True)
    registration_channel = models.CharField(max_length=16, choices=Channel.choices, blank=True)
    # Usually NULL (and merged_into almost always): indexed partially (Meta), not every NULL.
    registration_store = models.ForeignKey("catalogue.Store", null=True, blank=True, on_delete=models.SET_NULL,
                                           related_name="+", db_index=False)
    timezone = models.CharField(max_length=64, default="UTC")
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_from",
                                    db_index=False)
    blocked_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("id",)
        indexes = [
            models.Index(fields=["last_name", "first_name"], name="customer_name_idx"),
            models.Index(fields=["birth_date"], name="customer_birth_idx"),
            models.Index(fields=["registered_at"], name="customer_registered_idx"),
            models.Index(fields=["registration_store"], name="customer_reg_store_idx",
                         condition=Q(registration_store__isnull=False)),
            models.Index(fields=["merged_into"], name="customer_merged_into_idx", condition=Q(merged_into__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="merged") | Q(merged_into__isnull=False), name="customer_merged_has_target"
            ),
        ]

    def __str__(self) -> str:
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return f"#{self.pk} {name}".strip() if name else f"#{self.pk} ({self.state})"


class Notifier(models.Model):
    """A contact we may message, and an identifier the customer is found by (phone, email)."""

    class Kind(models.TextChoices):
        PHONE = "phone"
        EMAIL = "email"
        PUSH = "push"

    # Indexed by notifier_unique_per_customer (customer, kind, value).
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notifiers", db_index=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=254, help_text="Phone in E.164, email in lower case, push token as given.")
    verified = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    is_primary = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("customer_id", "kind", "-is_primary")
        constraints = [
            # A verified phone or email belongs to one customer only.
            models.UniqueConstraint(fields=["kind", "value"], condition=Q(verified=True), name="notifier_verified_unique"),
            models.UniqueConstraint(fields=["customer", "kind", "value"], name="notifier_unique_per_customer"),
        ]
        indexes = [models.Index(fields=["kind", "value"], name="notifier_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}{' ✓' if self.verified else ''}"


class VerificationCode(models.Model):
    """A one-time code sent to a phone or email. Only its hash is kept."""

    class Purpose(models.TextChoices):
        VERIFY = "verify", "verify a notifier"
        CHANGE = "change", "change phone or email"
        LOGIN = "login", "log in to the app"

    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Notifier.Kind.choices)
    value = models.CharField(max_length=254)
    purpose = models.CharField(max_length=8, choices=Purpose.choices)
    code_hash = models.CharField(max_length=128)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    expires_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "value", "-created_at"], name="otp_value_idx")]


class CustomerToken(models.Model):
    """A token the mobile app gets at login: `Authorization: Customer <token>`. Only its hash is kept."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    device = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
