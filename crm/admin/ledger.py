"""Currencies, accounts, ledger, adjustments in the admin.

Balances, lots, holds and entries are read-only here: points move only through the ledger
services. The one write is the adjustment form (by identifier, amount, reason), which calls
`ledger_adjust` / `ledger_adjust_by_identifier` with the operator as actor, so it is audited.
"""
from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.actors import Actor
from core.admin import AuditedModelAdmin
from core.errors import DomainError
from crm.models import Account, Currency, Hold, LedgerEntry, Lot
from crm.selectors.ledger import IDENTIFIER_TYPES
from crm.services.adjustments import ledger_adjust_by_identifier
from crm.services.ledger import ledger_adjust

ADJUST_PERMISSION = "crm.add_ledgerentry"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services: visible to roles that may view them, never edited here."""

    show_full_result_count = False  # counting a ledger-sized table on every page is wasteful

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Currency)
class CurrencyAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "is_default")
    search_fields = ("code", "name")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # accounts refer to it (PROTECT); a currency is retired, not deleted


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "customer", "currency", "activated_balance", "pending_balance", "held_balance", "updated_at")
    list_select_related = ("customer", "currency")
    list_filter = ("currency",)
    search_fields = ("=id", "=customer__id", "=customer__external_uid")
    fields = ("customer", "currency", "activated_balance", "pending_balance", "held_balance", "available", "cards_list",
              "actions_links", "recent_entries", "created_at", "updated_at")
    readonly_fields = fields
    change_form_template = "admin/crm/account/change_form.html"

    @admin.display(description="available (activated − held)")
    def available(self, account: Account) -> Decimal:
        return account.available_balance

    @admin.display(description="cards")
    def cards_list(self, account: Account) -> str:
        return ", ".join(f"{card.number} ({card.state})" for card in account.cards.all()) or "-"

    @admin.display(description="points")
    def actions_links(self, account: Account) -> str:
        statement = reverse("admin:crm_ledgerentry_changelist") + f"?account__id__exact={account.pk}"
        adjust = reverse("admin:crm_ledgerentry_adjust") + f"?identifier_type=account&identifier={account.pk}"
        return format_html('<a href="{}">full statement</a> · <a href="{}">adjust points</a>', statement, adjust)

    @admin.display(description="last 20 entries")
    def recent_entries(self, account: Account) -> str:
        rows = account.entries.order_by("-created_at", "-id")[:20]
        body = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((e.created_at.strftime("%Y-%m-%d %H:%M"), e.kind, e.amount, e.source, e.description) for e in rows),
        )
        return format_html("<table><tr><th>when</th><th>kind</th><th>amount</th><th>source</th><th>description</th>"
                           "</tr>{}</table>", body)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "account", "kind", "amount", "activated_delta", "pending_delta", "held_delta",
                    "source", "description", "actor_kind", "actor_id")
    list_filter = ("kind", "actor_kind")  # choices only: no DISTINCT over a huge table
    search_fields = ("=id", "=account__id", "=idempotency_key")
    raw_id_fields = ("account", "purchase", "lot", "hold", "reverses")
    change_list_template = "admin/crm/ledgerentry/change_list.html"

    def get_urls(self):
        return [path("adjust/", self.admin_site.admin_view(self.adjust_view), name="crm_ledgerentry_adjust"),
                *super().get_urls()]

    def adjust_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(ADJUST_PERMISSION):
            raise PermissionDenied
        form = AdjustmentForm(request.POST or None, initial={**request.GET.dict(), "idempotency_key": uuid.uuid4().hex})
        if request.method == "POST" and form.is_valid():
            entry = form.apply(actor=Actor.operator(request.user))
            if entry is not None:
                if getattr(entry, "replayed", False):
                    messages.warning(request, f"This form was already submitted: entry #{entry.pk} stands, nothing new was booked.")
                else:
                    messages.success(request, f"Adjusted account #{entry.account_id} by {entry.amount} (entry #{entry.pk}).")
                return HttpResponseRedirect(reverse("admin:crm_account_change", args=[entry.account_id]))
        context = {**self.admin_site.each_context(request), "title": "Adjust points", "form": form,
                   "opts": self.model._meta, "has_view_permission": True}
        return TemplateResponse(request, "admin/crm/ledgerentry/adjust.html", context)


class AdjustmentForm(forms.Form):
    identifier_type = forms.ChoiceField(choices=[("account", "account id"), *[(t, t.replace("_", " ")) for t in IDENTIFIER_TYPES]])
    identifier = forms.CharField(max_length=254)
    amount = forms.DecimalField(max_digits=18, decimal_places=2, help_text="Signed: negative takes points away.")
    reason = forms.CharField(max_length=300, widget=forms.Textarea(attrs={"rows": 3}))
    currency = forms.ModelChoiceField(Currency.objects.all(), required=False, empty_label="default currency",
                                      to_field_name="code")
    # One key per rendered form: submitting the same form twice books once.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def apply(self, *, actor: Actor) -> LedgerEntry | None:
        data = self.cleaned_data
        key = f"admin:{actor.id}:{data['idempotency_key']}"
        try:
            if data["identifier_type"] == "account":
                account = Account.objects.filter(pk=int(data["identifier"]) if data["identifier"].isdigit() else 0).first()
                if account is None:
                    raise DomainError("account_not_found", f"No account #{data['identifier']}.", field="identifier")
                return ledger_adjust(account=account, amount=data["amount"], reason=data["reason"],
                                     idempotency_key=key, actor=actor)
            return ledger_adjust_by_identifier(
                identifier_type=data["identifier_type"], identifier=data["identifier"], amount=data["amount"],
                reason=data["reason"], currency=data["currency"].code if data["currency"] else None,
                idempotency_key=key, actor=actor,
            )
        except DomainError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
            return None


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "amount", "remaining", "state", "activate_at", "expire_at", "expiring_notified")
    list_filter = ("state",)
    search_fields = ("=id", "=account__id")
    raw_id_fields = ("account",)


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "amount", "state", "source", "idempotency_key", "expires_at", "closed_at")
    list_filter = ("state",)
    search_fields = ("=id", "=account__id", "=idempotency_key")
    raw_id_fields = ("account",)
