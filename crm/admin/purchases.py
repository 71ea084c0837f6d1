"""Purchase history in the admin: read-only (processing writes it), searchable and filterable.

Filters: date range, state, kind, store, offline; search: exact cheque number or card number;
by customer: `?customer__id__exact=<id>` (the customer page links here).
"""
from __future__ import annotations

from django.contrib import admin
from django.db.models import Prefetch
from django.urls import reverse
from django.utils.html import format_html

from crm.admin.common import CappedCountPaginator, DateRangeFilter
from crm.models import Purchase, PurchaseLine, PurchaseLineOffer


class PurchaseLineInline(admin.TabularInline):
    model = PurchaseLine
    fields = ("position", "sku", "name", "quantity", "price", "amount", "discount", "bonus_accrued", "bonus_paid",
              "refunded_quantity", "offers_applied")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(
            Prefetch("offers", queryset=PurchaseLineOffer.objects.order_by("id"))
        )

    @admin.display(description="offers")
    def offers_applied(self, obj: PurchaseLine) -> str:
        return "; ".join(f"#{o.offer_id} {o.offer_name}: {o.effect} {o.value}" for o in obj.offers.all()) or "—"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    list_display = ("number", "purchased_at", "store", "till_code", "card_number", "customer_link", "kind", "state",
                    "amount", "discount", "bonus_accrued", "bonus_paid")
    list_filter = (("purchased_at", DateRangeFilter), "state", "kind", "store", "offline")
    search_fields = ("=number", "=card__number")
    search_help_text = "Exact cheque number or card number."
    list_select_related = ("store", "till", "card", "customer")
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    inlines = [PurchaseLineInline]
    fields = ("number", "kind", "state", "original", "purchased_at", "confirmed_at", "offline", "store", "till", "card",
              "customer", "amount", "discount", "bonus_accrued", "bonus_paid", "trace")
    readonly_fields = fields

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        # The list never shows the heavy JSON columns; the change page needs `trace`.
        return qs if request.resolver_match and request.resolver_match.url_name.endswith("_change") else qs.defer("trace", "answer")

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        if lookup in ("customer__id__exact", "card__id__exact"):
            return True  # links from the customer and card pages
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="till")
    def till_code(self, obj: Purchase) -> str:
        return obj.till.code

    @admin.display(description="card")
    def card_number(self, obj: Purchase) -> str:
        return obj.card.number if obj.card_id else "—"

    @admin.display(description="customer")
    def customer_link(self, obj: Purchase):
        if not obj.customer_id:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:crm_customer_change", args=[obj.customer_id]), obj.customer)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
