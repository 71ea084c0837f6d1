"""Personal products: a member picks up to N products of a group and gets a preference on them
(an offer's `personal_products` action). The choice holds for the period of the set's offer."""
from __future__ import annotations

from django.db import models


class PersonalProductSet(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    group = models.ForeignKey("catalogue.ProductGroup", on_delete=models.PROTECT, related_name="personal_sets",
                              help_text="Members choose among the products of this group.")
    max_choices = models.PositiveSmallIntegerField(default=3, help_text="A member chooses up to this many.")
    offer = models.ForeignKey("offers.Offer", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="personal_sets", help_text="Choices hold until this offer's end date.")
    changeable = models.BooleanField(default=True, help_text="Members may change their choice during the period "
                                                             "(the call center always may).")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)
        constraints = [models.CheckConstraint(condition=models.Q(max_choices__gte=1), name="personal_set_choices_positive")]

    def __str__(self) -> str:
        return self.name


class PersonalProductChoice(models.Model):
    class Channel(models.TextChoices):
        APP = "app"
        CALL_CENTER = "call_center", "call center"
        ADMIN = "admin"

    product_set = models.ForeignKey(PersonalProductSet, on_delete=models.CASCADE, related_name="choices")
    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="personal_products")
    product = models.ForeignKey("catalogue.Product", on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    chosen_at = models.DateTimeField(auto_now_add=True)
    valid_until = models.DateField(null=True, blank=True, help_text="The offer's last day; empty: until changed.")

    class Meta:
        ordering = ("product_set_id", "customer_id", "id")
        constraints = [models.UniqueConstraint(fields=["product_set", "customer", "product"],
                                               name="personal_choice_unique")]
        indexes = [models.Index(fields=["customer", "product_set"], name="personal_choice_customer_idx")]
