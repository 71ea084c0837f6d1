"""Shapes of the statuses API (documentation and input checks); the data comes from selectors."""
from __future__ import annotations

from rest_framework import serializers

from statuses.conditions import conditions_format
from statuses.models import Status, StatusChange, StatusRecalculation, StatusSystem


class StatusBriefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    rank = serializers.IntegerField()


class RequirementSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["counter", "attribute"])
    met = serializers.BooleanField()
    text = serializers.CharField(help_text='The clause in plain words, e.g. "spend 3,200.00 more by 31.12.2026".')
    counter = serializers.CharField(required=False)
    counter_name = serializers.CharField(required=False)
    period = serializers.CharField(required=False, help_text="current or previous (period of the counter).")
    current = serializers.DecimalField(max_digits=18, decimal_places=2, required=False, allow_null=True,
                                       help_text="The customer's value that counts for this condition.")
    required = serializers.DecimalField(max_digits=18, decimal_places=2, required=False, allow_null=True)
    missing = serializers.DecimalField(max_digits=18, decimal_places=2, required=False, allow_null=True)
    by = serializers.DateField(required=False, allow_null=True, help_text="Last day of the counter's period.")
    attribute = serializers.CharField(required=False)


class NextStatusSerializer(StatusBriefSerializer):
    requirements = RequirementSerializer(many=True)
    text = serializers.CharField(help_text='e.g. "Spend 3,200.00 more by 31.12.2026 to reach Gold."')


class CounterValueSerializer(serializers.Serializer):
    counter = serializers.CharField()
    name = serializers.CharField()
    value = serializers.DecimalField(max_digits=18, decimal_places=2)


class CustomerSystemStatusSerializer(serializers.Serializer):
    system = serializers.CharField(help_text="The status system's code (also its attribute code).")
    name = serializers.CharField()
    recalculation_period = serializers.ChoiceField(choices=StatusSystem.Period.choices, source="period",
                                                   help_text="How often the scheduled recalculation runs.")
    status = StatusBriefSerializer(allow_null=True)
    since = serializers.DateTimeField(allow_null=True)
    kept_until = serializers.DateTimeField(allow_null=True, help_text="Grace period: downgraded after this moment "
                                                                      "unless the customer qualifies again.")
    next_recalculation_at = serializers.DateTimeField(allow_null=True)
    next_recalculation_on = serializers.DateField(allow_null=True, help_text="Its local date in the system's zone.")
    value = CounterValueSerializer(allow_null=True, help_text="The system's counter, current value.")
    next_status = NextStatusSerializer(allow_null=True, help_text="The next status up and what it still needs.")
    text = serializers.CharField(help_text="Everything above in one or two sentences.")


class OperatorCustomerStatusSerializer(CustomerSystemStatusSerializer):
    manual_until = serializers.DateTimeField(allow_null=True, help_text="Set by hand and held until then.")
    reason = serializers.CharField(allow_blank=True)


class StatusChangeSerializer(serializers.ModelSerializer):
    system = serializers.CharField(source="system.code")
    from_status = serializers.CharField(source="from_status.code", allow_null=True, default=None)
    to_status = serializers.CharField(source="to_status.code", allow_null=True, default=None)

    class Meta:
        model = StatusChange
        fields = ("id", "system", "from_status", "to_status", "reason", "created_at", "actor_kind", "actor_id",
                  "actor_label", "comment", "manual_until", "run")


class ManualAssignSerializer(serializers.Serializer):
    status = serializers.CharField(allow_null=True, allow_blank=True,
                                   help_text="A status code of the system; null or empty takes the status away.")
    reason = serializers.CharField(max_length=300, help_text="Why (required; kept in the history).")
    hold_until = serializers.DateField(required=False, allow_null=True,
                                       help_text="Automatic recalculation leaves the status alone until the end of "
                                                 "this day (system's time zone). Empty: no hold.")


class StatusDefinitionSerializer(serializers.ModelSerializer):
    conditions_text = serializers.SerializerMethodField()

    class Meta:
        model = Status
        fields = ("code", "name", "rank", "conditions", "conditions_text", "description")

    def get_conditions_text(self, status: Status) -> str:
        return conditions_format(status.conditions)


class StatusSystemSerializer(serializers.ModelSerializer):
    counter = serializers.CharField(source="counter.code", allow_null=True, default=None)
    recalculation_period = serializers.ChoiceField(choices=StatusSystem.Period.choices, source="period")
    statuses = StatusDefinitionSerializer(many=True)

    class Meta:
        model = StatusSystem
        fields = ("code", "name", "description", "recalculation_period", "grace_days", "timezone", "counter",
                  "is_active",
                  "next_recalculation_at", "last_recalculated_at", "statuses")


class StatusRecalculateSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=[StatusRecalculation.Mode.UPGRADE, StatusRecalculation.Mode.SCHEDULED],
                                   default=StatusRecalculation.Mode.UPGRADE,
                                   help_text="upgrade: only raise statuses (safe any time); scheduled: the full "
                                             "recalculation with downgrades, now.")


class StatusRecalculationSerializer(serializers.ModelSerializer):
    system = serializers.CharField(source="system.code")

    class Meta:
        model = StatusRecalculation
        fields = ("id", "system", "mode", "state", "as_of", "chunks_total", "chunks_done", "rows_written", "changes",
                  "error", "actor_label", "started_at", "finished_at")
