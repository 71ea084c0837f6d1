"""Keep the attributes behind a questionnaire in step with its questions and groups."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from attributes.models import Attribute, AttributeValue, Question, QuestionGroup, Questionnaire
from core.actors import Actor
from core.services import audit_record, snapshot


def _link(*, code: str, name: str, value_type: str, options: list, editable: bool, current: Attribute | None,
          owner: str) -> Attribute:
    """The attribute a question or group answers into: its own, or a free one of that code, or a new one."""
    attribute = current
    if attribute is None:
        attribute = Attribute.objects.filter(code=code).first()
        if attribute is not None:
            taken = (hasattr(attribute, "question") and attribute.question is not None) or (
                hasattr(attribute, "question_group") and attribute.question_group is not None)
            if attribute.kind != Attribute.Kind.QUESTIONNAIRE or taken:
                raise ValidationError({"code": f"The code '{code}' is already used by the attribute '{attribute.name}' ({owner})."})
    if attribute is None:
        attribute = Attribute(code=code, kind=Attribute.Kind.QUESTIONNAIRE)
    if attribute.pk and attribute.value_type != value_type and AttributeValue.objects.filter(attribute=attribute).exists():
        raise ValidationError({"type": f"'{code}' already has answers of type {attribute.value_type}; "
                                       "add a new question instead of changing the type."})
    changed = (attribute.pk is None or attribute.name != name[:200] or attribute.value_type != value_type
               or attribute.options != options or attribute.editable_by_customer != editable or not attribute.is_active
               or attribute.code != code)
    if changed:
        attribute.code, attribute.name, attribute.value_type = code, name[:200], value_type
        attribute.options, attribute.editable_by_customer, attribute.is_active = options, editable, True
        attribute.save()
    return attribute


@transaction.atomic
def questionnaire_sync(*, questionnaire: Questionnaire, actor: Actor) -> int:
    """Give every top-level question and every group its questionnaire attribute; retire the
    attributes of removed questions (their answers stay, inactive). Returns attributes touched."""
    touched = 0
    for question in Question.objects.filter(questionnaire=questionnaire, group__isnull=True).select_related("attribute"):
        attribute = _link(code=question.code, name=question.label, value_type=question.value_type,
                          options=question.options if question.type in (Question.Type.SINGLE_CHOICE,
                                                                        Question.Type.MULTIPLE_CHOICE) else [],
                          editable=question.editable_by_customer, current=question.attribute, owner="question")
        if question.attribute_id != attribute.pk:
            Question.objects.filter(pk=question.pk).update(attribute=attribute)
            touched += 1
    for group in QuestionGroup.objects.filter(questionnaire=questionnaire).select_related("attribute"):
        attribute = _link(code=group.code, name=group.name, value_type=Attribute.ValueType.GROUP, options=[],
                          editable=group.editable_by_customer, current=group.attribute, owner="group")
        if group.attribute_id != attribute.pk:
            QuestionGroup.objects.filter(pk=group.pk).update(attribute=attribute)
            touched += 1
    # Questions moved into a group answer per item now: their old attribute retires.
    for question in Question.objects.filter(questionnaire=questionnaire, group__isnull=False, attribute__isnull=False):
        Question.objects.filter(pk=question.pk).update(attribute=None)
    orphans = Attribute.objects.filter(kind=Attribute.Kind.QUESTIONNAIRE, is_active=True, question__isnull=True,
                                       question_group__isnull=True)
    for attribute in orphans:
        before = snapshot(attribute, ["is_active"])
        Attribute.objects.filter(pk=attribute.pk).update(is_active=False)
        audit_record(actor=actor, action="attribute.retire", target=attribute, before=before, after={"is_active": False})
        touched += 1
    if touched:
        audit_record(actor=actor, action="questionnaire.sync", target=questionnaire, after={"attributes_touched": touched})
    return touched
