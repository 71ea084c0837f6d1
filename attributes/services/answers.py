"""Questionnaire answers: validated against the designer's rules, written by the customer (app)
or the call center, with one error per field (`answers.children.1.birth_date`)."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from attributes.contacts import PhoneRules, email_normalize, phone_normalize, phone_rules
from attributes.models import GroupItem, Question, Questionnaire
from attributes.models.definitions import option_codes
from attributes.selectors import QuestionnaireSpec, answers_get, questionnaire_spec
from attributes.services.values import customer_lock, values_write
from attributes.values import MAX_TEXT, is_blank, parse_date, parse_decimal, parse_multi, parse_text, value_to_json
from core.actors import Actor
from core.errors import DomainError
from core.services import audit_record, event_emit

REQUIRED = "This question is required."


def answer_parse(question: Question, raw: Any, *, today: dt.date, phones: PhoneRules) -> Any:
    """The typed answer to one question, or ValueError with a reason fit for the person answering."""
    kind = question.type
    T = Question.Type
    if kind == T.TEXT:
        text = parse_text(raw, max_length=question.max_length or MAX_TEXT)
        if question.min_length and len(text) < question.min_length:
            raise ValueError(f"At least {question.min_length} characters.")
        if question.pattern and not re.fullmatch(question.pattern, text):
            raise ValueError(question.pattern_message or "Not in the expected form.")
        return text
    if kind == T.NUMBER:
        value = parse_decimal(raw, places=question.decimal_places)
        if question.min_value is not None and value < question.min_value:
            raise ValueError(f"At least {value_to_json(question.min_value)}.")
        if question.max_value is not None and value > question.max_value:
            raise ValueError(f"At most {value_to_json(question.max_value)}.")
        return value
    if kind == T.DATE:
        value = parse_date(raw)
        if question.not_in_future and value > today:
            raise ValueError("Cannot be in the future.")
        if question.min_date and value < question.min_date:
            raise ValueError(f"Not before {question.min_date.isoformat()}.")
        if question.max_date and value > question.max_date:
            raise ValueError(f"Not after {question.max_date.isoformat()}.")
        return value
    if kind == T.SINGLE_CHOICE:
        text = parse_text(raw)
        codes = option_codes(question.options)
        if text not in codes:
            raise ValueError(f"'{text}' is not one of: {', '.join(codes)}.")
        return text
    if kind == T.MULTIPLE_CHOICE:
        picks = parse_multi(raw, option_codes(question.options))
        if question.min_choices and len(picks) < question.min_choices:
            raise ValueError(f"Choose at least {question.min_choices}.")
        if question.max_choices and len(picks) > question.max_choices:
            raise ValueError(f"Choose at most {question.max_choices}.")
        return picks
    if kind == T.EMAIL:
        return email_normalize(parse_text(raw))
    if kind == T.PHONE:
        return phone_normalize(parse_text(raw), phones)
    raise ValueError(f"Unknown question type {kind}.")


def _blank_answer(question: Question, raw: Any) -> bool:
    return is_blank(raw)


def _check_editable(editable: bool, by_customer: bool) -> str | None:
    return "Not editable by the customer." if by_customer and not editable else None


def answers_validate(spec: QuestionnaireSpec, answers: Any, *, by_customer: bool,
                     today: dt.date | None = None) -> tuple[dict[Question, Any], dict[str, list[dict[str, Any]]], dict[str, list[str]]]:
    """Parse a (partial) set of answers. Returns (top-level typed values, group items as stored
    JSON, errors by field). Keys absent from `answers` are left alone by the caller."""
    errors: dict[str, list[str]] = {}
    if not isinstance(answers, Mapping):
        return {}, {}, {"answers": ["Expected an object {question: answer}."]}
    today = today or timezone.localdate()
    phones: PhoneRules | None = None
    top: dict[Question, Any] = {}
    groups: dict[str, list[dict[str, Any]]] = {}

    def parse(question: Question, raw: Any, field: str) -> Any:
        nonlocal phones
        if question.type == Question.Type.PHONE and phones is None:
            phones = phone_rules()
        try:
            return answer_parse(question, raw, today=today, phones=phones or PhoneRules("RU", ()))
        except ValueError as exc:
            errors.setdefault(field, []).append(str(exc))
            return None

    for code, raw in answers.items():
        field = f"answers.{code}"
        if code in spec.questions:
            question = spec.questions[code]
            denied = _check_editable(question.editable_by_customer, by_customer)
            if denied:
                errors[field] = [denied]
            elif _blank_answer(question, raw):
                if question.required:
                    errors[field] = [REQUIRED]
                else:
                    top[question] = None
            else:
                value = parse(question, raw, field)
                if field not in errors:
                    top[question] = value
        elif code in spec.groups:
            group, questions = spec.groups[code]
            denied = _check_editable(group.editable_by_customer, by_customer)
            if denied:
                errors[field] = [denied]
                continue
            if raw is None:
                raw = []
            if not isinstance(raw, list):
                errors[field] = ["Expected a list of items."]
                continue
            if len(raw) < group.min_items:
                errors.setdefault(field, []).append(f"At least {group.min_items} item(s).")
            if group.max_items and len(raw) > group.max_items:
                errors.setdefault(field, []).append(f"At most {group.max_items} item(s).")
            items: list[dict[str, Any]] = []
            for index, item in enumerate(raw):
                item_field = f"{field}.{index}"
                if not isinstance(item, Mapping):
                    errors[item_field] = ["Expected an object {question: answer}."]
                    continue
                stored: dict[str, Any] = {}
                for key in item:
                    if key not in questions:
                        errors[f"{item_field}.{key}"] = ["Unknown question."]
                for q_code, question in questions.items():
                    value_raw = item.get(q_code)
                    q_field = f"{item_field}.{q_code}"
                    if _blank_answer(question, value_raw):
                        if question.required:
                            errors[q_field] = [REQUIRED]
                        continue
                    value = parse(question, value_raw, q_field)
                    if q_field not in errors:
                        stored[q_code] = value_to_json(value)
                items.append(stored)
            groups[code] = items
        else:
            errors[field] = ["Unknown question."]
    return top, groups, errors


@transaction.atomic
def answers_update(*, customer_id: int, answers: Any, actor: Actor, by_customer: bool = False,
                   questionnaire: Questionnaire | None = None) -> dict[str, Any]:
    """Change the given answers of a customer (a group's list replaces its items). All or nothing:
    any bad field refuses the whole request with every field's reason. Returns all answers after."""
    spec = questionnaire_spec(questionnaire)
    top, groups, errors = answers_validate(spec, answers, by_customer=by_customer)
    if errors:
        raise DomainError("validation_error", f"Invalid input: {', '.join(sorted(errors))}.", extra={"errors": errors})
    customer_lock(customer_id)
    before = answers_get(customer_id=customer_id, spec=spec)
    values_write(customer_id=customer_id, values={q.attribute: v for q, v in top.items()})
    for code, items in groups.items():
        group = spec.groups[code][0]
        if before.get(code, []) == items:
            continue
        GroupItem.objects.filter(customer_id=customer_id, group=group).delete()
        GroupItem.objects.bulk_create(
            [GroupItem(customer_id=customer_id, group=group, position=i, data=item) for i, item in enumerate(items)]
        )
    after = answers_get(customer_id=customer_id, spec=spec)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        audit_record(actor=actor, action="answers.update", object_type="crm.customer", object_id=customer_id,
                     before={k: before.get(k) for k in changed}, after={k: after.get(k) for k in changed})
        event_emit(kind="customer.questionnaire_updated", customer_id=customer_id, payload={"changed": changed})
    return after
