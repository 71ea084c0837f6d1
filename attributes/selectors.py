"""Reads for the API, the admin and other apps."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from attributes.models import (
    Attribute,
    AttributeValue,
    Counter,
    CounterValue,
    GroupItem,
    Question,
    QuestionGroup,
    Questionnaire,
)
from attributes.models.definitions import option_labels
from attributes.periods import counter_today, period_start, previous_period_start
from attributes.values import value_to_json
from core.errors import NotFound


@dataclass
class QuestionnaireSpec:
    questionnaire: Questionnaire
    questions: dict[str, Question] = field(default_factory=dict)  # top-level, by code, in order
    groups: dict[str, tuple[QuestionGroup, dict[str, Question]]] = field(default_factory=dict)

    @property
    def synced(self) -> bool:
        return all(q.attribute_id for q in self.questions.values())


def questionnaire_active() -> Questionnaire | None:
    return Questionnaire.objects.filter(is_active=True).first()


def questionnaire_spec(questionnaire: Questionnaire | None = None) -> QuestionnaireSpec:
    """The questionnaire's questions and groups in display order (two queries)."""
    questionnaire = questionnaire or questionnaire_active()
    if questionnaire is None:
        raise NotFound("no_questionnaire", "No questionnaire is active.")
    spec = QuestionnaireSpec(questionnaire=questionnaire)
    groups = {g.pk: g for g in QuestionGroup.objects.filter(questionnaire=questionnaire).order_by("position", "id")}
    for group in groups.values():
        spec.groups[group.code] = (group, {})
    for question in Question.objects.filter(questionnaire=questionnaire).select_related("attribute").order_by("position", "id"):
        if question.group_id is None:
            spec.questions[question.code] = question
        else:
            spec.groups[groups[question.group_id].code][1][question.code] = question
    if not spec.synced:
        from attributes.services.definitions import questionnaire_sync
        from core.actors import Actor

        questionnaire_sync(questionnaire=questionnaire, actor=Actor.system("questionnaire"))
        return questionnaire_spec(questionnaire)
    return spec


def answers_get(*, customer_id: int, spec: QuestionnaireSpec) -> dict[str, Any]:
    """{question code: answer (JSON form)} for answered questions, {group code: [items]} for every group."""
    by_attribute = {q.attribute_id: code for code, q in spec.questions.items()}
    out: dict[str, Any] = {}
    for row in AttributeValue.objects.filter(customer_id=customer_id, attribute_id__in=list(by_attribute)):
        out[by_attribute[row.attribute_id]] = value_to_json(row.value)
    group_codes = {group.pk: code for code, (group, _) in spec.groups.items()}
    for code in spec.groups:
        out[code] = []
    for item in GroupItem.objects.filter(customer_id=customer_id, group_id__in=list(group_codes)).order_by("group_id", "position"):
        out[group_codes[item.group_id]].append(item.data)
    return out


def _question_json(question: Question) -> dict[str, Any]:
    rules = {
        name: value_to_json(getattr(question, name))
        for name in ("min_length", "max_length", "pattern", "min_value", "max_value", "min_date", "max_date",
                     "min_choices", "max_choices")
        if getattr(question, name) not in (None, "")
    }
    if question.type == Question.Type.NUMBER:
        rules["decimal_places"] = question.decimal_places
    if question.not_in_future:
        rules["not_in_future"] = True
    return {
        "code": question.code,
        "label": question.label,
        "help_text": question.help_text,
        "type": question.type,
        "required": question.required,
        "editable_by_customer": question.editable_by_customer,
        "options": [{"code": k, "label": v} for k, v in option_labels(question.options).items()],
        "rules": rules,
    }


def questionnaire_json(spec: QuestionnaireSpec) -> dict[str, Any]:
    return {
        "code": spec.questionnaire.code,
        "name": spec.questionnaire.name,
        "description": spec.questionnaire.description,
        "questions": [_question_json(q) for q in spec.questions.values()],
        "groups": [
            {"code": group.code, "name": group.name, "help_text": group.help_text, "min_items": group.min_items,
             "max_items": group.max_items, "editable_by_customer": group.editable_by_customer,
             "questions": [_question_json(q) for q in questions.values()]}
            for group, questions in spec.groups.values()
        ],
    }


def questionnaire_with_answers(*, customer_id: int, questionnaire: Questionnaire | None = None) -> dict[str, Any]:
    spec = questionnaire_spec(questionnaire)
    answers = answers_get(customer_id=customer_id, spec=spec)
    missing = [code for code, q in spec.questions.items() if q.required and code not in answers]
    missing += [code for code, (g, _) in spec.groups.items() if len(answers.get(code, [])) < g.min_items]
    return {"questionnaire": questionnaire_json(spec), "answers": answers, "missing_required": missing}


def attribute_values_of(*, customer_id: int) -> list[dict[str, Any]]:
    """Stored attribute values of a customer (generic and questionnaire), by attribute."""
    rows = AttributeValue.objects.filter(customer_id=customer_id).select_related("attribute").order_by("attribute__code")
    return [{"attribute": row.attribute.code, "name": row.attribute.name, "kind": row.attribute.kind,
             "value_type": row.attribute.value_type, "value": value_to_json(row.value),
             "updated_at": row.updated_at} for row in rows]


def counters_of(*, customer_id: int) -> list[dict[str, Any]]:
    """Every active counter with this customer's current and previous period values (0 when none)."""
    counters = list(Counter.objects.filter(is_active=True).order_by("name"))
    rows = {(v.counter_id, v.period_start): v for v in CounterValue.objects.filter(customer_id=customer_id,
                                                                                  counter__in=counters)}
    now = timezone.now()
    out: list[dict[str, Any]] = []
    for counter in counters:
        today = counter_today(counter, now)
        current, previous = period_start(counter.period, today), previous_period_start(counter.period, today)
        row = rows.get((counter.pk, current))
        prev = rows.get((counter.pk, previous)) if counter.calendar else None
        out.append({
            "counter": counter.code, "name": counter.name, "aggregate": counter.aggregate, "period": counter.period,
            "period_days": counter.period_days, "period_start": None if not counter.calendar else current,
            "value": row.value if row else 0, "imported": row.imported if row else 0,
            "previous_value": (prev.value if prev else 0) if counter.calendar else None,
            "history": [{"period_start": ps, "value": v.value} for (cid, ps), v in sorted(rows.items()) if cid == counter.pk]
            if counter.calendar else [],
        })
    return out


def attributes_list(*, kind: str | None = None, active_only: bool = False):
    qs = Attribute.objects.select_related("counter").order_by("kind", "code")
    if kind:
        qs = qs.filter(kind=kind)
    if active_only:
        qs = qs.filter(is_active=True)
    return qs
