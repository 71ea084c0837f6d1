"""Attribute values per customer, laid out for segments over millions of customers.

Storage (chosen by measurement, see docs/attributes.md and bench/import/storage.py): a typed
EAV table keyed (customer, attribute), one typed column per value type, and one partial index
per type leading with the attribute: `attribute = X and value_int > 12` is an index range scan
that yields customer ids (INCLUDE customer_id: index-only), whatever the number of attributes.
Multiple-choice values are a text[] under a GIN index (`value_list @> '{dog}'`).

Invariant: exactly one typed column is non-null on a row, the one of the attribute's value type
(services and importers write through `attributes.values.value_columns`). A customer with no
value has no row ("not set").

Repeating questionnaire groups (children, pets, cars) are `GroupItem` rows, one per item, with
the item's answers in `data` (JSON: dates as ISO strings, numbers as strings): conditions on one
item stay together ("a boy older than 12") and there are only a few items per customer.
"""
from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q


class AttributeValue(models.Model):
    pk = models.CompositePrimaryKey("customer_id", "attribute_id")
    # No single-column FK indexes: the primary key leads with customer, the typed indexes with
    # attribute. No database FK constraints either: checking them (SELECT ... FOR KEY SHARE on the
    # parent, a WAL-logged row lock) tripled the cost of a 200,000-row import (13.8 s vs 4.5 s, see
    # docs/attributes.md). Integrity holds because only this app writes the table, always with
    # customer ids read from crm_customer in the same statement; customers are never deleted
    # (crm protects them), and deleting an attribute deletes its values through Django's CASCADE.
    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="+", db_index=False,
                                 db_constraint=False)
    attribute = models.ForeignKey("attributes.Attribute", on_delete=models.CASCADE, related_name="values",
                                  db_index=False, db_constraint=False)
    value_bool = models.BooleanField(null=True)
    value_int = models.BigIntegerField(null=True)
    value_dec = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    value_text = models.TextField(null=True)
    value_date = models.DateField(null=True)
    value_list = ArrayField(models.TextField(), null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "attributes_value"
        indexes = [
            models.Index(fields=["attribute", "value_bool"], include=["customer"], name="attrvalue_bool_idx",
                         condition=Q(value_bool__isnull=False)),
            models.Index(fields=["attribute", "value_int"], include=["customer"], name="attrvalue_int_idx",
                         condition=Q(value_int__isnull=False)),
            models.Index(fields=["attribute", "value_dec"], include=["customer"], name="attrvalue_dec_idx",
                         condition=Q(value_dec__isnull=False)),
            models.Index(fields=["attribute", "value_text"], include=["customer"], name="attrvalue_text_idx",
                         condition=Q(value_text__isnull=False)),
            models.Index(fields=["attribute", "value_date"], include=["customer"], name="attrvalue_date_idx",
                         condition=Q(value_date__isnull=False)),
            GinIndex(fields=["value_list"], name="attrvalue_list_gin", condition=Q(value_list__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"customer #{self.customer_id} attribute #{self.attribute_id}"

    @property
    def value(self):
        for column in ("value_bool", "value_int", "value_dec", "value_text", "value_date", "value_list"):
            current = getattr(self, column)
            if current is not None:
                return current
        return None


class GroupItem(models.Model):
    """One item of a repeating group (a child, a pet, a car) with its answers."""

    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="+", db_index=False)
    group = models.ForeignKey("attributes.QuestionGroup", on_delete=models.CASCADE, related_name="items", db_index=False)
    position = models.PositiveSmallIntegerField(help_text="0-based, the item's index in the API.")
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("customer_id", "group_id", "position")
        constraints = [
            models.UniqueConstraint(fields=["customer", "group", "position"], name="group_item_position_unique"),
        ]
        indexes = [models.Index(fields=["group", "customer"], name="group_item_group_idx")]

    def __str__(self) -> str:
        return f"customer #{self.customer_id} {self.group_id}[{self.position}]"
