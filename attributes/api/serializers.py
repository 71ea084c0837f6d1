"""API shapes (thin: validation of the envelope only; services check the answers themselves)."""
from __future__ import annotations

from rest_framework import serializers

from attributes.models import Attribute, Counter
from attributes.models.definitions import option_labels


class OptionSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()


class QuestionSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    help_text = serializers.CharField()
    type = serializers.ChoiceField(choices=["text", "number", "date", "single_choice", "multiple_choice", "email", "phone"])
    required = serializers.BooleanField()
    editable_by_customer = serializers.BooleanField()
    options = OptionSerializer(many=True)
    rules = serializers.DictField(help_text="Validation rules: min_length, max_length, pattern, min_value, max_value, "
                                            "decimal_places, min_date, max_date, not_in_future, min_choices, max_choices.")


class QuestionGroupSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    help_text = serializers.CharField()
    min_items = serializers.IntegerField()
    max_items = serializers.IntegerField()
    editable_by_customer = serializers.BooleanField()
    questions = QuestionSerializer(many=True)


class QuestionnaireSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    questions = QuestionSerializer(many=True)
    groups = QuestionGroupSerializer(many=True)


class QuestionnaireAnswersSerializer(serializers.Serializer):
    questionnaire = QuestionnaireSerializer()
    answers = serializers.DictField(
        help_text='{"<question>": answer, "<group>": [{"<question>": answer, ...}, ...]}; dates YYYY-MM-DD, '
                  "numbers as strings, multiple choice as lists.")
    missing_required = serializers.ListField(child=serializers.CharField(),
                                             help_text="Required questions (and groups short of items) not answered yet.")


class AnswersPatchSerializer(serializers.Serializer):
    answers = serializers.DictField(
        help_text='Only the questions given change. null or "" clears an optional answer; a group\'s list replaces '
                  "its items. Errors come back per field, e.g. answers.children.1.birth_date.")


class AttributeSerializer(serializers.ModelSerializer):
    options = serializers.SerializerMethodField()
    counter = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Attribute
        fields = ("code", "name", "description", "kind", "value_type", "options", "notifier_kind", "counter", "config",
                  "editable_by_customer", "is_active")

    def get_options(self, attribute: Attribute) -> list[dict[str, str]]:
        return [{"code": k, "label": v} for k, v in option_labels(attribute.options).items()]


class AttributeValueSerializer(serializers.Serializer):
    attribute = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    value_type = serializers.CharField()
    value = serializers.JSONField()
    updated_at = serializers.DateTimeField()


class AttributeValuesPatchSerializer(serializers.Serializer):
    values = serializers.DictField(help_text='{"<attribute code>": value}; null or "" clears. Generic attributes only.')


class CounterSerializer(serializers.ModelSerializer):
    product_group = serializers.SlugRelatedField(slug_field="code", read_only=True)
    store = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Counter
        fields = ("id", "code", "name", "aggregate", "period", "period_days", "product_group", "store", "timezone",
                  "keep_periods", "is_active", "window_start", "recalc_pending", "recalculated_at")


class CounterPeriodSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    value = serializers.DecimalField(max_digits=18, decimal_places=2)


class CustomerCounterSerializer(serializers.Serializer):
    counter = serializers.CharField()
    name = serializers.CharField()
    aggregate = serializers.CharField()
    period = serializers.CharField()
    period_days = serializers.IntegerField(allow_null=True)
    period_start = serializers.DateField(allow_null=True, help_text="Calendar counters: the current period's first day.")
    value = serializers.DecimalField(max_digits=18, decimal_places=2)
    imported = serializers.DecimalField(max_digits=18, decimal_places=2)
    previous_value = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    history = CounterPeriodSerializer(many=True)


class RecalculationSerializer(serializers.Serializer):
    counter = serializers.CharField()
    chunks = serializers.IntegerField(help_text="Recalculation tasks queued (one per range of customers).")
