from __future__ import annotations

from django.contrib import admin, messages

from catalogue.models import Partner, Product, ProductGroup, ProductGroupMembership, Store, Till
from catalogue.services import till_create, till_rotate_secret
from core.actors import Actor
from core.admin import AuditedModelAdmin


@admin.register(Partner)
class PartnerAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "is_active")
    search_fields = ("code", "name")


class TillInline(admin.TabularInline):
    model = Till
    fields = ("code", "name", "api_key", "is_blocked")
    readonly_fields = ("api_key",)
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # tills are created on their own page, which shows the secret once


@admin.register(Store)
class StoreAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "partner", "timezone", "is_active")
    list_filter = ("partner", "is_active")
    search_fields = ("code", "name")
    inlines = [TillInline]


@admin.register(Till)
class TillAdmin(AuditedModelAdmin):
    list_display = ("code", "store", "name", "api_key", "is_blocked")
    list_filter = ("is_blocked", "store__partner")
    search_fields = ("code", "api_key", "store__code")
    readonly_fields = ("api_key",)
    actions = ["rotate_secret"]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        till, secret = till_create(store=obj.store, code=obj.code, name=obj.name, actor=Actor.operator(request.user))
        obj.pk, obj.api_key = till.pk, till.api_key
        messages.warning(
            request,
            f"Till credentials (shown once): Authorization: Till {till.api_key}:{secret}",
        )

    @admin.action(description="Issue a new secret (the old one stops working)")
    def rotate_secret(self, request, queryset) -> None:
        for till in queryset:
            secret = till_rotate_secret(till=till, actor=Actor.operator(request.user))
            messages.warning(request, f"{till}: Authorization: Till {till.api_key}:{secret}")


class MembershipInline(admin.TabularInline):
    model = ProductGroupMembership
    autocomplete_fields = ("product",)
    extra = 0


@admin.register(ProductGroup)
class ProductGroupAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "kind")
    search_fields = ("code", "name")
    inlines = [MembershipInline]


@admin.register(Product)
class ProductAdmin(AuditedModelAdmin):
    list_display = ("sku", "name", "price", "category", "brand", "is_active")
    list_filter = ("category", "is_active")
    search_fields = ("sku", "name", "brand")
