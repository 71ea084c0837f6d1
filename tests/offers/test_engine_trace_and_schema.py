"""The trace (why each offer applied or not), the JSON stored with a cheque, and the per-type
schemas that validate rules (with dotted field names) and document them."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from offers.engine import evaluate, validate_rule
from offers.engine.compile import OfferSpec, RuleSpec, compile_snapshot
from tests.offers.engine_kit import cheque, group, line, member, offer, percent_off, rule, snap, trace_of


def test_trace_has_an_entry_per_offer_with_codes_reasons_and_rules():
    snapshot = snap(
        offer(1, rule(group("dairy"), actions=[percent_off("10")], name="dairy", id=10), name="Dairy 10"),
        offer(2, rule({"type": "status", "system": "tier", "statuses": ["gold"]}, actions=[percent_off("5")],
                      name="gold", id=20), name="Gold 5", cumulative=True),
        offer(3, rule(group("kids"), actions=[percent_off("5")], id=30), name="Kids"),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), customer=member(statuses={"tier": "silver"})))
    assert [e.offer_id for e in result.trace] == [1, 3, 2]  # non-cumulative first, then cumulative
    applied = trace_of(result, 1)
    assert (applied.applied, applied.code, applied.positions, applied.benefit) == (True, "applied", (1,), Decimal("10.00"))
    assert applied.rules[0].held and applied.rules[0].positions == (1,)
    gold = trace_of(result, 2)
    assert (gold.applied, gold.code) == (False, "no_rule")
    assert gold.rules[0].reason == "filter 1 (status): status in tier is silver, not one of gold"
    kids = trace_of(result, 3)
    assert (kids.code, kids.reason) == ("no_rule", "no line of groups kids")
    assert result.applied_offer_ids == (1,)


def test_trace_json_is_what_a_cheque_stores():
    snapshot = snap(offer(1, rule(group("dairy"), actions=[percent_off("10")], id=10), name="Dairy"))
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00")))
    stored = json.loads(json.dumps(result.trace_json()))
    assert stored == [{"offer_id": 1, "offer_name": "Dairy", "applied": True, "code": "applied", "reason": "applied",
                       "lines": [1], "benefit": "10.00",
                       "rules": [{"rule_id": 10, "name": "rule", "held": True, "reason": "", "lines": [1]}]}]
    whole = json.loads(json.dumps(result.as_dict()))
    assert whole["lines"][0]["offers"] == [{"offer_id": 1, "offer_name": "Dairy", "effect": "discount", "value": "10.00"}]
    assert whole["payable"] == "90.00"


def test_trace_text_is_the_stored_json_with_untriggered_offers_encoded_once_per_snapshot():
    # given offers the cheque triggers, fails, and cannot trigger (none of their groups in it)
    snapshot = snap(
        offer(1, rule(group("dairy"), actions=[percent_off("10")], id=10), name="Dairy"),
        offer(2, rule({"type": "status", "system": "tier", "statuses": ["gold"]}, actions=[percent_off("5")], id=20),
              name="Gold", cumulative=True),
        offer(3, rule(group("kids"), actions=[percent_off("5")], id=30), name="Kids \"toys\""),
        offer(4, rule(group("pets"), group("toys"), actions=[percent_off("5")], id=40), name="Pets"),
    )
    # when two cheques are evaluated on the same snapshot
    first = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), customer=member(statuses={"tier": "silver"})))
    second = evaluate(snapshot, cheque(line(1, "MILK", "50.00")))
    # then the text decodes to exactly what trace_json gives, for both cheques
    assert json.loads(first.trace_text()) == first.trace_json()
    assert json.loads(second.trace_text()) == second.trace_json()
    # and the untriggered offers' entries were encoded once, on the snapshot, and reused
    assert set(snapshot.untriggered_text) == {3, 4}
    kids = trace_of(second, 3)
    assert kids.text is snapshot.untriggered_text[3]
    assert json.loads(kids.text)["reason"] == "no line of groups kids"
    assert trace_of(second, 1).text is None  # evaluated entries are encoded per cheque


def test_an_offer_whose_rules_no_longer_compile_never_applies_and_says_why():
    broken = OfferSpec(id=5, name="broken", rules=(RuleSpec(1, "r", 0, [{"type": "weekdays", "days": [9]}],
                                                            [percent_off("10")]),))
    result = evaluate(compile_snapshot([broken], {}), cheque(line(1, "MILK", "100.00")))
    entry = trace_of(result, 5)
    assert entry.code == "invalid" and "filters.0.days.0: must be at most 7" in entry.reason


@pytest.mark.parametrize("filters, actions, field, words", [
    ([], [], "actions", "at least one action"),
    ([{"type": "nope"}], [percent_off("1")], "filters.0.type", "unknown filter type 'nope'"),
    ([{"type": "hours", "from": "10:00"}], [percent_off("1")], "filters.0.to", "is required"),
    ([{"type": "weekdays", "days": [1], "colour": "red"}], [percent_off("1")], "filters.0.colour", "not a parameter"),
    ([group("dairy")], [{"type": "discount", "mode": "percent", "value": "150"}], "actions.0.value", "at most 100"),
    ([], [{"type": "discount", "mode": "percent", "value": 10.5}], "actions.0.value", "written as a string"),
    ([], [{"type": "discount", "mode": "price_for_set", "value": "99"}], "actions.0.set_size", "required"),
    ([], [{"type": "bonus", "mode": "percent", "value": "5", "expiry": {"round": "week"}}], "actions.0.expiry.round",
     "must be one of none, day, month"),
    ([{"type": "group_items", "group": "children", "conditions": [{"field": "birth_date", "op": "age_gt",
                                                                    "value": "x"}]}],
     [percent_off("1")], "filters.0.conditions.0.value", "whole number of years"),
    ([{"type": "datetime_range", "from": "2024-03-01T00:00+03:00"}], [percent_off("1")], "filters.0.from",
     "without a time zone"),
    ("not a list", [percent_off("1")], "filters", "must be a list"),
])
def test_rule_validation_names_the_field(filters, actions, field, words):
    errors = dict(validate_rule(filters, actions))
    assert field in errors, errors
    assert words in errors[field]


def test_every_type_has_an_example_that_validates():
    from offers.engine.actions import ACTIONS
    from offers.engine.filters import FILTERS

    for cls in FILTERS.values():
        assert validate_rule([cls.EXAMPLE], [percent_off("1")]) == [], cls.TYPE
    for cls in ACTIONS.values():
        assert validate_rule([], [cls.EXAMPLE]) == [], cls.TYPE
