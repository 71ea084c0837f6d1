"""Admin: marketers define systems with their statuses and conditions (typed in the condition
language, checked on save); call-center agents see customers' statuses and set them by hand
through the service (reason required, optional hold date, audited, in the history)."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from attributes.models import Attribute, Counter
from core.actors import Actor
from core.errors import DomainError
from statuses.conditions import conditions_format
from statuses.models import CustomerStatus, Status, StatusChange, StatusRecalculation, StatusSystem
from statuses.services import (
    conditions_check,
    status_assign_manual,
    status_delete,
    status_recalculation_start,
    status_save,
    status_system_save,
)

CONDITIONS_HELP = (
    "One per line (all must hold; empty = everyone). Counters: <code>spend_365 &gt;= 30000</code>, "
    "<code>visits_month (previous) &gt;= 4</code>. Attributes: <code>attribute city = moscow</code>, "
    "<code>attribute pets contains [dog, cat]</code>, <code>attribute email is set</code>."
)


class StatusInlineForm(forms.ModelForm):
    conditions_text = forms.CharField(
        label="Conditions", required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 48, "placeholder": "spend_365 >= 30000"}),
    )

    class Meta:
        model = Status
        fields = ("code", "name", "rank", "conditions_text")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["conditions_text"].initial = conditions_format(self.instance.conditions)

    def clean_conditions_text(self) -> list:
        try:
            return conditions_check(self.cleaned_data.get("conditions_text") or "")
        except DomainError as exc:
            raise ValidationError(exc.message) from None

    def clean(self):
        data = super().clean()
        if "conditions_text" in data:  # before the model's own clean, which checks the stored form
            self.instance.conditions = data["conditions_text"]
        return data


class StatusInline(admin.TabularInline):
    model = Status
    form = StatusInlineForm
    extra = 2
    ordering = ("rank",)
    verbose_name_plural = "statuses (a higher rank is a better status)"


class StatusSystemForm(forms.ModelForm):
    class Meta:
        model = StatusSystem
        fields = "__all__"

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        clash = Attribute.objects.filter(code=code).exclude(kind=Attribute.Kind.STATUS)
        if self.instance.attribute_id:
            clash = clash.exclude(pk=self.instance.attribute_id)
        if clash.exists():
            raise ValidationError("An attribute has this code already; a status system is an attribute too: "
                                  "choose another code.")
        return code


@admin.register(StatusSystem)
class StatusSystemAdmin(admin.ModelAdmin):
    form = StatusSystemForm
    list_display = ("code", "name", "period", "grace_days", "counter", "next_recalculation_at",
                    "last_recalculated_at", "statuses_list", "is_active")
    list_filter = ("is_active", "period")
    search_fields = ("code", "name")
    fields = ("code", "name", "description", "period", "grace_days", "timezone", "counter", "next_recalculation_at",
              "is_active", "last_recalculated_at", "attribute", "condition_help")
    readonly_fields = ("last_recalculated_at", "attribute", "condition_help")
    inlines = [StatusInline]
    actions = ["recalculate_upgrades"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("counter").prefetch_related("statuses")

    @admin.display(description="statuses")
    def statuses_list(self, obj: StatusSystem) -> str:
        return " < ".join(s.name for s in sorted(obj.statuses.all(), key=lambda s: s.rank))

    @admin.display(description="how to write conditions")
    def condition_help(self, obj: StatusSystem | None = None) -> str:
        counters = format_html_join(", ", "<code>{}</code> ({})", Counter.objects.filter(is_active=True)
                                    .order_by("code").values_list("code", "name"))
        attributes = format_html_join(", ", "<code>{}</code>", Attribute.objects.filter(
            is_active=True, kind__in=Attribute.STORED_KINDS).order_by("code").values_list("code"))
        help_text = mark_safe(CONDITIONS_HELP)  # noqa: S308 - a constant
        return format_html("{}<br>Counters: {}<br>Attributes: {}", help_text,
                           counters or "none", attributes or "none")

    def save_model(self, request, obj, form, change) -> None:
        status_system_save(system=obj, actor=Actor.operator(request.user))

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not Status:
            return super().save_formset(request, form, formset, change)
        actor = Actor.operator(request.user)
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            try:
                status_delete(status=obj, actor=actor)
            except DomainError as exc:
                messages.error(request, exc.message)
        for obj in sorted(instances, key=lambda s: s.rank):
            status_save(status=obj, actor=actor)
        formset.save_m2m()

    @admin.action(description="Recalculate now: upgrades only (downgrades wait for the schedule)")
    def recalculate_upgrades(self, request, queryset) -> None:
        for system in queryset:
            run = status_recalculation_start(system_id=system.pk, mode=StatusRecalculation.Mode.UPGRADE,
                                             actor=Actor.operator(request.user))
            messages.info(request, f"{system}: recalculation #{run.pk} started ({run.chunks_total} chunks).")


class CustomerStatusForm(forms.ModelForm):
    reason = forms.CharField(max_length=300, help_text="Why the status is set by hand (kept in the history).")
    hold_until = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Automatic recalculation leaves the status alone until the end of this day. Empty: no hold.",
    )

    class Meta:
        model = CustomerStatus
        fields = ("customer", "system", "status")

    def clean(self):
        data = super().clean()
        system = data.get("system") or getattr(self.instance, "system", None)
        status = data.get("status")
        if system is not None and status is not None and status.system_id != system.pk:
            self.add_error("status", f"'{status}' is not a status of {system}.")
        return data

    def validate_unique(self) -> None:
        # Adding a row for a customer who has one already is an assignment too: the service
        # updates the existing row, so the unique (system, customer) check is not the form's.
        pass


@admin.register(CustomerStatus)
class CustomerStatusAdmin(admin.ModelAdmin):
    form = CustomerStatusForm
    list_display = ("customer", "system", "status", "since", "manual_until", "grace_until", "reason")
    list_filter = ("system", "status")
    search_fields = ("=customer__id",)
    list_select_related = ("customer", "system", "status")
    raw_id_fields = ("customer",)
    show_full_result_count = False

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("customer", "system", "status", "reason", "hold_until")
        return ("customer", "system", "status", "reason", "hold_until", "since", "manual_until", "grace_until",
                "history")

    def get_readonly_fields(self, request, obj=None):
        return ("customer", "system", "since", "manual_until", "grace_until", "history") if obj else ()

    def get_changeform_initial_data(self, request):
        return {**super().get_changeform_initial_data(request), "reason": ""}

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        field = form.base_fields.get("status")
        if field is not None:
            statuses = Status.objects.select_related("system").order_by("system__name", "rank")
            field.queryset = statuses.filter(system_id=obj.system_id) if obj is not None else statuses
            field.label_from_instance = lambda s: f"{s.system.name}: {s.name}"
            field.help_text = "Empty: take the status away."
        return form

    @admin.display(description="history")
    def history(self, obj: CustomerStatus) -> str:
        rows = (StatusChange.objects.filter(customer_id=obj.customer_id, system_id=obj.system_id)
                .select_related("from_status", "to_status")[:20])
        body = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f"{c.created_at:%Y-%m-%d %H:%M}", c.from_status or "-", c.to_status or "-", c.get_reason_display(),
              c.actor_label, c.comment) for c in rows))
        return format_html("<table><tr><th>when</th><th>from</th><th>to</th><th>why</th><th>by</th><th>comment</th>"
                           "</tr>{}</table>", body)

    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        change_row = status_assign_manual(
            customer_id=obj.customer_id, system=obj.system, status=data.get("status"), reason=data["reason"],
            hold_until=data.get("hold_until"), actor=Actor.operator(request.user))
        saved = CustomerStatus.objects.get(system_id=change_row.system_id, customer_id=change_row.customer_id)
        obj.pk = saved.pk
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # take a status away by assigning none, so the history says who and why


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StatusChange)
class StatusChangeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "customer", "system", "from_status", "to_status", "reason", "actor_label", "comment")
    list_filter = ("system", "reason")
    search_fields = ("=customer__id",)
    list_select_related = ("customer", "system", "from_status", "to_status")
    show_full_result_count = False


@admin.register(StatusRecalculation)
class StatusRecalculationAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "system", "mode", "state", "as_of", "chunks_done", "chunks_total", "changes",
                    "rows_written", "finished_at")
    list_filter = ("system", "mode", "state")
    exclude = ("done_chunks",)
