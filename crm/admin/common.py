"""Admin pieces shared by the customer-side pages: service errors as messages, reason forms, capped
counts for tables that grow without bound, a date-range filter."""
from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.utils.dateparse import parse_date
from django.utils.functional import cached_property

from core.errors import DomainError

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows: exact for small results, "10,000+" for the rest.

    A COUNT(*) over tens of millions of customers or purchases on every list page is the slow part
    of the admin; a capped count reads at most COUNT_CAP index entries.
    """

    @cached_property
    def count(self) -> int:
        try:
            return self.object_list.order_by()[: COUNT_CAP + 1].count()
        except (AttributeError, TypeError):
            return len(self.object_list)


class ServiceErrorsMixin:
    """A DomainError raised by a service while saving becomes an error message on the same page.

    The admin's own transaction has rolled back by then, so nothing was changed.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            field = f"{exc.field}: " if exc.field else ""
            messages.error(request, f"{field}{exc.message}")
            return HttpResponseRedirect(request.get_full_path())


def domain_error_to_form(form: forms.Form, exc: DomainError) -> None:
    """Attach a service's refusal to the form field it names (or to the whole form)."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


class ReasonActionForm(ActionForm):
    """The action bar with a reason box, for actions that need one (block, unblock)."""

    reason = forms.CharField(required=False, max_length=300, label="Reason",
                             widget=forms.TextInput(attrs={"placeholder": "reason (for block/unblock)", "size": 30}))


def action_reason(request) -> str:
    return (request.POST.get("reason") or "").strip()


def run_per_object(modeladmin, request, queryset, func, done: str) -> None:
    """Run a service per selected row; each refusal is reported, the others still happen."""
    ok = 0
    for obj in queryset:
        try:
            func(obj)
            ok += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
    if ok:
        modeladmin.message_user(request, f"{done}: {ok}.", messages.SUCCESS)


class DateRangeFilter(admin.DateFieldListFilter):
    """Today / past 7 days / this month, plus a from-until form (UTC days; `until` excluded)."""

    template = "admin/crm/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        own = {self.lookup_kwarg_since, self.lookup_kwarg_until}
        self.other_params = [(k, v) for k, values in request.GET.lists() if k not in own and k != "p" for v in values]
        self.since_value = request.GET.get(self.lookup_kwarg_since, "")[:10]
        self.until_value = request.GET.get(self.lookup_kwarg_until, "")[:10]

    def queryset(self, request, queryset):
        # A bare date from the form is a UTC day: make it an aware midnight (no naive datetimes).
        for key, values in list(self.used_parameters.items()):
            value = values[-1] if isinstance(values, list) else values
            if isinstance(value, str) and len(value) == 10:
                try:
                    day = parse_date(value)
                except ValueError:
                    day = None
                if day is None:
                    raise IncorrectLookupParameters(f"'{value}' is not a date (YYYY-MM-DD).")
                self.used_parameters[key] = [dt.datetime.combine(day, dt.time.min, tzinfo=dt.timezone.utc)]
        return super().queryset(request, queryset)
