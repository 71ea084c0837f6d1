"""The questionnaire designer: questions, repeating groups of questions, validation rules.

Storage: a top-level question answers into its own `Attribute` (kind questionnaire), so segments
filter on it like on any attribute; a group (children, pets, cars) answers into `GroupItem` rows,
one per item, so conditions apply item by item ("a boy older than 12"). `questionnaire_sync`
(services) keeps the attributes in step with the questions.
"""
from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from attributes.models.definitions import Attribute, option_codes


class Questionnaire(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, help_text="The questionnaire customers and the call center fill in.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_questionnaire"),
        ]

    def __str__(self) -> str:
        return self.name


class QuestionGroup(models.Model):
    """A block of questions answered once per item (each child, each pet, each car)."""

    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.CASCADE, related_name="groups")
    code = models.SlugField(max_length=64, help_text="Name in the API: answers.<code>.<n>.<question>.")
    name = models.CharField(max_length=200)
    help_text = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)
    min_items = models.PositiveSmallIntegerField(default=0)
    max_items = models.PositiveSmallIntegerField(default=10)
    editable_by_customer = models.BooleanField(default=True)
    attribute = models.OneToOneField(
        Attribute, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="question_group"
    )

    class Meta:
        ordering = ("questionnaire_id", "position", "id")
        constraints = [models.UniqueConstraint(fields=["questionnaire", "code"], name="question_group_code_unique")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.max_items and self.min_items > self.max_items:
            raise ValidationError({"min_items": "At least cannot be more than at most."})
        if self.questionnaire_id and Question.objects.filter(
            questionnaire_id=self.questionnaire_id, group__isnull=True, code=self.code
        ).exists():
            raise ValidationError({"code": f"A question is already named '{self.code}'."})
        clash = attribute_code_clash(self.code, self.attribute_id)
        if clash:
            raise ValidationError({"code": clash})


class Question(models.Model):
    class Type(models.TextChoices):
        TEXT = "text"
        NUMBER = "number"
        DATE = "date"
        SINGLE_CHOICE = "single_choice", "single choice"
        MULTIPLE_CHOICE = "multiple_choice", "multiple choice"
        EMAIL = "email"
        PHONE = "phone"

    # How each question type is stored (the attribute's value type).
    VALUE_TYPES = {
        Type.TEXT: Attribute.ValueType.STRING,
        Type.NUMBER: Attribute.ValueType.DECIMAL,
        Type.DATE: Attribute.ValueType.DATE,
        Type.SINGLE_CHOICE: Attribute.ValueType.CHOICE,
        Type.MULTIPLE_CHOICE: Attribute.ValueType.MULTI_CHOICE,
        Type.EMAIL: Attribute.ValueType.STRING,
        Type.PHONE: Attribute.ValueType.STRING,
    }

    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.CASCADE, related_name="questions")
    group = models.ForeignKey(
        QuestionGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="questions",
        help_text="Empty: a question of its own. Set: asked once per item of the group.",
    )
    code = models.SlugField(max_length=64, help_text="Name in the API: answers.<code>.")
    label = models.CharField(max_length=300)
    help_text = models.CharField(max_length=300, blank=True)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.TEXT)
    required = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    options = models.JSONField(default=list, blank=True, help_text='Choices: ["cat", "dog"] or [{"code": "cat", "label": "Cat"}].')
    # Validation rules; each applies only to the types it makes sense for.
    min_length = models.PositiveIntegerField(null=True, blank=True, help_text="Text: fewest characters.")
    max_length = models.PositiveIntegerField(null=True, blank=True, help_text="Text: most characters.")
    pattern = models.CharField(max_length=300, blank=True, help_text="Text: a regular expression the whole answer must match.")
    pattern_message = models.CharField(max_length=200, blank=True, help_text="Shown when the pattern does not match.")
    min_value = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True, help_text="Number: smallest.")
    max_value = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True, help_text="Number: largest.")
    decimal_places = models.PositiveSmallIntegerField(default=0, help_text="Number: digits allowed after the point (0 = whole).")
    min_date = models.DateField(null=True, blank=True, help_text="Date: earliest.")
    max_date = models.DateField(null=True, blank=True, help_text="Date: latest.")
    not_in_future = models.BooleanField(default=False, help_text="Date: not after today (birth dates).")
    min_choices = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Multiple choice: fewest picks.")
    max_choices = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Multiple choice: most picks.")
    editable_by_customer = models.BooleanField(default=True)
    attribute = models.OneToOneField(
        Attribute, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="question"
    )

    class Meta:
        ordering = ("questionnaire_id", "group_id", "position", "id")
        constraints = [
            models.UniqueConstraint(fields=["questionnaire", "code"], condition=Q(group__isnull=True), name="question_code_unique"),
            models.UniqueConstraint(fields=["group", "code"], condition=Q(group__isnull=False), name="group_question_code_unique"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def value_type(self) -> str:
        return self.VALUE_TYPES[self.Type(self.type)]

    def _answered(self, group_id: int | None) -> bool:
        from attributes.models.values import AttributeValue, GroupItem

        if group_id is not None:
            return GroupItem.objects.filter(group_id=group_id, data__has_key=self.code).exists()
        return bool(self.attribute_id) and AttributeValue.objects.filter(attribute_id=self.attribute_id).exists()

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.type in (self.Type.SINGLE_CHOICE, self.Type.MULTIPLE_CHOICE):
            try:
                codes = option_codes(self.options)
            except ValueError as exc:
                errors["options"] = str(exc)
            else:
                if not codes:
                    errors["options"] = "List the options to choose from."
                elif len(set(codes)) != len(codes):
                    errors["options"] = "Option codes must be unique."
        if self.pattern:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                errors["pattern"] = f"Not a valid regular expression: {exc}."
        for low, high in (("min_length", "max_length"), ("min_value", "max_value"), ("min_date", "max_date"),
                          ("min_choices", "max_choices")):
            if getattr(self, low) is not None and getattr(self, high) is not None and getattr(self, low) > getattr(self, high):
                errors[low] = f"Cannot be more than {high.replace('_', ' ')}."
        if self.group_id and self.group.questionnaire_id != self.questionnaire_id:
            errors["group"] = "The group belongs to another questionnaire."
        if (self.group_id is None and self.questionnaire_id
                and QuestionGroup.objects.filter(questionnaire_id=self.questionnaire_id, code=self.code).exists()):
            errors["code"] = f"A group is already named '{self.code}'."
        elif self.group_id is None and self.code:
            clash = attribute_code_clash(self.code, self.attribute_id)
            if clash:
                errors["code"] = clash
        if self.pk:
            before = Question.objects.filter(pk=self.pk).values_list("type", "group_id").first()
            if before and before[0] != self.type and self.VALUE_TYPES[before[0]] != self.value_type and self._answered(before[1]):
                errors["type"] = ("Customers have answered this question already; add a new question instead of "
                                  "changing its type.")
        if errors:
            raise ValidationError(errors)


def attribute_code_clash(code: str, own_attribute_id: int | None) -> str | None:
    """Why a top-level question or group may not take `code` (its answers live in an attribute of
    that code), or None. A retired questionnaire attribute of that code is taken over."""
    if not code:
        return None
    other = Attribute.objects.filter(code=code).exclude(pk=own_attribute_id).first()
    if other is None:
        return None
    if other.kind != Attribute.Kind.QUESTIONNAIRE:
        return f"The attribute '{other.name}' already has the code '{code}'."
    if Question.objects.filter(attribute=other).exists() or QuestionGroup.objects.filter(attribute=other).exists():
        return f"Another question already answers into '{code}'."
    return None
