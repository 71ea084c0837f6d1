"""Definitions: every error names its place in the tree; one SQL query per count; values never in the SQL."""
from __future__ import annotations

import pytest

from core.errors import DomainError
from segments.compiler import compile_tree, definition_compile
from segments.definition import DefinitionError, definition_parse, definition_validate
from segments.selectors import compiled_count, segment_preview
from segments.sql import run
from tests.factories.catalogue import ProductGroupFactory
from tests.factories.crm import CustomerFactory, NotifierFactory


def errors_of(definition) -> dict[str, list[str]]:
    with pytest.raises(DefinitionError) as caught:
        definition_validate(definition)
    return caught.value.errors


@pytest.mark.django_db
def test_every_error_is_reported_with_its_path():
    errors = errors_of({"op": "and", "children": [
        {"kind": "notifier", "channel": "fax"},
        {"kind": "purchases", "aggregate": "sum", "op": "gt"},
        {"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "lots"},
        {"kind": "profile", "field": "gender", "op": "eq", "value": "female", "colour": "red"},
        {"kind": "teleport"},
        {"op": "not", "children": [{"kind": "rfm", "cells": ["champions"]}, {"kind": "rfm", "cells": ["lost"]}]},
        {"op": "xor", "children": []},
    ]})
    assert errors["definition.children.0.channel"] == ["Must be one of: phone, email, push."]
    assert errors["definition.children.1.value"] == ["This field is required."]
    assert errors["definition.children.2.value"] == ["'lots' is not a number."]
    assert "Unknown parameter" in errors["definition.children.3.colour"][0]
    assert "Unknown condition kind 'teleport'" in errors["definition.children.4.kind"][0]
    assert "exactly one condition" in errors["definition.children.5.children"][0]
    assert errors["definition.children.6.op"] == ["Must be one of: and, or, not."]


@pytest.mark.django_db
def test_unknown_codes_are_errors_at_their_path_with_one_query_per_kind_of_code(django_assert_num_queries):
    ProductGroupFactory(code="dairy")
    tree = definition_parse({"op": "or", "children": [
        {"kind": "purchases", "aggregate": "count", "op": "gte", "value": 1, "product_groups": ["dairy", "dairyy"]},
        {"kind": "purchases", "aggregate": "count", "op": "gte", "value": 1, "stores": ["nowhere"]},
        {"kind": "segment", "segment": 999},
    ]})
    from segments.definition import definition_check_references

    with django_assert_num_queries(3), pytest.raises(DefinitionError) as caught:
        definition_check_references(tree)
    assert caught.value.errors == {
        "definition.children.0.product_groups": ["No product group 'dairyy'."],
        "definition.children.1.stores": ["No store 'nowhere'."],
        "definition.children.2.segment": ["No segment '999'."],
    }


def test_shape_errors():
    assert "must be an object" in errors_of_parse([1, 2])["definition"][0]
    assert "non-empty list" in errors_of_parse({"op": "and", "children": []})["definition.children"][0]
    assert "Give either" in errors_of_parse({"children": []})["definition"][0]
    deep: dict = {"kind": "notifier", "channel": "phone"}
    for _ in range(9):
        deep = {"op": "and", "children": [deep]}
    assert any("nest at most" in m for ms in errors_of_parse(deep).values() for m in ms)
    err = errors_of_parse({"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "1", "window_days": 30,
                           "date_from": "2025-01-01"})
    assert err == {"definition.window_days": ["Give either window_days or date_from/date_to, not both."]}


def errors_of_parse(definition) -> dict[str, list[str]]:
    with pytest.raises(DefinitionError) as caught:
        definition_parse(definition)
    return caught.value.errors


def test_definition_error_is_a_domain_error_naming_the_first_path():
    with pytest.raises(DomainError) as caught:
        definition_parse({"op": "and", "children": [{"kind": "notifier", "channel": "phone", "verified": "yes"}]})
    assert caught.value.code == "definition_invalid"
    assert caught.value.field == "definition.children.0.verified"
    assert caught.value.extra == {"errors": {"definition.children.0.verified": ["Must be true or false."]}}


def test_values_are_parameters_never_sql_text():
    compiled = definition_compile({"op": "or", "children": [
        {"kind": "profile", "field": "last_name", "op": "eq", "value": "x'; DROP TABLE crm_customer; --"},
        {"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "1000.50", "product_groups": ["da'iry"]},
    ]})
    assert "DROP TABLE" not in compiled.where and "1000.50" not in compiled.where and "da'iry" not in compiled.where
    assert "x'; DROP TABLE crm_customer; --" in compiled.params
    sql, params = compiled.count_sql()
    assert sql.count("%s") == len(params)


@pytest.mark.django_db
def test_a_count_is_one_query(django_assert_num_queries):
    for n in range(3):
        NotifierFactory(customer=CustomerFactory(gender="female" if n else "male"), verified=True)
    compiled = compile_tree(definition_validate({"op": "and", "children": [
        {"kind": "notifier", "channel": "phone", "verified": True},
        {"op": "not", "children": [{"kind": "profile", "field": "gender", "op": "eq", "value": "male"}]},
        {"op": "or", "children": [
            {"kind": "purchases", "aggregate": "count", "op": "lt", "value": 3, "window_days": 90},
            {"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "5", "window_days": 45},
            {"kind": "rfm", "cells": ["champions"]},
            {"kind": "card", "states": ["active"]},
        ]},
    ]}))
    with django_assert_num_queries(1):
        assert compiled_count(compiled) == 2


@pytest.mark.django_db
def test_preview_counts_and_lists_the_first_members():
    people = [NotifierFactory(customer=CustomerFactory(first_name=f"P{n}"), verified=True).customer for n in range(5)]
    preview = segment_preview(definition={"kind": "notifier", "channel": "phone", "verified": True}, limit=3)
    assert preview.count == 5
    assert [m["id"] for m in preview.members] == sorted(p.pk for p in people)[:3]
    assert preview.members[0]["phone"].startswith("+7916")


@pytest.mark.django_db
def test_a_query_over_the_timeout_is_stopped_with_a_clear_error():
    with pytest.raises(DomainError) as caught:
        run("SELECT pg_sleep(1)", [], timeout_ms=50, what="Counting")
    assert caught.value.code == "segment_query_timeout" and caught.value.status == 422
    assert "took longer than 0.05 s" in caught.value.message


@pytest.mark.django_db
def test_a_store_code_shared_by_two_partners_is_refused():
    from tests.factories.catalogue import StoreFactory

    StoreFactory(code="central")
    StoreFactory(code="central")
    errors = errors_of({"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "1", "stores": ["central"]})
    assert "used by several partners" in errors["definition.stores"][0]
