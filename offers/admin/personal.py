"""Personal product sets, and members' choices (read-only here: they choose in the app or via the call center)."""
from __future__ import annotations

from django.contrib import admin

from core.admin import AuditedModelAdmin
from offers.models import OfferCounter, PersonalProductChoice, PersonalProductSet


@admin.register(PersonalProductSet)
class PersonalProductSetAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "group", "max_choices", "offer", "changeable", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name")


@admin.register(PersonalProductChoice)
class PersonalProductChoiceAdmin(admin.ModelAdmin):
    list_display = ("customer", "product_set", "product", "channel", "chosen_at", "valid_until")
    list_filter = ("product_set", "channel")
    raw_id_fields = ("customer", "product")
    search_fields = ("=customer__id", "product__sku")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OfferCounter)
class OfferCounterAdmin(admin.ModelAdmin):
    list_display = ("offer", "customer_id", "uses", "benefit", "updated_at")
    list_filter = ("offer",)
    search_fields = ("=customer_id",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
