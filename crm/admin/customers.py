"""Customers, their contacts and the program settings in the admin.

Every write goes through crm.services (audited there): the forms only collect input. Agents find a
customer by any identifier in the search box (phone in any format, email, card number, barcode,
track, external UID, #id, last name).
"""
from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

import phonenumbers

from core.actors import Actor
from core.admin import AuditedModelAdmin
from core.errors import DomainError
from core.services import audit_record, snapshot
from crm.admin.common import (
    CappedCountPaginator,
    ReasonActionForm,
    ServiceErrorsMixin,
    action_reason,
    domain_error_to_form,
    run_per_object,
)
from crm.identifiers import email_normalize, notifier_value_normalize, phone_normalize
from crm.models import Customer, Notifier, ProgramSettings
from crm.selectors.customers import customer_find, customer_search_ids
from crm.senders import debug_last_code
from crm.services.customers import (
    PROFILE_FIELDS,
    customer_block,
    customer_create,
    customer_profile_clean,
    customer_unblock,
    customer_update,
)
from crm.services.merge import customer_merge
from crm.services.notifiers import notifier_add, notifier_remove, notifier_verify_confirm, notifier_verify_request


def _refusal(exc: DomainError) -> ValidationError:
    return ValidationError({exc.field: exc.message} if exc.field else exc.message)


class CustomerForm(forms.ModelForm):
    phone = forms.CharField(required=False, max_length=32, help_text="Added unverified; verify it with a code.")
    email = forms.CharField(required=False, max_length=254)

    class Meta:
        model = Customer
        fields = ("first_name", "last_name", "middle_name", "gender", "birth_date", "timezone", "external_uid")

    def clean(self):
        cleaned = super().clean()
        profile = {name: cleaned.get(name) for name in PROFILE_FIELDS if name in self.fields}
        try:
            cleaned.update(customer_profile_clean(profile))
            if cleaned.get("phone"):
                cleaned["phone"] = phone_normalize(cleaned["phone"], field="phone")
            if cleaned.get("email"):
                cleaned["email"] = email_normalize(cleaned["email"], field="email")
        except DomainError as exc:
            raise _refusal(exc) from exc
        return cleaned


@admin.register(Customer)
class CustomerAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    form = CustomerForm
    list_display = ("id", "full_name", "state", "phone", "registered_at", "registration_channel")
    list_display_links = ("id", "full_name")
    list_filter = ("state", "registration_channel", "gender")
    search_fields = ("last_name",)  # shows the box; the search itself is customer_search (identifiers)
    search_help_text = "Phone, email, card number, barcode, track, external UID, #id or last name."
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    actions = ["block_customers", "unblock_customers"]
    action_form = ReasonActionForm
    readonly_fields = ("state", "blocked_reason", "registered_at", "registration_channel", "registration_store",
                       "merged_into", "created_at", "updated_at", "contacts_panel", "cards_panel", "accounts_panel",
                       "links_panel")

    def get_fieldsets(self, request, obj=None):
        profile = ("first_name", "last_name", "middle_name", "gender", "birth_date", "timezone", "external_uid")
        if obj is None:
            return [(None, {"fields": (*profile, "phone", "email")})]
        return [
            (None, {"fields": profile}),
            ("State", {"fields": ("state", "blocked_reason", "registered_at", "registration_channel",
                                  "registration_store", "merged_into", "created_at", "updated_at")}),
            ("Contacts", {"fields": ("contacts_panel",)}),
            ("Cards", {"fields": ("cards_panel",)}),
            ("Accounts", {"fields": ("accounts_panel",)}),
            ("More", {"fields": ("links_panel",)}),
        ]

    def get_queryset(self, request):
        phone = Notifier.objects.filter(customer=OuterRef("pk"), kind="phone").order_by("-is_primary", "-verified", "id")
        return super().get_queryset(request).annotate(primary_phone=Subquery(phone.values("value")[:1]))

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(pk__in=customer_search_ids(query=search_term, limit=100)), False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # customers are blocked or merged, never deleted (history refers to them)

    @admin.display(description="name", ordering="last_name")
    def full_name(self, obj: Customer) -> str:
        return " ".join(p for p in (obj.last_name, obj.first_name, obj.middle_name) if p) or "(anonymous)"

    @admin.display(description="phone")
    def phone(self, obj: Customer) -> str:
        return getattr(obj, "primary_phone", None) or "—"

    # --- panels on the change page ---------------------------------------------------------

    @admin.display(description="contacts")
    def contacts_panel(self, obj: Customer):
        rows = format_html_join(
            "", '<tr><td>{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>',
            ((n.kind, reverse("admin:crm_notifier_change", args=[n.pk]), n.value,
              "verified" if n.verified else "not verified", "primary" if n.is_primary else "")
             for n in obj.notifiers.order_by("kind", "-is_primary", "id")),
        )
        add = reverse("admin:crm_notifier_add") + f"?customer={obj.pk}"
        return format_html('<table class="crm-contacts">{}</table><a class="addlink" href="{}">Add a contact</a>', rows, add)

    @admin.display(description="cards")
    def cards_panel(self, obj: Customer):
        def buttons(card) -> str:
            links = []
            if card.state in ("active", "not_activated"):
                links.append(("block", "Block"))
            if card.state == "blocked":
                links.append(("unblock", "Unblock"))
            if card.state != "replaced":
                links.append(("replace", "Replace"))
            return format_html_join(
                " ", '<a class="button card-{}" href="{}">{}</a>',
                ((name, reverse(f"admin:crm_card_{name}", args=[card.pk]), label) for name, label in links),
            )

        rows = format_html_join(
            "", '<tr data-card="{}"><td><a href="{}">{}</a></td><td class="card-state">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            ((c.number, reverse("admin:crm_card_change", args=[c.pk]), c.number, c.get_state_display(),
              c.category or "", c.state_reason, buttons(c))
             for c in obj.cards.select_related("category").order_by("number")),
        )
        return format_html('<table class="crm-cards">{}</table>', rows) if rows else "no cards"

    @admin.display(description="accounts")
    def accounts_panel(self, obj: Customer):
        rows = format_html_join(
            "", "<tr><td>#{}</td><td>{}</td><td>activated {}</td><td>pending {}</td><td>held {}</td></tr>",
            ((a.pk, a.currency, a.activated_balance, a.pending_balance, a.held_balance)
             for a in obj.accounts.select_related("currency").order_by("id")),
        )
        return format_html("<table>{}</table>", rows) if rows else "no accounts"

    @admin.display(description="more")
    def links_panel(self, obj: Customer):
        purchases = reverse("admin:crm_purchase_changelist") + f"?customer__id__exact={obj.pk}"
        audit = reverse("admin:core_auditevent_changelist") + f"?q={obj.pk}&object_type=crm.customer"
        merge = reverse("admin:crm_customer_merge", args=[obj.pk])
        return format_html('<a href="{}">Purchases</a> · <a href="{}">Audit trail</a> · <a href="{}">Merge another customer into this one</a>',
                           purchases, audit, merge)

    # --- writes through services -----------------------------------------------------------

    def save_model(self, request, obj, form, change) -> None:
        actor = Actor.operator(request.user)
        data = form.cleaned_data
        if not change:
            customer, _ = customer_create(
                actor=actor, channel=Customer.Channel.ADMIN, phone=data.get("phone") or None,
                email=data.get("email") or None, **{name: data.get(name) for name in PROFILE_FIELDS},
            )
            obj.pk = customer.pk
            obj.refresh_from_db()
            return
        changes = {name: data.get(name) for name in form.changed_data if name in PROFILE_FIELDS}
        if changes:
            customer_update(customer=obj, actor=actor, **changes)

    @admin.action(description="Block selected customers (give a reason)", permissions=["change"])
    def block_customers(self, request, queryset) -> None:
        reason, actor = action_reason(request), Actor.operator(request.user)
        run_per_object(self, request, queryset, lambda c: customer_block(customer=c, reason=reason, actor=actor), "Blocked")

    @admin.action(description="Unblock selected customers", permissions=["change"])
    def unblock_customers(self, request, queryset) -> None:
        reason, actor = action_reason(request), Actor.operator(request.user)
        run_per_object(self, request, queryset, lambda c: customer_unblock(customer=c, reason=reason, actor=actor), "Unblocked")

    # --- merge -----------------------------------------------------------------------------

    def get_urls(self):
        own = [path("<int:pk>/merge/", self.admin_site.admin_view(self.merge_view), name="crm_customer_merge")]
        return own + super().get_urls()

    def merge_view(self, request, pk: int):
        target = get_object_or_404(Customer, pk=pk)
        if not self.has_change_permission(request, target):
            raise PermissionDenied
        form = MergeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                source = form.cleaned_data["source_customer"]
                customer_merge(source=source, target=target, actor=Actor.operator(request.user),
                               comment=form.cleaned_data["comment"])
            except DomainError as exc:
                domain_error_to_form(form, exc)
            else:
                messages.success(request, f"Customer {source} was merged into {target}.")
                return HttpResponseRedirect(reverse("admin:crm_customer_change", args=[target.pk]))
        return TemplateResponse(request, "admin/crm/service_form.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "object": target, "form": form,
            "title": f"Merge another customer into {target}",
            "help": "The other customer's cards, accounts, contacts and purchases move here; it ends 'merged'.",
            "submit": "Merge",
        })


class MergeForm(forms.Form):
    source = forms.CharField(label="Customer to merge in", help_text="#id, phone, email, card number or external UID.")
    comment = forms.CharField(required=False, max_length=300)
    confirm = forms.BooleanField(label="I checked that both are the same person")

    def clean_source(self) -> str:
        text = self.cleaned_data["source"].strip()
        customer = None
        if text.startswith("#") and text[1:].isdigit():
            customer = Customer.objects.filter(pk=int(text[1:])).first()
        else:
            try:
                customer = customer_find(kind="any", value=text)
            except DomainError:
                customer = None
        if customer is None:
            raise ValidationError("No customer found by this identifier.")
        self.cleaned_data["source_customer"] = customer  # kept beside the text for the view
        return text


# --- contacts ---------------------------------------------------------------------------------

class NotifierForm(forms.ModelForm):
    code = forms.CharField(required=False, max_length=12, label="Verification code",
                           help_text="The code the customer read out; the contact becomes verified.")

    class Meta:
        model = Notifier
        fields = ("customer", "kind", "value", "is_primary")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # a value is changed by removing the contact and adding the new one
            for name in ("customer", "kind", "value"):
                self.fields[name].disabled = True

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk and cleaned.get("kind") and cleaned.get("value"):
            try:
                cleaned["value"] = notifier_value_normalize(kind=cleaned["kind"], value=cleaned["value"])
            except DomainError as exc:
                raise ValidationError({"value": exc.message}) from exc
        return cleaned

    def validate_unique(self) -> None:
        pass  # the service returns the existing contact for a duplicate (idempotent add)


@admin.register(Notifier)
class NotifierAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    form = NotifierForm
    list_display = ("value", "kind", "customer", "verified", "is_primary", "created_at")
    list_filter = ("kind", "verified")
    search_fields = ("=value",)
    search_help_text = "Exact phone (any format) or email."
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
    paginator = CappedCountPaginator
    show_full_result_count = False
    actions = ["send_code"]
    readonly_fields = ("verified", "verified_at", "created_at", "debug_code")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("customer", "kind", "value", "is_primary")
        fields = ["customer", "kind", "value", "verified", "verified_at", "is_primary", "code", "created_at"]
        if settings.DEBUG:
            fields.append("debug_code")
        return fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        values = {term, term.lower()}
        try:
            values.add(phone_normalize(term))
        except DomainError:
            pass
        return queryset.filter(value__in=values), False

    @admin.display(description="last code sent (DEBUG only)")
    def debug_code(self, obj: Notifier) -> str:
        return debug_last_code(obj.kind, obj.value) or "—"

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("kind", Notifier.Kind.PHONE)
        initial.setdefault("is_primary", False)  # unchecked: primary only when it is the first of its kind
        return initial

    def save_model(self, request, obj, form, change) -> None:
        actor = Actor.operator(request.user)
        data = form.cleaned_data
        if not change:
            created = notifier_add(customer=data["customer"], kind=data["kind"], value=data["value"],
                                   primary=data.get("is_primary") or None, actor=actor)
            obj.pk = created.pk
            obj.refresh_from_db()
            return
        if "is_primary" in form.changed_data and data["is_primary"]:
            notifier_add(customer=obj.customer, kind=obj.kind, value=obj.value, primary=True, actor=actor)
        if data.get("code"):
            notifier_verify_confirm(notifier=obj, code=data["code"], actor=actor)
            messages.success(request, f"{obj.value} is verified.")

    def delete_model(self, request, obj) -> None:
        notifier_remove(notifier=obj, actor=Actor.operator(request.user), reason="removed in the admin")

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    @admin.action(description="Send a verification code", permissions=["change"])
    def send_code(self, request, queryset) -> None:
        actor = Actor.operator(request.user)
        run_per_object(self, request, queryset, lambda n: notifier_verify_request(notifier=n, actor=actor), "Codes sent")


# --- program settings -------------------------------------------------------------------------

class ProgramSettingsForm(forms.ModelForm):
    class Meta:
        model = ProgramSettings
        fields = "__all__"

    def _region(self, code: str, field: str) -> str:
        code = (code or "").strip().upper()
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationError({field: f"'{code}' is not a known region code (ISO 3166, e.g. RU, KZ)."})
        return code

    def clean(self):
        cleaned = super().clean()
        cleaned["default_phone_region"] = self._region(cleaned.get("default_phone_region", ""), "default_phone_region")
        regions = cleaned.get("allowed_phone_regions") or []
        if not isinstance(regions, list):
            raise ValidationError({"allowed_phone_regions": 'A list of region codes, e.g. ["RU", "KZ"].'})
        cleaned["allowed_phone_regions"] = [self._region(str(code), "allowed_phone_regions") for code in regions]
        return cleaned


@admin.register(ProgramSettings)
class ProgramSettingsAdmin(AuditedModelAdmin):
    """A single row: the list page opens it directly."""

    form = ProgramSettingsForm

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        if not ProgramSettings.objects.filter(pk=1).exists() and self.has_change_permission(request):
            row = ProgramSettings()
            row.save()
            audit_record(actor=Actor.operator(request.user), action="admin.create", target=row, after=snapshot(row))
        return HttpResponseRedirect(reverse("admin:crm_programsettings_change", args=[1]))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
