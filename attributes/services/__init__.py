"""Writes of the attributes app: one function per use case, one transaction, audited."""
from attributes.services.answers import answer_parse, answers_update, answers_validate
from attributes.services.counters import (
    counter_apply_purchase,
    counter_recalculate_now,
    counter_recalculate_range,
    counter_recalculate_request,
    counter_roll,
    counters_roll_all,
)
from attributes.services.definitions import questionnaire_sync
from attributes.services.values import attribute_values_set, values_write

__all__ = [
    "answer_parse",
    "answers_update",
    "answers_validate",
    "attribute_values_set",
    "counter_apply_purchase",
    "counter_recalculate_now",
    "counter_recalculate_range",
    "counter_recalculate_request",
    "counter_roll",
    "counters_roll_all",
    "questionnaire_sync",
    "values_write",
]
