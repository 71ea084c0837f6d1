"""Segments in the admin: a builder (tree of conditions, with the JSON beside it) and a live preview
through the API, refresh and upload buttons, refresh history; the RFM matrix with a chart.

Every write goes through segments.services (audited); definition errors come back on the field,
each with its place in the tree.
"""
from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.actors import Actor
from core.errors import DomainError
from core.imports import import_job_create
from segments import selectors, services, tasks
from segments.conditions import KINDS
from segments.definition import DefinitionError, definition_validate
from segments.models import RfmScore, RfmSettings, Segment, SegmentRefresh
from segments.rfm import CELL_NAMES

SYNC_REFRESH_LIMIT = 200_000  # bigger segments are refreshed by a worker, not in the request


def builder_spec() -> str:
    """What the builder needs to draw inputs for each condition kind."""
    return json.dumps({k.kind: {"title": k.title, "fields": k.fields, "example": k.example} for k in KINDS.values()})


class DefinitionWidget(forms.Textarea):
    template_name = "segments/definition_widget.html"

    class Media:
        js = ("segments/builder.js",)
        css = {"all": ("segments/builder.css",)}

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["spec"] = builder_spec()
        return context

    def format_value(self, value):
        if isinstance(value, str):
            return value
        return json.dumps(value or {}, indent=2, ensure_ascii=False)


class SegmentForm(forms.ModelForm):
    definition = forms.JSONField(required=False, widget=DefinitionWidget(attrs={"rows": 14, "cols": 90}),
                                 help_text="Built above, or typed as JSON (see docs/segments.md). Static segments: empty.")

    class Meta:
        model = Segment
        fields = ("name", "description", "kind", "definition", "auto_refresh", "is_active")

    def clean(self):
        data = super().clean()
        kind = data.get("kind") or (self.instance.kind if self.instance.pk else None)
        definition = data.get("definition")
        if kind == Segment.Kind.DYNAMIC and "definition" not in self.errors:
            try:
                definition_validate(definition)
            except DefinitionError as exc:
                self.add_error("definition", [f"{where}: {why}" for where, whys in exc.errors.items() for why in whys])
            except DomainError as exc:
                self.add_error("definition", exc.message)
        if kind == Segment.Kind.STATIC and definition not in (None, {}, []):
            self.add_error("definition", "A static segment has no definition: its members are uploaded.")
        return data


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ("name", "kind", "member_count", "refreshed_at", "auto_refresh", "is_active", "refresh_error_short")
    list_filter = ("kind", "is_active", "auto_refresh")
    search_fields = ("name", "description")
    readonly_fields = ("member_count", "refreshed_at", "refresh_ms", "refresh_error", "buttons", "history")
    change_form_template = "segments/segment_change_form.html"

    def get_fields(self, request, obj=None):
        fields = ["name", "description", "kind", "definition", "auto_refresh", "is_active"]
        return fields if obj is None else [*fields, "buttons", "member_count", "refreshed_at", "refresh_ms", "refresh_error",
                                           "history"]

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "kind") if obj else ()

    @admin.display(description="last error")
    def refresh_error_short(self, obj: Segment) -> str:
        return obj.refresh_error[:60]

    @admin.display(description="actions")
    def buttons(self, obj: Segment):
        if obj.pk is None:
            return "—"
        links = [format_html('<a class="button seg-export" href="/api/v1/segments/{}/export">Export CSV</a>', obj.pk)]
        if obj.kind == Segment.Kind.DYNAMIC:
            links.insert(0, format_html(
                '<button type="submit" form="seg-refresh-form" class="button seg-refresh">Refresh now</button>'))
        else:
            links.insert(0, format_html('<a class="button seg-upload" href="{}">Upload members</a>',
                                        reverse("admin:segments_segment_upload", args=[obj.pk])))
        return format_html(" ".join(["{}"] * len(links)), *links)

    @admin.display(description="last refreshes")
    def history(self, obj: Segment):
        rows = list(SegmentRefresh.objects.filter(segment=obj).order_by("-at")[:10])
        if not rows:
            return "—"
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>+{}</td><td>-{}</td><td>{}</td><td>{} ms</td><td>{}</td></tr>",
                                ((f"{r.at:%Y-%m-%d %H:%M:%S}", r.source, r.joined, r.left, r.members, r.duration_ms,
                                  r.actor_label) for r in rows))
        return format_html('<table class="seg-history"><tr><th>at</th><th>by</th><th>joined</th><th>left</th>'
                           "<th>members</th><th>took</th><th>who</th></tr>{}</table>", body)

    def save_model(self, request, obj, form, change) -> None:
        actor = Actor.operator(request.user)
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data if name in services.segments.EDITABLE}
            if changes:
                services.segment_update(segment=obj, actor=actor, **changes)
            obj.refresh_from_db()
            return
        created = services.segment_create(name=data["name"], kind=data["kind"], definition=data.get("definition"),
                                          description=data.get("description", ""), auto_refresh=data["auto_refresh"],
                                          actor=actor)
        obj.pk = created.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change) -> None:
        pass  # the only inline is read-only history

    def delete_model(self, request, obj) -> None:
        services.segment_delete(segment=obj, actor=Actor.operator(request.user))

    def delete_queryset(self, request, queryset) -> None:
        for segment in queryset:
            services.segment_delete(segment=segment, actor=Actor.operator(request.user))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            messages.error(request, f"{exc.field + ': ' if exc.field else ''}{exc.message}")
            return HttpResponseRedirect(request.get_full_path())

    def get_urls(self):
        wrap = self.admin_site.admin_view
        own = [
            path("<int:pk>/refresh/", wrap(self.refresh_view), name="segments_segment_refresh"),
            path("<int:pk>/upload/", wrap(self.upload_view), name="segments_segment_upload"),
        ]
        return own + super().get_urls()

    def refresh_view(self, request, pk: int):
        segment = get_object_or_404(Segment, pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, segment):
            raise PermissionDenied
        actor = Actor.operator(request.user)
        if (segment.member_count or 0) > SYNC_REFRESH_LIMIT:
            tasks.segment_refresh.delay(segment.pk, actor.label)
            messages.info(request, f"Refresh of '{segment}' queued for a worker (large segment).")
        else:
            try:
                done = services.segment_refresh(segment_id=segment.pk, actor=actor)
            except DomainError as exc:
                messages.error(request, f"Not refreshed: {exc.message}")
            else:
                messages.success(request, f"Refreshed '{segment}': {done.members} members "
                                          f"(+{done.joined} joined, -{done.left} left) in {done.duration_ms} ms.")
        return HttpResponseRedirect(reverse("admin:segments_segment_change", args=[segment.pk]))

    def upload_view(self, request, pk: int):
        segment = get_object_or_404(Segment, pk=pk)
        if not self.has_change_permission(request, segment):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            if segment.kind != Segment.Kind.STATIC:
                form.add_error(None, "Only a static segment takes an uploaded list.")
            else:
                try:
                    job = import_job_create(kind="segments.static_members", upload=form.cleaned_data["file"],
                                            actor=Actor.operator(request.user),
                                            options={"segment_id": segment.pk, "replace": form.cleaned_data["replace"]})
                except DomainError as exc:
                    form.add_error("file" if exc.field == "file" else None, exc.message)
                else:
                    messages.success(request, f"Upload accepted: import job #{job.pk} adds the members in the background.")
                    return HttpResponseRedirect(reverse("admin:core_importjob_change", args=[job.pk]))
        return TemplateResponse(request, "segments/upload.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "object": segment, "form": form,
            "title": f"Upload members of {segment}"})


class UploadForm(forms.Form):
    file = forms.FileField(help_text="CSV in UTF-8 (';' or ','): identifier_type (card, phone, email, external_uid); identifier.")
    replace = forms.BooleanField(required=False, help_text="Make the file the whole membership (otherwise add).")


class RfmSettingsForm(forms.ModelForm):
    class Meta:
        model = RfmSettings
        fields = ("window_days", "method", "recency_days", "frequency", "monetary")


@admin.register(RfmSettings)
class RfmSettingsAdmin(admin.ModelAdmin):
    """The list page is the RFM matrix; the one row of settings is edited through the service."""

    form = RfmSettingsForm

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("recompute/", wrap(self.recompute_view), name="segments_rfm_recompute"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        matrix = selectors.rfm_matrix()
        biggest = max((c.customers for c in matrix["cells"]), default=0) or 1
        squares_max = max((sq["customers"] for row in matrix["grid"] for sq in row["squares"]), default=0) or 1
        bars = [{"cell": c, "width": round(300 * c.customers / biggest), "y": 24 * i} for i, c in enumerate(matrix["cells"])]
        grid = [{"r": row["r"], "y": 20 + 56 * i, "squares": [
            {**sq, "x": 40 + 84 * (sq["fm"] - 1), "opacity": round(0.15 + 0.85 * sq["customers"] / squares_max, 2),
             "label": CELL_NAMES[sq["cell"]]} for sq in row["squares"]]} for i, row in enumerate(matrix["grid"])]
        return TemplateResponse(request, "segments/rfm_matrix.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": "RFM matrix",
            "matrix": matrix, "bars": bars, "bars_height": 24 * len(bars) + 10, "grid": grid,
            "settings": RfmSettings.load(), "can_change": self.has_change_permission(request)})

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is None or str(object_id) != "1":
            return HttpResponseRedirect(reverse("admin:segments_rfmsettings_changelist"))
        if not RfmSettings.objects.filter(pk=1).exists():
            RfmSettings.load().save()  # the defaults, so that the page can edit them
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            messages.error(request, f"{exc.field + ': ' if exc.field else ''}{exc.message}")
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change) -> None:
        services.rfm_settings_update(actor=Actor.operator(request.user), **{k: form.cleaned_data[k] for k in form.changed_data})

    def recompute_view(self, request):
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        if request.POST.get("now"):
            scored = services.rfm_recompute(actor=Actor.operator(request.user))
            messages.success(request, f"RFM recomputed: {scored} customers scored.")
        else:
            tasks.rfm_recompute.delay(request.user.get_username())
            messages.info(request, "RFM recomputation queued for a worker.")
        return HttpResponseRedirect(reverse("admin:segments_rfmsettings_changelist"))


@admin.register(RfmScore)
class RfmScoreAdmin(admin.ModelAdmin):
    list_display = ("customer_id", "cell", "r", "f", "m", "frequency", "monetary", "last_purchase_at")
    list_filter = ("cell", "r", "f", "m")
    search_fields = ("=customer__id",)
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
