"""Serializers of the offers API. Thin: validation of rules and cheques lives in the services."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from offers.engine.actions import ACTIONS
from offers.engine.filters import FILTERS, NEGATE
from offers.engine.schema import json_schema_of
from offers.models import Coupon, CouponIssue, Offer, Rule


def _one_of(registry: dict[str, Any], with_negate: bool) -> dict[str, Any]:
    variants = []
    for kind, cls in registry.items():
        schema = json_schema_of((*cls.PARAMS, NEGATE) if with_negate else cls.PARAMS)
        schema["properties"] = {"type": {"type": "string", "enum": [kind]}, **schema["properties"]}
        schema["required"] = ["type", *schema.get("required", [])]
        schema["title"] = kind
        schema["description"] = cls.TITLE
        schema["example"] = cls.EXAMPLE
        variants.append(schema)
    return {"type": "array", "items": {"oneOf": variants}}


@extend_schema_field(_one_of(FILTERS, True))
class FiltersField(serializers.JSONField):
    pass


@extend_schema_field(_one_of(ACTIONS, False))
class ActionsField(serializers.JSONField):
    pass


class RuleSerializer(serializers.ModelSerializer):
    filters = FiltersField(help_text="All must hold. Each a typed object; see the reference in the admin.")
    actions = ActionsField()

    class Meta:
        model = Rule
        fields = ("id", "name", "position", "is_enabled", "filters", "actions")


class OfferSerializer(serializers.ModelSerializer):
    partners = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    stores = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Offer
        fields = ("id", "name", "description", "state", "event", "start_date", "end_date", "partners", "stores",
                  "priority", "cumulative", "exclusive", "limit_per_customer", "max_benefit_per_cheque", "budget",
                  "activated_at", "updated_at")


class OfferDetailSerializer(OfferSerializer):
    rules = RuleSerializer(many=True, read_only=True)

    class Meta(OfferSerializer.Meta):
        fields = (*OfferSerializer.Meta.fields, "rules")


# ---- dry run -----------------------------------------------------------------------------------


class SampleLineSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3, min_value=0, default="1")
    price = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False,
                                     help_text="Default: the catalogue price.")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False,
                                      help_text="Default: price × quantity.")


class SampleCustomerSerializer(serializers.Serializer):
    """What processing would know about the member (statuses and segments as plain values)."""

    birth_date = serializers.DateField(required=False, allow_null=True)
    registered_on = serializers.DateField(required=False, allow_null=True)
    last_status_change_on = serializers.DateField(required=False, allow_null=True)
    statuses = serializers.DictField(child=serializers.CharField(), required=False,
                                     help_text="status system code -> status code")
    segment_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    attributes = serializers.DictField(required=False)
    groups = serializers.DictField(child=serializers.ListField(child=serializers.DictField()), required=False,
                                   help_text='questionnaire group -> items, e.g. {"children": [{"sex": "male"}]}')
    personal_products = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                              required=False, help_text="set id -> chosen SKUs")
    group_purchases = serializers.DictField(child=serializers.ListField(child=serializers.DateField()),
                                            required=False, help_text="product group code -> purchase dates")


class SampleCardSerializer(serializers.Serializer):
    category = serializers.CharField(required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=("physical", "virtual"), required=False)


class DryRunRequestSerializer(serializers.Serializer):
    store = serializers.IntegerField(required=False, allow_null=True, help_text="Store id (time zone, partner).")
    purchased_at = serializers.CharField(required=False, allow_null=True,
                                         help_text="ISO 8601; without an offset it is the store's local time. "
                                                   "Default: now.")

    def validate_purchased_at(self, value: str | None):
        import datetime

        if not value:
            return None
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise serializers.ValidationError("Use ISO 8601, e.g. 2024-03-08T12:30:00.") from exc
    event = serializers.ChoiceField(choices=Offer.Event.choices, default="purchase")
    with_running = serializers.BooleanField(default=True, help_text="Evaluate among the running offers.")
    lines = SampleLineSerializer(many=True, required=False, default=list)
    customer = SampleCustomerSerializer(required=False, allow_null=True)
    card = SampleCardSerializer(required=False, allow_null=True)
    coupon_issue_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list,
                                             help_text="Pretend a valid coupon of each issue was presented.")


class AppliedEffectSerializer(serializers.Serializer):
    offer_id = serializers.IntegerField()
    offer_name = serializers.CharField()
    effect = serializers.ChoiceField(choices=("discount", "bonus", "bonus_cap", "coupon", "message"))
    value = serializers.CharField(help_text="money or points; for bonus_cap the percent")


class LineResultSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    sku = serializers.CharField()
    amount = serializers.CharField()
    discount = serializers.CharField()
    payable = serializers.CharField()
    bonus = serializers.CharField()
    bonus_payment_max = serializers.CharField()
    offers = AppliedEffectSerializer(many=True)


class LotSerializer(serializers.Serializer):
    offer_id = serializers.IntegerField()
    amount = serializers.CharField()
    line = serializers.IntegerField(allow_null=True)
    activate_at = serializers.DateTimeField(allow_null=True)
    expire_at = serializers.DateTimeField(allow_null=True)


class RuleTraceSerializer(serializers.Serializer):
    rule_id = serializers.IntegerField()
    name = serializers.CharField()
    held = serializers.BooleanField()
    reason = serializers.CharField()
    lines = serializers.ListField(child=serializers.IntegerField())


class TraceEntrySerializer(serializers.Serializer):
    offer_id = serializers.IntegerField()
    offer_name = serializers.CharField()
    applied = serializers.BooleanField()
    code = serializers.CharField(help_text="applied, partial, not_in_period, other_store, no_rule, no_effect, lost, "
                                           "blocked, limit, budget, invalid")
    reason = serializers.CharField()
    lines = serializers.ListField(child=serializers.IntegerField())
    benefit = serializers.CharField()
    rules = RuleTraceSerializer(many=True)


class ResultSerializer(serializers.Serializer):
    """What the engine answers (and what processing stores with the cheque)."""

    version = serializers.CharField()
    amount = serializers.CharField()
    discount = serializers.CharField()
    payable = serializers.CharField()
    bonus = serializers.CharField()
    bonus_payment_max = serializers.CharField()
    lines = LineResultSerializer(many=True)
    lots = LotSerializer(many=True)
    messages = serializers.ListField(child=serializers.DictField())
    coupons_to_issue = serializers.ListField(child=serializers.DictField())
    coupons_used = serializers.ListField(child=serializers.DictField())
    usage = serializers.ListField(child=serializers.DictField())
    trace = TraceEntrySerializer(many=True)


# ---- coupons -----------------------------------------------------------------------------------


class CouponIssueSerializer(serializers.ModelSerializer):
    progress = serializers.IntegerField(read_only=True, help_text="percent of the requested codes generated")

    class Meta:
        model = CouponIssue
        fields = ("id", "kind", "partner", "title", "short_description", "long_description", "image", "price_points",
                  "public_code", "max_uses", "requested_count", "generated_count", "generation", "generation_error",
                  "progress")


class CouponBatchSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=10_000_000)


class ValiditySerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    code = serializers.CharField(help_text="ok, not_found, not_issued, not_active_yet, expired, used, revoked, "
                                           "other_customer")
    message = serializers.CharField()


class CouponLookupSerializer(serializers.ModelSerializer):
    issue = CouponIssueSerializer(read_only=True)
    validity = serializers.SerializerMethodField()

    class Meta:
        model = Coupon
        fields = ("code", "state", "issue", "customer", "uses", "max_uses", "activate_at", "expire_at", "created_at",
                  "used_at", "revoked_at", "revoke_reason", "validity")

    @extend_schema_field(ValiditySerializer)
    def get_validity(self, coupon: Coupon) -> dict[str, Any]:
        check = self.context["check"]
        return {"ok": check.ok, "code": check.code, "message": check.message}


class MyCouponSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="issue.title")
    short_description = serializers.CharField(source="issue.short_description")
    long_description = serializers.CharField(source="issue.long_description")
    image = serializers.FileField(source="issue.image", read_only=True)

    class Meta:
        model = Coupon
        fields = ("code", "state", "title", "short_description", "long_description", "image", "uses", "max_uses",
                  "activate_at", "expire_at")


# ---- personal products --------------------------------------------------------------------------


class ProductBriefSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)


class PersonalSetSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="set.id")
    code = serializers.CharField(source="set.code")
    name = serializers.CharField(source="set.name")
    description = serializers.CharField(source="set.description")
    max_choices = serializers.IntegerField(source="set.max_choices")
    changeable = serializers.BooleanField(source="set.changeable")
    valid_until = serializers.DateField(source="set.offer.end_date", allow_null=True, default=None)
    open = serializers.BooleanField()
    chosen = serializers.ListField(child=serializers.CharField())
    products = ProductBriefSerializer(many=True)


class PersonalChoiceSerializer(serializers.Serializer):
    products = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=True, max_length=100,
                                     help_text="SKUs chosen (replaces the current choice).")
