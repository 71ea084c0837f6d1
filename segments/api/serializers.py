"""Shapes of the segments API. Definitions are checked by segments.definition (errors by path);
these serializers check the envelope."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from segments.models import RfmSettings, Segment, SegmentRefresh
from segments.rfm import CELL_NAMES


class StrictIn(serializers.Serializer):
    """Refuses keys it does not know, by name (a typo must not be silently ignored)."""

    def validate(self, attrs):
        unknown = sorted(set(getattr(self, "initial_data", {}) or {}) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


@extend_schema_field(OpenApiTypes.OBJECT)
class DefinitionField(serializers.JSONField):
    """A tree of conditions: {"op": "and"|"or"|"not", "children": [...]} or a leaf {"kind": ..., ...}.
    See GET /api/v1/segments/condition-kinds and docs/segments.md."""


class SegmentOut(serializers.ModelSerializer):
    definition = DefinitionField()

    class Meta:
        model = Segment
        fields = ("id", "name", "description", "kind", "definition", "auto_refresh", "is_active", "member_count",
                  "refreshed_at", "refresh_ms", "refresh_error", "created_at", "updated_at")


class SegmentCreateIn(StrictIn):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=Segment.Kind.choices, default=Segment.Kind.DYNAMIC)
    definition = DefinitionField(required=False, default=dict)
    auto_refresh = serializers.BooleanField(required=False, default=True)


class SegmentUpdateIn(StrictIn):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    definition = DefinitionField(required=False)
    auto_refresh = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)


class PreviewIn(StrictIn):
    definition = DefinitionField()
    limit = serializers.IntegerField(min_value=0, max_value=100, default=20)


class MemberOut(serializers.Serializer):
    id = serializers.IntegerField()
    external_uid = serializers.CharField(allow_null=True)
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    state = serializers.CharField()
    phone = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)


class PreviewOut(serializers.Serializer):
    count = serializers.IntegerField()
    members = MemberOut(many=True)
    as_of = serializers.DateTimeField()


class RefreshIn(StrictIn):
    wait = serializers.BooleanField(default=False, help_text="Refresh now and answer with the counts (small "
                                                             "segments); otherwise a worker does it (202).")


class RefreshOut(serializers.ModelSerializer):
    class Meta:
        model = SegmentRefresh
        fields = ("id", "at", "source", "joined", "left", "members", "duration_ms", "actor_label")


class RefreshDetailOut(RefreshOut):
    joined_ids = serializers.ListField(child=serializers.IntegerField())
    left_ids = serializers.ListField(child=serializers.IntegerField())

    class Meta(RefreshOut.Meta):
        fields = (*RefreshOut.Meta.fields, "joined_ids", "left_ids")


class MembersQueryIn(StrictIn):
    on = serializers.DateTimeField(required=False, help_text="Members at this moment (from the history); default now.")
    after = serializers.IntegerField(min_value=0, default=0, help_text="Keyset: ids greater than this.")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)


class MembersOut(serializers.Serializer):
    count = serializers.IntegerField()
    on = serializers.DateTimeField(allow_null=True)
    ids = serializers.ListField(child=serializers.IntegerField())
    next_after = serializers.IntegerField(allow_null=True)


class ExportIn(StrictIn):
    on = serializers.DateTimeField(required=False)


class MemberIdsIn(StrictIn):
    customer_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False,
                                         max_length=10_000)


class UploadIn(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, UTF-8, ';' or ','; columns identifier_type (card, phone, email, "
                                           "external_uid) and identifier.")
    replace = serializers.BooleanField(default=False, help_text="Make the file the whole membership (default: add).")


class MaterialisedOut(serializers.Serializer):
    segment_id = serializers.IntegerField()
    at = serializers.DateTimeField()
    joined = serializers.IntegerField()
    left = serializers.IntegerField()
    members = serializers.IntegerField()
    duration_ms = serializers.IntegerField()


class CustomerSegmentsOut(serializers.Serializer):
    customer_id = serializers.IntegerField()
    segment_ids = serializers.ListField(child=serializers.IntegerField())


class ConditionKindOut(serializers.Serializer):
    kind = serializers.CharField()
    title = serializers.CharField()
    example = serializers.JSONField()


class RfmSettingsIO(serializers.ModelSerializer):
    class Meta:
        model = RfmSettings
        fields = ("window_days", "method", "recency_days", "frequency", "monetary", "computed_at", "computed_ms",
                  "scored_customers")
        read_only_fields = ("computed_at", "computed_ms", "scored_customers")


class RfmCellOut(serializers.Serializer):
    cell = serializers.ChoiceField(choices=list(CELL_NAMES.items()))
    label = serializers.CharField()
    customers = serializers.IntegerField()
    share = serializers.DecimalField(max_digits=5, decimal_places=1, help_text="Percent of scored customers.")
    avg_cheque = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True,
                                          help_text="Net amount / number of sales in the window.")
    monetary = serializers.DecimalField(max_digits=18, decimal_places=2)


class RfmSquareOut(serializers.Serializer):
    fm = serializers.IntegerField()
    cell = serializers.CharField()
    customers = serializers.IntegerField()


class RfmRowOut(serializers.Serializer):
    r = serializers.IntegerField()
    squares = RfmSquareOut(many=True)


class RfmMatrixOut(serializers.Serializer):
    total = serializers.IntegerField()
    cells = RfmCellOut(many=True)
    grid = RfmRowOut(many=True)
    computed_at = serializers.DateTimeField(allow_null=True)
    window_days = serializers.IntegerField()
    method = serializers.CharField()
