from __future__ import annotations

from django.contrib import admin

from core.actors import Actor
from core.models import AuditEvent
from core.services import audit_record, snapshot


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_kind", "actor_label", "action", "object_type", "object_id", "object_repr")
    list_filter = ("actor_kind", "action", "object_type")
    search_fields = ("object_id", "actor_label", "object_repr")
    date_hierarchy = "created_at"
    show_full_result_count = False  # counting a huge audit table on every page is wasteful

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AuditedModelAdmin(admin.ModelAdmin):
    """Admin for reference data whose writes are plain saves: each save and delete is audited.

    Models with business rules (balances, states) are changed through their services instead.
    """

    def save_model(self, request, obj, form, change) -> None:
        before = snapshot(type(obj).objects.get(pk=obj.pk)) if change and obj.pk else None
        super().save_model(request, obj, form, change)
        audit_record(
            actor=Actor.operator(request.user),
            action="admin.change" if change else "admin.create",
            target=obj,
            before=before,
            after=snapshot(obj),
        )

    def delete_model(self, request, obj) -> None:
        audit_record(actor=Actor.operator(request.user), action="admin.delete", target=obj, before=snapshot(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            audit_record(actor=Actor.operator(request.user), action="admin.delete", target=obj, before=snapshot(obj))
        super().delete_queryset(request, queryset)


__all__ = ["AuditedModelAdmin"]


from django import forms  # noqa: E402
from django.utils.html import format_html  # noqa: E402

from core.imports import import_file_check, import_job_create, importer_get, importers_all  # noqa: E402
from core.models import ImportJob  # noqa: E402


class ImportUploadForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=())
    file = forms.FileField(help_text="CSV in UTF-8, ';' or ',' separated; the first line names the columns.")

    class Meta:
        model = ImportJob
        fields = ("kind", "file")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [
            (imp.kind, f"{imp.label} — columns: {', '.join(imp.required_columns + imp.optional_columns)}")
            for imp in importers_all().values()
        ]

    def clean(self):
        from core.errors import DomainError

        data = super().clean()
        if data.get("kind") and data.get("file"):
            try:
                import_file_check(kind=data["kind"], upload=data["file"])
            except DomainError as exc:
                self.add_error(exc.field or None, exc.message)
        return data


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Upload a CSV (Add), then watch its progress in the list; bad rows come back in the report."""

    list_display = ("created_at", "kind", "original_name", "state", "progress", "rows_ok", "rows_failed", "actor_label", "report_link")
    list_filter = ("kind", "state")
    readonly_fields = (
        "kind", "state", "original_name", "file_sha256", "rows_total", "rows_done", "rows_ok", "rows_failed",
        "error_message", "actor_label", "created_at", "started_at", "finished_at", "report_link",
    )
    exclude = ("file", "report", "delimiter", "options", "actor_kind", "actor_id")

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def get_fields(self, request, obj=None):
        return ("kind", "file") if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, **kwargs):
        form_class = super().get_form(request, obj, **kwargs) if obj else None
        if obj is not None:
            return form_class
        user = request.user

        class UploadForm(ImportUploadForm):
            def clean(self):
                data = super().clean()
                kind = data.get("kind")
                if kind:
                    importer = importer_get(kind)
                    if importer.permission and not user.has_perm(importer.permission):
                        self.add_error("kind", f"Your role may not run '{kind}' imports.")
                return data

        return UploadForm

    def save_model(self, request, obj, form, change) -> None:
        job = import_job_create(kind=form.cleaned_data["kind"], upload=form.cleaned_data["file"],
                                actor=Actor.operator(request.user))
        obj.pk = job.pk

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, job: ImportJob) -> str:
        percent = job.percent
        return f"{job.rows_done}/{job.rows_total or '?'} ({percent}%)" if percent is not None else f"{job.rows_done}"

    @admin.display(description="error report")
    def report_link(self, job: ImportJob) -> str:
        if not job.report:
            return "-"
        return format_html('<a href="/api/v1/imports/{}/report">download</a>', job.pk)
