"""Reference data the rest of the platform speaks of: who sells (partners), where (stores),
through which cash register (tills), and what (products and product groups).

This app sits below crm: purchases (crm), counters (attributes) and offers all refer to it, and
imports run one way.
"""
from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"'{value}' is not a known time zone (use an IANA name such as Europe/Moscow).") from exc


class Partner(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Store(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="stores")
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    address = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("partner_id", "code")
        constraints = [models.UniqueConstraint(fields=["partner", "code"], name="store_code_unique_per_partner")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Till(models.Model):
    """A cash register. It authenticates with `Till <api_key>:<secret>`; only a hash of the secret is kept."""

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="tills")
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    api_key = models.CharField(max_length=40, unique=True, editable=False)
    # sha256 of a 32-byte random secret: a random secret needs no slow password hash, and the
    # till hot path cannot afford PBKDF2 on every request.
    secret_hash = models.CharField(max_length=64, editable=False)
    is_blocked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("store_id", "code")
        constraints = [models.UniqueConstraint(fields=["store", "code"], name="till_code_unique_per_store")]

    def __str__(self) -> str:
        return f"{self.store.code}/{self.code}" if self.store_id else self.code


class ProductGroup(models.Model):
    """A set of products offers and counters speak of: listed by hand, or by rule (category, brand)."""

    class Kind(models.TextChoices):
        LISTED = "listed", "Listed products"
        RULE = "rule", "By rule (category / brand)"

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.LISTED)
    rule_categories = models.JSONField(default=list, blank=True, help_text="Categories whose products belong.")
    rule_brands = models.JSONField(default=list, blank=True, help_text="Brands whose products belong.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=300)
    price = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    category = models.CharField(max_length=120, blank=True, db_index=True)
    brand = models.CharField(max_length=120, blank=True, db_index=True)
    is_active = models.BooleanField(default=True)
    groups = models.ManyToManyField(ProductGroup, through="ProductGroupMembership", related_name="products", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("sku",)
        constraints = [models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gte=0), name="product_price_not_negative")]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class ProductGroupMembership(models.Model):
    """Materialised membership: listed groups by hand, rule groups recomputed by a service."""

    group = models.ForeignKey(ProductGroup, on_delete=models.CASCADE)
    product = models.ForeignKey(Product, on_delete=models.CASCADE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "product"], name="product_group_membership_unique")]
        indexes = [models.Index(fields=["product", "group"], name="pgm_product_idx")]
