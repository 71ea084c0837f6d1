"""Condition kinds over the attributes app: attribute values, questionnaire group items and counts,
counters; composed with the rest of the tree; their own errors at the leaf's path."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from attributes.models import Attribute, CounterValue
from attributes.periods import period_start
from attributes.services import answers_update, attribute_values_set
from core.actors import Actor
from segments.definition import DefinitionError, definition_validate
from segments.selectors import compiled_count
from segments.compiler import compile_tree
from tests.factories.attributes import AttributeFactory, CounterFactory, family_questionnaire
from tests.factories.crm import CustomerFactory, NotifierFactory
from tests.factories.segments import member_ids

pytestmark = pytest.mark.django_db
OP = Actor(kind="operator", id="1", label="op")


def test_attribute_values_of_each_type():
    AttributeFactory(code="shoe_size", value_type=Attribute.ValueType.INTEGER)
    AttributeFactory(code="likes", value_type=Attribute.ValueType.MULTI_CHOICE, options=["tea", "coffee"])
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()
    attribute_values_set(customer_id=a.pk, actor=OP, values={"shoe_size": 42, "likes": ["tea"]})
    attribute_values_set(customer_id=b.pk, actor=OP, values={"shoe_size": 38, "likes": ["coffee", "tea"]})
    assert member_ids({"kind": "attribute", "attribute": "shoe_size", "op": "gte", "value": 40}) == {a.pk}
    assert member_ids({"kind": "attribute", "attribute": "likes", "op": "contains_all", "value": ["tea", "coffee"]}) == {b.pk}
    assert member_ids({"kind": "attribute", "attribute": "shoe_size", "op": "is_not_set"}) == {c.pk}
    # NOT of an attribute condition is the complement, as for every kind
    assert member_ids({"op": "not", "children": [
        {"kind": "attribute", "attribute": "shoe_size", "op": "gte", "value": 40}]}) == {b.pk, c.pk}


def test_questionnaire_group_items_and_counts():
    family_questionnaire()
    boy13, girl_and_boy5, none = CustomerFactory(), CustomerFactory(), CustomerFactory()
    answers_update(customer_id=boy13.pk, actor=OP, answers={"children": [
        {"name": "Ivan", "birth_date": "2010-06-01", "sex": "male"}]})
    answers_update(customer_id=girl_and_boy5.pk, actor=OP, answers={"children": [
        {"name": "Olga", "birth_date": "2010-01-02", "sex": "female"},
        {"name": "Petr", "birth_date": (timezone.now().date() - dt.timedelta(days=5 * 366)).isoformat(), "sex": "male"}]})
    older_boy = {"kind": "questionnaire_group", "group": "children", "where": [
        {"question": "sex", "op": "eq", "value": "male"}, {"question": "birth_date", "op": "age_gt", "value": 12}]}
    # the second family has a boy and a child over 12, but not a boy over 12
    assert member_ids(older_boy) == {boy13.pk}
    assert member_ids({"kind": "questionnaire_group", "group": "children",
                       "where": [["birth_date", "age_lt", 6]]}) == {girl_and_boy5.pk}
    assert member_ids({"kind": "questionnaire_group_count", "group": "children", "op": "gte", "value": 2}) == {
        girl_and_boy5.pk}
    assert member_ids({"kind": "questionnaire_group_count", "group": "children", "op": "eq", "value": 0}) == {none.pk}


def test_counter_values_by_period():
    counter = CounterFactory(code="spent_month", period="month")
    rich, poor, nobody = CustomerFactory(), CustomerFactory(), CustomerFactory()
    today = timezone.now().date()
    current = period_start("month", today)
    previous = period_start("month", current - dt.timedelta(days=1))
    CounterValue.objects.create(counter=counter, customer=rich, period_start=current, value=Decimal("5000"))
    CounterValue.objects.create(counter=counter, customer=poor, period_start=current, value=Decimal("50"))
    CounterValue.objects.create(counter=counter, customer=poor, period_start=previous, value=Decimal("9000"))
    assert member_ids({"kind": "counter", "counter": "spent_month", "op": "gte", "value": "1000"}) == {rich.pk}
    assert member_ids({"kind": "counter", "counter": "spent_month", "op": "gte", "value": "1000",
                       "period": "previous"}) == {poor.pk}
    assert member_ids({"kind": "counter", "counter": "spent_month", "op": "lt", "value": "100"}) == {poor.pk, nobody.pk}


def test_attribute_kinds_compose_and_count_in_one_query(django_assert_num_queries):
    AttributeFactory(code="vip", value_type=Attribute.ValueType.BOOLEAN)
    vip_phone = NotifierFactory(verified=True).customer
    vip = CustomerFactory()
    for customer in (vip_phone, vip):
        attribute_values_set(customer_id=customer.pk, actor=OP, values={"vip": True})
    NotifierFactory(verified=True)
    compiled = compile_tree(definition_validate({"op": "and", "children": [
        {"kind": "attribute", "attribute": "vip", "op": "eq", "value": True},
        {"kind": "notifier", "channel": "phone", "verified": True}]}))
    with django_assert_num_queries(1):
        assert compiled_count(compiled) == 1


def test_errors_of_the_attributes_helpers_name_the_leaf():
    AttributeFactory(code="shoe_size", value_type=Attribute.ValueType.INTEGER)
    family_questionnaire()
    with pytest.raises(DefinitionError) as caught:
        definition_validate({"op": "or", "children": [
            {"kind": "attribute", "attribute": "shoe_size", "op": "contains", "value": "x"},
            {"kind": "attribute", "attribute": "shoe_size", "op": "gt", "value": "big"},
            {"kind": "attribute", "attribute": "hat_size", "op": "eq", "value": 1},
            {"kind": "questionnaire_group", "group": "children", "where": [{"question": "shoe", "op": "eq", "value": 1}]},
            {"kind": "counter", "counter": "nope", "op": "gt", "value": 1},
        ]})
    errors = caught.value.errors
    assert set(errors) == {"definition.children.2.attribute", "definition.children.4.counter"}  # codes first
    with pytest.raises(DefinitionError) as caught:
        definition_validate({"op": "or", "children": [
            {"kind": "attribute", "attribute": "shoe_size", "op": "contains", "value": "x"},
            {"kind": "attribute", "attribute": "shoe_size", "op": "gt", "value": "big"},
            {"kind": "questionnaire_group", "group": "children", "where": [{"question": "shoe", "op": "eq", "value": 1}]},
        ]})
    errors = caught.value.errors
    assert "does not apply" in errors["definition.children.0.op"][0]
    assert "definition.children.1.value" in errors
    assert "no question 'shoe'" in errors["definition.children.2.where.0"][0]


def test_status_by_code_and_by_rank():
    from statuses.services import status_assign_manual
    from tests.factories.statuses import spend_system

    spend_system(code="tier")
    silver, gold, platinum, none = (CustomerFactory() for _ in range(4))
    for customer, status in ((silver, "silver"), (gold, "gold"), (platinum, "platinum")):
        status_assign_manual(customer_id=customer.pk, system="tier", status=status, reason="test", actor=OP)
    assert member_ids({"kind": "status", "system": "tier", "op": "eq", "value": "gold"}) == {gold.pk}
    assert member_ids({"kind": "status", "system": "tier", "op": "gte", "value": "gold"}) == {gold.pk, platinum.pk}
    assert member_ids({"kind": "status", "system": "tier", "op": "is_not_set"}) == {none.pk}
    assert member_ids({"op": "not", "children": [{"kind": "status", "system": "tier", "op": "in",
                                                  "value": ["silver", "gold"]}]}) == {platinum.pk, none.pk}
    with pytest.raises(DefinitionError) as caught:
        definition_validate({"op": "or", "children": [{"kind": "status", "system": "tier", "op": "eq", "value": "bronze"},
                                                       {"kind": "status", "system": "rank", "op": "is_set"}]})
    assert caught.value.errors == {"definition.children.1.system": ["No status system 'rank'."]}
    with pytest.raises(DefinitionError) as caught:
        definition_validate({"kind": "status", "system": "tier", "op": "eq", "value": "bronze"})
    assert "no status bronze" in caught.value.errors["definition.value"][0]
