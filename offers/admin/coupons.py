"""Coupon issues (with batch generation and its progress) and coupons (lookup, revoke)."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.actors import Actor
from core.errors import DomainError
from offers.models import Coupon, CouponGrant, CouponIssue, CouponRedemption
from offers.services.coupons import (
    ISSUE_FIELDS,
    coupon_issue_batch,
    coupon_issue_create,
    coupon_issue_update,
    _validate_issue,
    coupon_revoke,
)


class CouponIssueForm(forms.ModelForm):
    class Meta:
        model = CouponIssue
        fields = "__all__"

    def clean(self):
        data = super().clean()
        probe = CouponIssue(**{name: data.get(name) for name in ISSUE_FIELDS if name in data})
        probe.pk = self.instance.pk
        probe.public_code = probe.public_code or None
        try:
            _validate_issue(probe)
        except DomainError as exc:
            if exc.field in self.fields:
                raise forms.ValidationError({exc.field: exc.message}) from exc
            raise forms.ValidationError(exc.message) from exc
        return data


class GenerateForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=10_000_000, initial=1000)


@admin.register(CouponIssue)
class CouponIssueAdmin(admin.ModelAdmin):
    form = CouponIssueForm
    list_display = ("id", "title", "kind", "partner", "public_code", "max_uses", "generated_count", "generation",
                    "progress_bar", "generate_link")
    list_filter = ("kind", "generation", "partner")
    search_fields = ("title", "public_code")
    readonly_fields = ("requested_count", "generated_count", "generation", "generation_error", "created_at")
    fieldsets = (
        (None, {"fields": ("kind", "partner", "title", "short_description", "long_description", "image",
                           "price_points", "public_code", "max_uses")}),
        ("Code format", {"fields": ("code_prefix", "code_length", "alphabet", "check_digit")}),
        ("Validity", {"fields": ("timezone", "activation_delay_days", "activation_round", "activate_at_fixed",
                                 "lifetime_days", "expiry_round", "expire_at_fixed")}),
        ("Generation", {"fields": ("requested_count", "generated_count", "generation", "generation_error",
                                   "created_at")}),
    )

    @admin.display(description="Progress")
    def progress_bar(self, obj: CouponIssue) -> str:
        return format_html('<progress max="100" value="{}"></progress> {}%', obj.progress, obj.progress)

    @admin.display(description="Codes")
    def generate_link(self, obj: CouponIssue) -> str:
        if obj.kind == CouponIssue.Kind.PUBLIC:
            return "-"
        return format_html('<a href="{}">generate…</a>', reverse("admin:offers_couponissue_generate", args=[obj.pk]))

    def save_model(self, request, obj, form, change) -> None:
        """Through the services: they validate the code format and public code, and audit."""
        actor = Actor.operator(request.user)
        fields = {name: form.cleaned_data[name] for name in ISSUE_FIELDS if name in form.cleaned_data}
        if change:
            changed = {name: value for name, value in fields.items() if name in form.changed_data}
            saved = coupon_issue_update(issue=obj, actor=actor, **changed)
        else:
            saved = coupon_issue_create(actor=actor, **fields)
        obj.pk = saved.pk

    def get_urls(self):
        return [path("<int:issue_id>/generate/", self.admin_site.admin_view(self.generate_view),
                     name="offers_couponissue_generate")] + super().get_urls()

    def generate_view(self, request, issue_id: int):
        if not self.has_change_permission(request):
            raise PermissionDenied
        issue = get_object_or_404(CouponIssue, pk=issue_id)
        form = GenerateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                coupon_issue_batch(issue=issue, count=form.cleaned_data["count"], actor=Actor.operator(request.user))
                messages.success(request, f"{form.cleaned_data['count']} codes queued; progress shows in the list.")
                return redirect("admin:offers_couponissue_changelist")
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        context = {**self.admin_site.each_context(request), "title": f"Generate codes: {issue}", "form": form,
                   "issue": issue, "opts": self.model._meta}
        return TemplateResponse(request, "admin/offers/generate.html", context)


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = ("code", "issue", "state", "customer", "uses", "max_uses", "activate_at", "expire_at", "used_at")
    list_filter = ("state", "issue")
    search_fields = ("=code",)  # exact: the table holds millions of codes
    raw_id_fields = ("customer", "issue", "grant")
    readonly_fields = [f.name for f in Coupon._meta.fields]
    show_full_result_count = False
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # codes come from batches and grants

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        actor = Actor.operator(request.user)
        for coupon in queryset[:1000]:
            try:
                coupon_revoke(coupon=coupon, actor=actor, reason="revoked in the admin")
            except DomainError as exc:
                messages.error(request, f"{coupon}: {exc.message}")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CouponRedemption)
class CouponRedemptionAdmin(ReadOnlyAdmin):
    list_display = ("id", "issue", "coupon", "customer_id", "key", "created_at", "cancelled_at")
    list_filter = ("issue",)
    search_fields = ("key", "=coupon__code")
    raw_id_fields = ("coupon",)


@admin.register(CouponGrant)
class CouponGrantAdmin(ReadOnlyAdmin):
    list_display = ("id", "issue", "customer", "key", "count", "created_at")
    search_fields = ("key",)
    raw_id_fields = ("customer",)


__all__ = ["CouponAdmin", "CouponIssueAdmin"]
