"""The segment helper: each attribute kind and operator selects exactly the right customers, by SQL
and as a Django Q; group conditions hold item by item; anniversaries wrap the year."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from attributes.filters import attribute_condition, counter_condition, group_condition, group_count_condition
from attributes.models import Attribute, CounterValue
from attributes.services import answers_update, attribute_values_set
from core.actors import Actor
from core.errors import DomainError
from crm.models import Customer, Notifier
from tests.factories.attributes import AttributeFactory, CounterFactory, family_questionnaire
from tests.factories.crm import CustomerFactory

pytestmark = pytest.mark.django_db
OP = Actor(kind="operator", id="1", label="op")
VT = Attribute.ValueType


def ids(condition) -> set[int]:
    """Evaluate both forms and insist they agree."""
    by_q = set(Customer.objects.filter(condition.q()).values_list("id", flat=True))
    sql, params = condition.sql("c.id")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT c.id FROM crm_customer c WHERE {sql}", params)
        by_sql = {row[0] for row in cursor.fetchall()}
    assert by_q == by_sql
    return by_q


@pytest.fixture
def people():
    for code, value_type, options in (
        ("vip", VT.BOOLEAN, []), ("shoe_size", VT.INTEGER, []), ("income", VT.DECIMAL, []), ("city", VT.STRING, []),
        ("since", VT.DATE, []), ("segment", VT.CHOICE, ["gold", "silver"]), ("likes", VT.MULTI_CHOICE, ["tea", "coffee", "milk"]),
    ):
        AttributeFactory(code=code, value_type=value_type, options=options)
    a, b, c, d = (CustomerFactory() for _ in range(4))
    attribute_values_set(customer_id=a.pk, actor=OP, values={"vip": True, "shoe_size": 42, "income": "1500.50",
                         "city": "Moscow", "since": "2020-02-29", "segment": "gold", "likes": ["tea", "coffee"]})
    attribute_values_set(customer_id=b.pk, actor=OP, values={"vip": False, "shoe_size": 38, "income": "99.99",
                         "city": "Novosibirsk", "since": "2023-12-30", "segment": "silver", "likes": ["milk"]})
    attribute_values_set(customer_id=c.pk, actor=OP, values={"shoe_size": 45, "city": "moscow region"})
    return a, b, c, d


def test_scalar_operators(people):
    a, b, c, d = people
    assert ids(attribute_condition("vip", "eq", True)) == {a.pk}
    assert ids(attribute_condition("vip", "eq", "false")) == {b.pk}
    assert ids(attribute_condition("vip", "is_not_set")) == {c.pk, d.pk}
    assert ids(attribute_condition("shoe_size", "gte", 42)) == {a.pk, c.pk}
    assert ids(attribute_condition("shoe_size", "between", [38, 42])) == {a.pk, b.pk}
    assert ids(attribute_condition("shoe_size", "in", [38, 45])) == {b.pk, c.pk}
    assert ids(attribute_condition("shoe_size", "ne", 42)) == {b.pk, c.pk}  # "ne" needs a value
    assert ids(attribute_condition("income", "gt", "100")) == {a.pk}
    assert ids(attribute_condition("city", "contains", "MOSCOW")) == {a.pk, c.pk}
    assert ids(attribute_condition("city", "starts_with", "Nov")) == {b.pk}
    assert ids(attribute_condition("segment", "not_in", ["gold"])) == {b.pk}
    assert ids(attribute_condition("likes", "contains", ["coffee", "milk"])) == {a.pk, b.pk}
    assert ids(attribute_condition("likes", "contains_all", ["tea", "coffee"])) == {a.pk}
    assert ids(attribute_condition("since", "lt", "2021-01-01")) == {a.pk}
    assert ids(attribute_condition("since", "is_set")) == {a.pk, b.pk}


def test_anniversaries_wrap_the_year_and_29_february_falls_on_28(people):
    a, b, _, _ = people
    # b since 2023-12-30: on 2024-12-28 it is 2 days away; a on 29 Feb is 28 Feb in 2025
    assert ids(attribute_condition("since", "anniversary_within", 5, on=dt.date(2024, 12, 28))) == {b.pk}
    assert ids(attribute_condition("since", "anniversary_within", 0, on=dt.date(2025, 2, 28))) == {a.pk}
    assert ids(attribute_condition("since", "anniversary_within", 3, on=dt.date(2025, 1, 1))) == set()
    # 2 January 2025 is 3 days after 30 December: out of a 2-day window, in a 3-day one
    assert ids(attribute_condition("since", "anniversary_within", 2, on=dt.date(2024, 12, 27))) == set()
    assert ids(attribute_condition("since", "anniversary_within", 3, on=dt.date(2024, 12, 27))) == {b.pk}


def test_wrong_operator_or_value_is_a_clear_error(people):
    with pytest.raises(DomainError) as bad_op:
        attribute_condition("vip", "gt", 1)
    assert bad_op.value.field == "op" and "boolean" in bad_op.value.message
    with pytest.raises(DomainError) as bad_value:
        attribute_condition("shoe_size", "eq", "big")
    assert bad_value.value.field == "value" and "whole number" in bad_value.value.message
    with pytest.raises(DomainError):
        attribute_condition("nope", "eq", 1)


@pytest.fixture
def families():
    family_questionnaire()
    boy13, girl13_boy5, boy12, none = (CustomerFactory() for _ in range(4))
    on = dt.date(2025, 12, 28)
    answers_update(customer_id=boy13.pk, actor=OP, answers={"children": [
        {"name": "Ivan", "birth_date": "2012-06-01", "sex": "male"}]})
    answers_update(customer_id=girl13_boy5.pk, actor=OP, answers={"children": [
        {"name": "Olga", "birth_date": "2012-01-02", "sex": "female"},
        {"name": "Petr", "birth_date": "2020-05-05", "sex": "male"}]})
    answers_update(customer_id=boy12.pk, actor=OP, answers={"children": [
        {"name": "Oleg", "birth_date": "2013-12-28", "sex": "male"}]})
    return boy13, girl13_boy5, boy12, none, on


def test_group_conditions_hold_for_one_and_the_same_item(families):
    boy13, girl13_boy5, boy12, none, on = families
    older_boy = group_condition("children", [("sex", "eq", "male"), ("birth_date", "age_gt", 12)], on=on)
    # the second family has a boy and a child over 12, but not a boy over 12; Oleg is exactly 12 today
    assert ids(older_boy) == {boy13.pk}
    assert ids(group_condition("children", [("birth_date", "age_gte", 12)], on=on)) == {boy13.pk, girl13_boy5.pk, boy12.pk}
    assert ids(group_condition("children", [("birth_date", "age_lt", 6)], on=on)) == {girl13_boy5.pk}
    assert ids(group_condition("children", [("sex", "is_not_set")], on=on)) == set()


def test_childs_birthday_within_days_across_new_year(families):
    boy13, girl13_boy5, boy12, none, on = families
    # 28 Dec: Oleg turns 12 today (0 days), Olga's birthday is 2 January (5 days, next year)
    assert ids(group_condition("children", [("birth_date", "anniversary_within", 1)], on=on)) == {boy12.pk}
    assert ids(group_condition("children", [("birth_date", "anniversary_within", 5)], on=on)) == {boy12.pk, girl13_boy5.pk}


def test_item_count(families):
    boy13, girl13_boy5, boy12, none, _ = families
    assert ids(group_count_condition("children", "gte", 2)) == {girl13_boy5.pk}
    assert ids(group_count_condition("children", "eq", 0)) == {none.pk}
    assert ids(group_count_condition("children", "lt", 2)) == {boy13.pk, boy12.pk, none.pk}


def test_counter_conditions_treat_no_row_as_zero():
    counter = CounterFactory(period="month")
    rich, poor, nobody = CustomerFactory(), CustomerFactory(), CustomerFactory()
    today = dt.date(2025, 3, 15)
    CounterValue.objects.create(counter=counter, customer=rich, period_start=dt.date(2025, 3, 1), value=Decimal("5000"))
    CounterValue.objects.create(counter=counter, customer=poor, period_start=dt.date(2025, 3, 1), value=Decimal("50"))
    CounterValue.objects.create(counter=counter, customer=poor, period_start=dt.date(2025, 2, 1), value=Decimal("9000"))
    assert ids(counter_condition(counter, "gt", 100, on=today)) == {rich.pk}
    assert ids(counter_condition(counter, "lt", 100, on=today)) == {poor.pk, nobody.pk}
    assert ids(counter_condition(counter, "eq", 0, on=today)) == {nobody.pk}
    assert ids(counter_condition(counter, "gte", 1000, on=today, period="previous")) == {poor.pk}
    attribute = AttributeFactory(code="spend-month", kind=Attribute.Kind.COUNTER, value_type="", counter=counter)
    assert ids(attribute_condition(attribute, "between", [10, 100], on=today)) == {poor.pk}


def test_notifier_attribute():
    attribute = AttributeFactory(code="phone", kind=Attribute.Kind.NOTIFIER, value_type="", notifier_kind="phone")
    verified, unverified, none = CustomerFactory(), CustomerFactory(), CustomerFactory()
    Notifier.objects.create(customer=verified, kind="phone", value="+79160000001", verified=True)
    Notifier.objects.create(customer=unverified, kind="phone", value="+79160000002")
    assert ids(attribute_condition(attribute, "is_set")) == {verified.pk, unverified.pk}
    assert ids(attribute_condition(attribute, "verified")) == {verified.pk}
    assert ids(attribute_condition(attribute, "is_not_set")) == {none.pk}
    assert ids(attribute_condition(attribute, "eq", "8 (916) 000-00-02")) == {unverified.pk}
    with pytest.raises(DomainError):
        attribute_condition(attribute, "eq", "12")


def test_status_and_personal_products_wait_for_their_owner_app():
    from attributes import filters

    # The statuses app registers its filter when installed; take it away to see the contract.
    owner_filter = filters._KIND_FILTERS.pop("status", None)
    try:
        status = AttributeFactory(code="tier", kind=Attribute.Kind.STATUS, value_type="", config={"status_system": "main"})
        with pytest.raises(DomainError) as excinfo:
            attribute_condition(status, "eq", "gold")
        assert excinfo.value.code == "filter_unavailable"

        customer = CustomerFactory()
        filters.register_kind_filter("status", lambda attr, op, value, on: filters.Condition("SELECT %s::bigint", (customer.pk,)))
        assert ids(attribute_condition(status, "eq", "gold")) == {customer.pk}
    finally:
        filters._KIND_FILTERS.pop("status", None)
        if owner_filter is not None:
            filters._KIND_FILTERS["status"] = owner_filter
