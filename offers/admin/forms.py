"""Forms of the offers admin: rule JSON with readable errors, and the dry run's sample cheque."""
from __future__ import annotations

import datetime
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms

from catalogue.models import Store
from offers.engine.types import EVENTS
from offers.models import CouponIssue, Rule

JSON_WIDGET = forms.Textarea(attrs={"rows": 5, "cols": 110, "style": "font-family: monospace; font-size: 12px"})


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ("name", "position", "is_enabled", "filters", "actions")
        widgets = {"filters": JSON_WIDGET, "actions": JSON_WIDGET}


def _json(value: str, field: str, kind: type, default: Any) -> Any:
    if not value.strip():
        return default
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
    if not isinstance(data, kind):
        raise forms.ValidationError(f"Must be a JSON {'object' if kind is dict else 'list'}.")
    return data


class DryRunForm(forms.Form):
    """A sample cheque and what is known about the member."""

    store = forms.ModelChoiceField(queryset=Store.objects.select_related("partner"), required=False,
                                   help_text="Offers run on this store's local time and partner.")
    # A CharField, not a DateTimeField: Django would read a naive time in the server's zone, and a
    # sample cheque is written in the store's local time.
    purchased_at = forms.CharField(required=False, help_text="Store's local time, e.g. 2024-03-08 12:30. Empty: now.")
    event = forms.ChoiceField(choices=[(e, e) for e in EVENTS], initial="purchase")
    lines = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "cols": 60, "style": "font-family: monospace"}),
                            required=False,
                            help_text="One line per row: SKU QUANTITY [PRICE]. Price defaults to the catalogue's.")
    with_running = forms.BooleanField(required=False, initial=True, label="Among the running offers",
                                      help_text="Show how it competes with the active offers (else: alone).")
    birth_date = forms.DateField(required=False)
    registered_on = forms.DateField(required=False)
    last_status_change_on = forms.DateField(required=False)
    statuses = forms.CharField(required=False, help_text="system=status, comma-separated: tier=gold")
    segment_ids = forms.CharField(required=False, help_text="Segment ids, comma-separated.")
    attributes = forms.CharField(required=False, widget=JSON_WIDGET, help_text='JSON: {"wedding_date": "2022-06-01"}')
    groups = forms.CharField(required=False, widget=JSON_WIDGET,
                             help_text='Questionnaire groups, JSON: {"children": [{"sex": "male", "birth_date": "2010-05-01"}]}')
    personal_products = forms.CharField(required=False, help_text='JSON: {"1": ["COFFEE-250"]} (set id -> SKUs)')
    group_purchases = forms.CharField(required=False, help_text='JSON: {"cars": ["2022-01-15"]} (group -> dates)')
    card_category = forms.CharField(required=False)
    card_kind = forms.ChoiceField(required=False, choices=[("", "-"), ("physical", "physical"), ("virtual", "virtual")])
    coupon_issues = forms.ModelMultipleChoiceField(queryset=CouponIssue.objects.all(), required=False,
                                                   help_text="Pretend a valid coupon of these issues was presented.")

    def clean_purchased_at(self):
        value = self.cleaned_data["purchased_at"].strip()
        if not value:
            return None
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError as exc:
            raise forms.ValidationError("Use YYYY-MM-DD HH:MM (store time).") from exc

    def clean_lines(self) -> list[dict[str, str]]:
        rows = []
        for number, raw in enumerate(self.cleaned_data["lines"].splitlines(), start=1):
            parts = raw.split()
            if not parts:
                continue
            if len(parts) > 3:
                raise forms.ValidationError(f"Line {number}: use SKU QUANTITY [PRICE].")
            for part in parts[1:]:
                try:
                    Decimal(part.replace(",", "."))
                except InvalidOperation as exc:
                    raise forms.ValidationError(f"Line {number}: '{part}' is not a number.") from exc
            rows.append({"sku": parts[0], "quantity": parts[1] if len(parts) > 1 else "1",
                         "price": parts[2] if len(parts) > 2 else ""})
        if not rows and self.data.get("event", "purchase") == "purchase":
            raise forms.ValidationError("Give at least one line.")
        return rows

    def clean_statuses(self) -> dict[str, str]:
        out = {}
        for item in self.cleaned_data["statuses"].split(","):
            if not item.strip():
                continue
            system, sep, status = item.partition("=")
            if not sep:
                raise forms.ValidationError("Use system=status.")
            out[system.strip()] = status.strip()
        return out

    def clean_segment_ids(self) -> list[int]:
        try:
            return [int(x) for x in self.cleaned_data["segment_ids"].split(",") if x.strip()]
        except ValueError as exc:
            raise forms.ValidationError("Whole numbers, comma-separated.") from exc

    def clean_attributes(self) -> dict:
        return _json(self.cleaned_data["attributes"], "attributes", dict, {})

    def clean_groups(self) -> dict:
        return _json(self.cleaned_data["groups"], "groups", dict, {})

    def clean_personal_products(self) -> dict:
        return _json(self.cleaned_data["personal_products"], "personal_products", dict, {})

    def clean_group_purchases(self) -> dict:
        return _json(self.cleaned_data["group_purchases"], "group_purchases", dict, {})

    def customer_facts(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        keys = ("birth_date", "registered_on", "last_status_change_on", "statuses", "segment_ids", "attributes",
                "groups", "personal_products", "group_purchases")
        facts = {key: data.get(key) for key in keys}
        if not any(facts.values()):
            return None
        return {"id": 0, **facts}

    def card_facts(self) -> dict[str, str] | None:
        if self.cleaned_data.get("card_category") or self.cleaned_data.get("card_kind"):
            return {"category": self.cleaned_data["card_category"], "kind": self.cleaned_data["card_kind"]}
        return None
