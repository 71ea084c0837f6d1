"""Offers with their rules inline; state changes, rule copies, a dry run and the type reference."""
from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.actors import Actor
from core.admin import AuditedModelAdmin
from core.errors import DomainError
from core.services import audit_record, snapshot
from offers.admin.forms import DryRunForm, RuleForm
from offers.dry_run import offer_dry_run
from offers.engine.actions import ACTIONS
from offers.engine.filters import FILTERS, NEGATE
from offers.engine.schema import describe_params
from offers.models import Offer, Rule
from offers.sample import sample_cheque
from offers.services.offers import offer_set_state, rule_copy
from offers.snapshot import version_bump


def _reference_link() -> str:
    return format_html('<a href="{}" target="_blank">Filter and action reference (types, parameters, examples)</a>',
                       reverse("admin:offers_offer_reference"))


class RuleInline(admin.StackedInline):
    model = Rule
    form = RuleForm
    extra = 1
    ordering = ("position", "id")
    fields = ("name", "position", "is_enabled", "filters", "actions")
    show_change_link = True

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        form = formset.form
        form.base_fields["filters"].help_text = (
            'All must hold. JSON list, e.g. [{"type": "product_group", "groups": ["dairy"]}]. Types: '
            + ", ".join(FILTERS) + ".")
        form.base_fields["actions"].help_text = (
            'JSON list, e.g. [{"type": "discount", "mode": "percent", "value": "10"}]. Types: '
            + ", ".join(ACTIONS) + ".")
        return formset


@admin.register(Offer)
class OfferAdmin(AuditedModelAdmin):
    list_display = ("id", "name", "state", "event", "priority", "cumulative", "exclusive", "start_date", "end_date",
                    "dry_run_link")
    list_display_links = ("id", "name")
    list_filter = ("state", "event", "cumulative", "partners")
    search_fields = ("name", "description")
    readonly_fields = ("state", "activated_at", "created_at", "updated_at", "reference")
    inlines = [RuleInline]
    actions = ["activate", "pause", "finish"]
    fieldsets = (
        (None, {"fields": ("name", "description", "state", "event", "reference")}),
        ("Where and when", {"fields": ("start_date", "end_date", "partners", "stores")}),
        ("How it combines", {"fields": ("priority", "cumulative", "exclusive")}),
        ("Limits", {"fields": ("limit_per_customer", "max_benefit_per_cheque", "budget")}),
        ("History", {"fields": ("activated_at", "created_at", "updated_at"), "classes": ("collapse",)}),
    )

    @admin.display(description="Reference")
    def reference(self, obj: Offer | None) -> str:
        return _reference_link()

    @admin.display(description="Dry run")
    def dry_run_link(self, obj: Offer) -> str:
        return format_html('<a href="{}">try it</a>', reverse("admin:offers_offer_dry_run", args=[obj.pk]))

    # Writes: AuditedModelAdmin audits the offer; rules are audited here; every save invalidates
    # the compiled offers of all processes (after commit).
    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not Rule:
            return super().save_formset(request, form, formset, change)
        actor = Actor.operator(request.user)
        befores = {f.instance.pk: snapshot(Rule.objects.get(pk=f.instance.pk))
                   for f in formset.forms if f.instance.pk and f.has_changed()}
        instances = formset.save()
        for rule in instances:
            audit_record(actor=actor, action="rule.update" if rule.pk in befores else "rule.create", target=rule,
                         before=befores.get(rule.pk), after=snapshot(rule))
        for rule in formset.deleted_objects:
            audit_record(actor=actor, action="rule.delete", object_type="offers.rule", object_id=rule.pk,
                         before={"name": rule.name, "offer_id": rule.offer_id})
        version_bump()

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        version_bump()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        version_bump()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        version_bump()

    def _move(self, request: HttpRequest, queryset, state: str) -> None:
        actor = Actor.operator(request.user)
        for offer in queryset:
            try:
                offer_set_state(offer=offer, state=state, actor=actor)
                messages.success(request, f"{offer}: {state}.")
            except DomainError as exc:
                messages.error(request, f"{offer}: {exc.message}")

    @admin.action(description="Activate (after checking every rule)", permissions=["change"])
    def activate(self, request, queryset) -> None:
        self._move(request, queryset, Offer.State.ACTIVE)

    @admin.action(description="Pause", permissions=["change"])
    def pause(self, request, queryset) -> None:
        self._move(request, queryset, Offer.State.PAUSED)

    @admin.action(description="Finish (for good)", permissions=["change"])
    def finish(self, request, queryset) -> None:
        self._move(request, queryset, Offer.State.FINISHED)

    def get_urls(self):
        own = [
            path("<int:offer_id>/dry-run/", self.admin_site.admin_view(self.dry_run_view), name="offers_offer_dry_run"),
            path("reference/", self.admin_site.admin_view(self.reference_view), name="offers_offer_reference"),
        ]
        return own + super().get_urls()

    def dry_run_view(self, request: HttpRequest, offer_id: int) -> HttpResponse:
        """A sample cheque and member facts in; the per-line result and the trace out. Writes nothing."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        offer = get_object_or_404(Offer, pk=offer_id)
        result = None
        error = ""
        form = DryRunForm(request.POST or None, initial={"with_running": True, "event": offer.event})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                cheque = sample_cheque(
                    lines=data["lines"], store=data["store"], purchased_at=data["purchased_at"],
                    customer=form.customer_facts(), card=form.card_facts(),
                    coupon_issue_ids=[issue.pk for issue in data["coupon_issues"]], event=data["event"])
                result = offer_dry_run(offer=offer, cheque=cheque, with_running=data["with_running"])
            except DomainError as exc:
                error = f"{exc.field + ': ' if exc.field else ''}{exc.message}"
        context = {
            **self.admin_site.each_context(request),
            "title": f"Dry run: {offer}",
            "opts": self.model._meta,
            "original": offer,
            "offer": offer,
            "form": form,
            "result": result,
            "error": error,
            "result_json": json.dumps(result.as_dict(), indent=2, ensure_ascii=False) if result else "",
        }
        return TemplateResponse(request, "admin/offers/dry_run.html", context)

    def reference_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied

        def entries(registry: dict[str, Any], with_negate: bool) -> list[dict[str, Any]]:
            return [
                {"type": kind, "title": cls.TITLE, "level": getattr(cls, "LEVEL", ""),
                 "params": describe_params((*cls.PARAMS, NEGATE) if with_negate else cls.PARAMS),
                 "example": json.dumps(cls.EXAMPLE, ensure_ascii=False)}
                for kind, cls in registry.items()
            ]

        context = {
            **self.admin_site.each_context(request),
            "title": "Filters and actions",
            "opts": self.model._meta,
            "filters": entries(FILTERS, True),
            "actions": entries(ACTIONS, False),
        }
        return TemplateResponse(request, "admin/offers/reference.html", context)


@admin.register(Rule)
class RuleAdmin(AuditedModelAdmin):
    form = RuleForm
    list_display = ("id", "name", "offer", "position", "is_enabled")
    list_filter = ("is_enabled", "offer__state")
    search_fields = ("name", "offer__name")
    list_select_related = ("offer",)
    fields = ("offer", "name", "position", "is_enabled", "filters", "actions")
    actions = ["copy"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        version_bump()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        version_bump()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        version_bump()

    @admin.action(description="Copy (the copy gets the suffix _Copy)", permissions=["add"])
    def copy(self, request, queryset) -> None:
        actor = Actor.operator(request.user)
        for rule in queryset:
            created = rule_copy(rule=rule, actor=actor)
            messages.success(request, f"Copied as {created.name!r} (#{created.pk}).")


__all__ = ["OfferAdmin", "RuleAdmin"]
