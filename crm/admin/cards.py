"""Cards, card categories and groups in the admin. States change only through crm.services.cards."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.actors import Actor
from core.admin import AuditedModelAdmin
from core.errors import DomainError
from crm.admin.common import (
    CappedCountPaginator,
    ReasonActionForm,
    ServiceErrorsMixin,
    action_reason,
    domain_error_to_form,
    run_per_object,
)
from crm.models import Card, CardCategory, CardGroup
from crm.services.cards import card_activate, card_block, card_issue, card_replace, card_unblock


@admin.register(CardCategory)
class CardCategoryAdmin(AuditedModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


@admin.register(CardGroup)
class CardGroupAdmin(AuditedModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


class CardForm(forms.ModelForm):
    class Meta:
        model = Card
        fields = ("number", "barcode", "track", "kind", "category", "group", "customer", "expires_at")

    def validate_unique(self) -> None:
        if self.instance.pk:  # editing: barcode/track must stay unique, say so on the field
            super().validate_unique()
        # adding: card_issue names the field another card already has (and is idempotent for a retry)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=300, required=False)


class ReplaceForm(forms.Form):
    new_number = forms.CharField(max_length=32, label="New card number",
                                 help_text="A new number, or an unbound card that exists already.")
    new_barcode = forms.CharField(max_length=64, required=False)
    reason = forms.CharField(max_length=300, required=False)


@admin.register(Card)
class CardAdmin(ServiceErrorsMixin, AuditedModelAdmin):
    form = CardForm
    list_display = ("number", "barcode", "customer", "state", "category", "group", "kind", "issued_at")
    list_filter = ("state", "kind", "category", "group")
    search_fields = ("=number", "=barcode", "=track")
    search_help_text = "Exact card number, barcode or magnetic track."
    list_select_related = ("customer", "category", "group")
    raw_id_fields = ("customer",)
    paginator = CappedCountPaginator
    show_full_result_count = False
    actions = ["block_cards", "unblock_cards", "activate_cards"]
    action_form = ReasonActionForm
    readonly_fields = ("state", "state_reason", "replaced_by", "replaces_card", "issued_at", "activated_at",
                       "updated_at", "state_buttons")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("number", "barcode", "track", "kind", "category", "group", "customer", "expires_at")
        return ("number", "barcode", "track", "kind", "category", "group", "customer", "expires_at", "state",
                "state_reason", "state_buttons", "replaced_by", "replaces_card", "issued_at", "activated_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # Codes and the holder change only through services (issue, bind, replace, merge).
        return (*self.readonly_fields, "number", "kind", "customer")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a card is blocked or replaced, never deleted: purchases refer to it

    @admin.display(description="replaces")
    def replaces_card(self, obj: Card):
        previous = Card.objects.filter(replaced_by=obj).first()
        if previous is None:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:crm_card_change", args=[previous.pk]), previous.number)

    @admin.display(description="change state")
    def state_buttons(self, obj: Card):
        links = []
        if obj.state in (Card.State.ACTIVE, Card.State.NOT_ACTIVATED):
            links.append(("block", "Block"))
        if obj.state == Card.State.BLOCKED:
            links.append(("unblock", "Unblock"))
        if obj.state != Card.State.REPLACED:
            links.append(("replace", "Replace"))
        if not links:
            return "—"
        return format_html_join(" ", '<a class="button card-{}" href="{}">{}</a>',
                                ((name, reverse(f"admin:crm_card_{name}", args=[obj.pk]), label) for name, label in links))

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)  # category, group, expiry, codes: audited save
            return
        data = form.cleaned_data
        card, created = card_issue(
            number=data["number"], barcode=data.get("barcode") or None, track=data.get("track") or None,
            kind=data["kind"], category=data.get("category"), group=data.get("group"), customer=data.get("customer"),
            expires_at=data.get("expires_at"), actor=Actor.operator(request.user),
        )
        obj.pk = card.pk
        obj.refresh_from_db()
        if not created:
            messages.info(request, f"Card {card.number} already existed with these details.")

    # --- bulk actions --------------------------------------------------------------------

    @admin.action(description="Block selected cards (give a reason)", permissions=["change"])
    def block_cards(self, request, queryset) -> None:
        reason, actor = action_reason(request), Actor.operator(request.user)
        run_per_object(self, request, queryset, lambda c: card_block(card=c, reason=reason, actor=actor), "Blocked")

    @admin.action(description="Unblock selected cards", permissions=["change"])
    def unblock_cards(self, request, queryset) -> None:
        reason, actor = action_reason(request), Actor.operator(request.user)
        run_per_object(self, request, queryset, lambda c: card_unblock(card=c, reason=reason, actor=actor), "Unblocked")

    @admin.action(description="Activate selected cards", permissions=["change"])
    def activate_cards(self, request, queryset) -> None:
        actor = Actor.operator(request.user)
        run_per_object(self, request, queryset, lambda c: card_activate(card=c, actor=actor), "Activated")

    # --- one card: block / unblock / replace pages ---------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        own = [
            path("<int:pk>/block/", wrap(self.state_view), {"action": "block"}, name="crm_card_block"),
            path("<int:pk>/unblock/", wrap(self.state_view), {"action": "unblock"}, name="crm_card_unblock"),
            path("<int:pk>/replace/", wrap(self.state_view), {"action": "replace"}, name="crm_card_replace"),
        ]
        return own + super().get_urls()

    def state_view(self, request, pk: int, action: str):
        card = get_object_or_404(Card, pk=pk)
        if not self.has_change_permission(request, card):
            raise PermissionDenied
        form = (ReplaceForm if action == "replace" else ReasonForm)(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data, actor = form.cleaned_data, Actor.operator(request.user)
            try:
                if action == "block":
                    card_block(card=card, reason=data["reason"], actor=actor)
                elif action == "unblock":
                    card_unblock(card=card, reason=data["reason"], actor=actor)
                else:
                    new = card_replace(card=card, new_number=data["new_number"], new_barcode=data.get("new_barcode") or None,
                                       reason=data["reason"], actor=actor)
            except DomainError as exc:
                domain_error_to_form(form, exc)
            else:
                done = {"block": "blocked", "unblock": "unblocked"}.get(action, f"replaced by {data.get('new_number')}")
                messages.success(request, f"Card {card.number} {done}.")
                back = request.GET.get("next")
                if back and back.startswith("/admin/"):
                    return HttpResponseRedirect(back)
                target = card.customer_id and reverse("admin:crm_customer_change", args=[card.customer_id])
                if action == "replace" and not target:
                    target = reverse("admin:crm_card_change", args=[new.pk])
                return HttpResponseRedirect(target or reverse("admin:crm_card_change", args=[card.pk]))
        return TemplateResponse(request, "admin/crm/service_form.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "object": card, "form": form,
            "title": f"{action.title()} card {card.number}",
            "help": {"block": "A blocked card neither earns nor spends points.",
                     "unblock": "The card returns to active (or not activated, if it never was).",
                     "replace": "The old card ends 'replaced'; the new card gets its holder and its accounts."}[action],
            "submit": action.title(),
        })
