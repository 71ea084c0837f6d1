"""Attribute definitions: everything marketers segment and target on.

An `Attribute` names a characteristic of a customer and says where its value lives:

| kind                | value lives in                                   | owned by            |
|---------------------|--------------------------------------------------|---------------------|
| `generic`           | `attributes_value` (typed columns)               | this app            |
| `questionnaire`     | `attributes_value`, or `attributes_groupitem` for a repeating group | this app |
| `notifier`          | `crm_notifier` (phone / email / push of the customer) | crm            |
| `counter`           | `attributes_countervalue` (per period)           | this app            |
| `status`            | the statuses app (contract in docs/attributes.md) | statuses           |
| `personal_products` | the offers app (its personal product sets)       | offers              |

Segments compile conditions on any kind through `attributes.filters`.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models


class Attribute(models.Model):
    class Kind(models.TextChoices):
        GENERIC = "generic", "generic attribute"
        QUESTIONNAIRE = "questionnaire", "questionnaire answer"
        NOTIFIER = "notifier", "notifier (phone, email, push)"
        COUNTER = "counter", "counter"
        STATUS = "status", "status system"
        PERSONAL_PRODUCTS = "personal_products", "personal products"

    class ValueType(models.TextChoices):
        NONE = "", "(given by the kind)"
        BOOLEAN = "boolean"
        INTEGER = "integer"
        DECIMAL = "decimal"
        STRING = "string"
        DATE = "date"
        CHOICE = "choice", "one of a list"
        MULTI_CHOICE = "multi_choice", "several of a list"
        GROUP = "group", "repeating group (questionnaire)"

    class NotifierKind(models.TextChoices):
        PHONE = "phone"
        EMAIL = "email"
        PUSH = "push"

    # Kinds whose values this app stores in attributes_value, and the types they may have.
    STORED_KINDS = (Kind.GENERIC, Kind.QUESTIONNAIRE)
    SCALAR_TYPES = (
        ValueType.BOOLEAN, ValueType.INTEGER, ValueType.DECIMAL, ValueType.STRING, ValueType.DATE,
        ValueType.CHOICE, ValueType.MULTI_CHOICE,
    )

    code = models.SlugField(max_length=64, unique=True, help_text="Stable name used by imports, the API and segments.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.GENERIC)
    value_type = models.CharField(max_length=16, choices=ValueType.choices, blank=True, default="")
    options = models.JSONField(
        default=list, blank=True,
        help_text='For "one of a list" / "several of a list": [{"code": "cat", "label": "Cat"}, ...] or ["cat", "dog"].',
    )
    notifier_kind = models.CharField(max_length=8, choices=NotifierKind.choices, blank=True)
    counter = models.ForeignKey(
        "attributes.Counter", null=True, blank=True, on_delete=models.PROTECT, related_name="attributes",
        help_text="For kind counter: the counter whose current value this attribute shows.",
    )
    config = models.JSONField(
        default=dict, blank=True,
        help_text=(
            'Kind-specific settings owned by a higher app. status: {"status_system": "<code>"}; '
            'personal_products: {"product_group": "<code>", "default_cells": 3, "max_cells": 5, '
            '"fill_period_days": 30, "clear": "never|day|week|month|period"}.'
        ),
    )
    editable_by_customer = models.BooleanField(default=False, help_text="The customer may set it in the app.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("kind", "name")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def stored_here(self) -> bool:
        """Values live in attributes_value (scalar types of generic and questionnaire attributes)."""
        return self.kind in self.STORED_KINDS and self.value_type in self.SCALAR_TYPES

    def option_codes(self) -> list[str]:
        return option_codes(self.options)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind in self.STORED_KINDS:
            allowed = self.SCALAR_TYPES + ((self.ValueType.GROUP,) if self.kind == self.Kind.QUESTIONNAIRE else ())
            if self.value_type not in allowed:
                errors["value_type"] = f"A {self.get_kind_display()} needs a value type."
        elif self.value_type:
            errors["value_type"] = f"A {self.get_kind_display()} attribute takes its type from its kind: leave it empty."
        if self.value_type in (self.ValueType.CHOICE, self.ValueType.MULTI_CHOICE):
            try:
                codes = option_codes(self.options)
            except ValueError as exc:
                errors["options"] = str(exc)
            else:
                if not codes:
                    errors["options"] = "List the options to choose from."
                elif len(set(codes)) != len(codes):
                    errors["options"] = "Option codes must be unique."
        if self.kind == self.Kind.NOTIFIER and not self.notifier_kind:
            errors["notifier_kind"] = "Say which notifier: phone, email or push."
        if self.kind == self.Kind.COUNTER and not self.counter_id:
            errors["counter"] = "Choose the counter."
        if self.kind == self.Kind.STATUS and not (self.config or {}).get("status_system"):
            errors["config"] = 'A status attribute needs {"status_system": "<code>"}.'
        if self.kind == self.Kind.PERSONAL_PRODUCTS and not (self.config or {}).get("product_group"):
            errors["config"] = 'Personal products need {"product_group": "<code>", ...}.'
        if errors:
            raise ValidationError(errors)


def option_codes(options: object) -> list[str]:
    """Options as stored (strings or {"code", "label"} dicts) -> their codes, in order."""
    if not isinstance(options, list):
        raise ValueError('Options must be a list: ["a", "b"] or [{"code": "a", "label": "A"}].')
    codes: list[str] = []
    for item in options:
        if isinstance(item, str) and item.strip():
            codes.append(item.strip())
        elif isinstance(item, dict) and isinstance(item.get("code"), str) and item["code"].strip():
            codes.append(item["code"].strip())
        else:
            raise ValueError(f"Option {item!r} needs a code.")
    return codes


def option_labels(options: object) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in options if isinstance(options, list) else []:
        if isinstance(item, str):
            out[item] = item
        elif isinstance(item, dict) and item.get("code"):
            out[str(item["code"])] = str(item.get("label") or item["code"])
    return out
