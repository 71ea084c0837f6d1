"""Admin: attribute definitions, the questionnaire designer (groups and questions inline, ordered
by position), counters. Every save and delete is audited; the questionnaire's attributes are
kept in step after each save; a counter whose definition changes is recalculated."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from attributes.models import Attribute, Counter, Question, QuestionGroup, Questionnaire
from attributes.services import counter_recalculate_request, questionnaire_sync
from core.actors import Actor
from core.admin import AuditedModelAdmin
from core.services import audit_record, snapshot


class AuditedInlineMixin:
    """Inline rows are audited one by one, like the page's own object."""

    def save_formset(self, request, form, formset, change) -> None:
        actor = Actor.operator(request.user)
        befores = {f.instance.pk: snapshot(type(f.instance).objects.get(pk=f.instance.pk))
                   for f in formset.forms if f.instance.pk and f.has_changed() and f not in formset.deleted_forms}
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            audit_record(actor=actor, action="admin.delete", target=obj, before=snapshot(obj))
            obj.delete()
        for obj in instances:
            before = befores.get(obj.pk)
            obj.save()
            audit_record(actor=actor, action="admin.change" if before else "admin.create", target=obj, before=before,
                         after=snapshot(obj))
        formset.save_m2m()


@admin.register(Attribute)
class AttributeAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "kind", "value_type", "editable_by_customer", "is_active")
    list_filter = ("kind", "value_type", "is_active")
    search_fields = ("code", "name")
    autocomplete_fields = ("counter",)
    fieldsets = (
        (None, {"fields": ("code", "name", "description", "kind", "value_type", "options", "is_active",
                           "editable_by_customer")}),
        ("By kind", {"fields": ("notifier_kind", "counter", "config"),
                     "description": "Notifier: which contact. Counter: which counter. Status system and personal "
                                    "products: settings owned by the statuses and offers apps (see the help)."}),
    )

    def get_readonly_fields(self, request, obj=None):
        # Questionnaire attributes follow their question: change the question instead.
        if obj is not None and obj.kind == Attribute.Kind.QUESTIONNAIRE:
            return ("code", "kind", "value_type", "options", "editable_by_customer")
        return ()


class QuestionGroupInline(AuditedInlineMixin, admin.TabularInline):
    model = QuestionGroup
    fields = ("position", "code", "name", "min_items", "max_items", "editable_by_customer")
    extra = 0
    show_change_link = True
    ordering = ("position", "id")


class QuestionInline(admin.StackedInline):
    model = Question
    fk_name = "questionnaire"
    extra = 0
    show_change_link = True
    ordering = ("group__position", "position", "id")
    fieldsets = (
        (None, {"fields": (("position", "group", "code"), ("label", "type", "required", "editable_by_customer"),
                           "options", "help_text")}),
        ("Validation rules", {"classes": ("collapse",), "fields": (
            ("min_length", "max_length"), ("pattern", "pattern_message"), ("min_value", "max_value", "decimal_places"),
            ("min_date", "max_date", "not_in_future"), ("min_choices", "max_choices"))}),
    )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "group":
            # only this questionnaire's groups
            questionnaire_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            kwargs["queryset"] = QuestionGroup.objects.filter(questionnaire_id=questionnaire_id or 0)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class AuditedQuestionInline(AuditedInlineMixin, QuestionInline):
    pass


def _sync(request: HttpRequest, questionnaire: Questionnaire) -> None:
    try:
        touched = questionnaire_sync(questionnaire=questionnaire, actor=Actor.operator(request.user))
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return
    if touched:
        messages.info(request, f"{touched} questionnaire attribute(s) updated for segments and imports.")


@admin.register(Questionnaire)
class QuestionnaireAdmin(AuditedModelAdmin):
    """The designer: groups (children, pets, cars) and questions, ordered by position."""

    list_display = ("name", "code", "is_active", "question_count")
    inlines = [QuestionGroupInline, AuditedQuestionInline]

    @admin.display(description="questions")
    def question_count(self, obj: Questionnaire) -> int:
        return obj.questions.count()

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        _sync(request, form.instance)


class GroupQuestionFormSet(forms.BaseInlineFormSet):
    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        form.instance.questionnaire_id = self.instance.questionnaire_id  # a group's questions are its questionnaire's
        return form


class GroupQuestionInline(AuditedInlineMixin, admin.StackedInline):
    model = Question
    fk_name = "group"
    formset = GroupQuestionFormSet
    extra = 0
    fieldsets = (
        (None, {"fields": (("position", "code"), ("label", "type", "required", "editable_by_customer"), "options",
                           "help_text")}),
        QuestionInline.fieldsets[1],
    )


@admin.register(QuestionGroup)
class QuestionGroupAdmin(AuditedModelAdmin):
    """A repeating group with its questions (each asked once per item)."""

    list_display = ("code", "name", "questionnaire", "position", "min_items", "max_items")
    list_filter = ("questionnaire",)
    inlines = [GroupQuestionInline]

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        _sync(request, form.instance.questionnaire)


@admin.register(Question)
class QuestionAdmin(AuditedModelAdmin):
    list_display = ("label", "code", "type", "required", "group", "questionnaire", "position")
    list_filter = ("questionnaire", "type", "required", "group")
    search_fields = ("code", "label")
    fieldsets = ((None, {"fields": ("questionnaire", "group", "position", "code", "label", "help_text", "type",
                                    "required", "editable_by_customer", "options")}),) + QuestionInline.fieldsets[1:]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        _sync(request, obj.questionnaire)

    def delete_model(self, request, obj) -> None:
        questionnaire = obj.questionnaire
        super().delete_model(request, obj)
        _sync(request, questionnaire)


DEFINITION_FIELDS = ("aggregate", "period", "period_days", "product_group", "store", "timezone", "is_active")


@admin.register(Counter)
class CounterAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "aggregate", "period", "period_days", "product_group", "store", "is_active",
                    "recalculation")
    list_filter = ("aggregate", "period", "is_active")
    search_fields = ("code", "name")
    readonly_fields = ("window_start", "recalc_pending", "recalculated_at")
    actions = ["recalculate"]

    @admin.display(description="recalculation")
    def recalculation(self, counter: Counter) -> str:
        if counter.recalc_pending:
            return f"{counter.recalc_pending} chunk(s) queued"
        return f"done {counter.recalculated_at:%Y-%m-%d %H:%M}" if counter.recalculated_at else "-"

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if not change or any(name in form.changed_data for name in DEFINITION_FIELDS):
            chunks = counter_recalculate_request(counter_id=obj.pk, actor=Actor.operator(request.user))
            messages.info(request, f"Recalculation queued ({chunks} chunk(s)): values follow the new definition.")

    @admin.action(description="Recalculate from the purchase history")
    def recalculate(self, request, queryset: QuerySet[Counter]) -> None:
        for counter in queryset:
            chunks = counter_recalculate_request(counter_id=counter.pk, actor=Actor.operator(request.user))
            messages.info(request, f"{counter}: {chunks} chunk(s) queued.")
