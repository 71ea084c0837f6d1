"""Questionnaire answers: rules per question type, per-field errors, groups, audit and events."""
from __future__ import annotations

import datetime as dt

import pytest

from attributes.models import Attribute, AttributeValue, GroupItem
from attributes.selectors import questionnaire_with_answers
from attributes.services import answers_update
from core.actors import Actor
from core.errors import DomainError
from core.models import AuditEvent, DomainEvent
from tests.factories.attributes import family_questionnaire
from tests.factories.crm import CustomerFactory

pytestmark = pytest.mark.django_db
AGENT = Actor(kind="operator", id="7", label="agent")


@pytest.fixture
def questionnaire():
    return family_questionnaire()


def _errors(excinfo) -> dict[str, list[str]]:
    assert excinfo.value.code == "validation_error"
    return excinfo.value.extra["errors"]


def test_questions_answer_into_typed_attributes_and_groups_into_items(questionnaire):
    customer = CustomerFactory()
    after = answers_update(customer_id=customer.pk, actor=AGENT, answers={
        "favourite_category": "kids", "nickname": "Bob", "household": "4", "work_email": " Bob@Example.COM ",
        "second_phone": "8 (916) 123-45-67", "interests": ["sport", "travel"], "wedding_day": "12.06.2010",
        "children": [{"name": "Anna", "birth_date": "2015-03-01", "sex": "female"}, {"name": "Petr", "birth_date": "2010-12-30"}],
    })
    assert after["work_email"] == "bob@example.com"
    assert after["second_phone"] == "+79161234567"
    assert after["household"] == "4"
    assert after["wedding_day"] == "2010-06-12"
    assert after["children"] == [{"name": "Anna", "birth_date": "2015-03-01", "sex": "female"},
                                 {"name": "Petr", "birth_date": "2010-12-30"}]
    stored = AttributeValue.objects.get(customer_id=customer.pk, attribute__code="interests")
    assert stored.value_list == ["sport", "travel"] and stored.value_text is None
    assert AttributeValue.objects.get(customer_id=customer.pk, attribute__code="wedding_day").value_date == dt.date(2010, 6, 12)
    assert GroupItem.objects.filter(customer_id=customer.pk, group__code="children").count() == 2
    assert Attribute.objects.get(code="children").value_type == "group"


def test_every_bad_field_is_reported_with_its_path_and_nothing_changes(questionnaire):
    customer = CustomerFactory()
    answers_update(customer_id=customer.pk, actor=AGENT, answers={"favourite_category": "dairy", "nickname": "Ann"})
    with pytest.raises(DomainError) as excinfo:
        answers_update(customer_id=customer.pk, actor=AGENT, answers={
            "favourite_category": "",
            "nickname": "A1",
            "household": "0.5",
            "work_email": "not-an-email",
            "second_phone": "12345",
            "interests": ["sport", "cooking", "travel"],
            "wedding_day": (dt.date.today() + dt.timedelta(days=3)).isoformat(),
            "children": [{"name": "Ok", "birth_date": "2012-01-01"}, {"sex": "boy", "birth_date": "tomorrow"},
                         {"name": "X", "birth_date": "1900-01-01", "eyes": "blue"}],
            "pets": [],
        })
    errors = _errors(excinfo)
    assert errors["answers.favourite_category"] == ["This question is required."]
    assert errors["answers.nickname"] == ["Latin letters only."]
    assert errors["answers.household"] == ["0.5 is not a whole number."] or "whole" in errors["answers.household"][0]
    assert "not a valid email" in errors["answers.work_email"][0]
    assert "not a valid phone number" in errors["answers.second_phone"][0]
    assert errors["answers.interests"] == ["Choose at most 2."]
    assert errors["answers.wedding_day"] == ["Cannot be in the future."]
    assert errors["answers.children.1.name"] == ["This question is required."]
    assert "not one of" in errors["answers.children.1.sex"][0]
    assert "not a date" in errors["answers.children.1.birth_date"][0]
    assert errors["answers.children.2.birth_date"] == ["Not before 1950-01-01."]
    assert errors["answers.children.2.eyes"] == ["Unknown question."]
    assert errors["answers.pets"] == ["Unknown question."]
    assert "answers.children.0.name" not in errors
    # nothing was written
    after = questionnaire_with_answers(customer_id=customer.pk)["answers"]
    assert after["favourite_category"] == "dairy" and after["nickname"] == "Ann" and after["children"] == []


def test_customer_cannot_change_what_is_not_editable_by_customers(questionnaire):
    customer = CustomerFactory()
    with pytest.raises(DomainError) as excinfo:
        answers_update(customer_id=customer.pk, actor=Actor("customer", str(customer.pk), "c"), by_customer=True,
                       answers={"wedding_day": "2010-01-01", "nickname": "Joe"})
    assert _errors(excinfo) == {"answers.wedding_day": ["Not editable by the customer."]}


def test_partial_update_keeps_other_answers_and_clearing_optional_removes_it(questionnaire):
    customer = CustomerFactory()
    answers_update(customer_id=customer.pk, actor=AGENT, answers={"favourite_category": "dairy", "nickname": "Ann",
                                                                  "children": [{"name": "A", "birth_date": "2015-01-01"}]})
    after = answers_update(customer_id=customer.pk, actor=AGENT, answers={"nickname": None, "household": 3})
    assert after["favourite_category"] == "dairy" and "nickname" not in after and after["household"] == "3"
    assert len(after["children"]) == 1
    after = answers_update(customer_id=customer.pk, actor=AGENT, answers={"children": []})
    assert after["children"] == []


def test_change_is_audited_with_before_and_after_and_emits_an_event(questionnaire):
    customer = CustomerFactory()
    answers_update(customer_id=customer.pk, actor=AGENT, answers={"favourite_category": "dairy"})
    answers_update(customer_id=customer.pk, actor=AGENT, answers={"favourite_category": "kids", "nickname": "Ann"})
    event = AuditEvent.objects.filter(action="answers.update", object_id=str(customer.pk)).first()
    assert event.actor_label == "agent"
    assert event.before == {"favourite_category": "dairy", "nickname": None}
    assert event.after == {"favourite_category": "kids", "nickname": "Ann"}
    assert DomainEvent.objects.filter(kind="customer.questionnaire_updated", customer_id=customer.pk).count() == 2
    # the same answers again change nothing: no audit, no event
    answers_update(customer_id=customer.pk, actor=AGENT, answers={"favourite_category": "kids"})
    assert AuditEvent.objects.filter(action="answers.update", object_id=str(customer.pk)).count() == 2


def test_group_item_count_limits(questionnaire):
    customer = CustomerFactory()
    with pytest.raises(DomainError) as excinfo:
        answers_update(customer_id=customer.pk, actor=AGENT,
                       answers={"cars": [{"brand": f"B{i}"} for i in range(4)]})
    assert _errors(excinfo) == {"answers.cars": ["At most 3 item(s)."]}
    with pytest.raises(DomainError) as excinfo:
        answers_update(customer_id=customer.pk, actor=AGENT, answers={"cars": {"brand": "x"}})
    assert _errors(excinfo) == {"answers.cars": ["Expected a list of items."]}
