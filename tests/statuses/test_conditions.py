"""The condition language (text <-> stored list) and the plain-words generator."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from attributes.models import Counter
from statuses.conditions import ConditionError, conditions_format, conditions_parse, conditions_validate
from statuses.words import counter_requirement, sentence


def test_parse_all_forms_and_format_round_trips():
    text = """spend_365 >= 30000
counter visits_month (previous) >= 4 and attribute city = moscow; attribute shoe_size in [41, 42]
attribute email is not set
attribute name = "Anna and Bob"
attribute pets contains [dog, cat]
attribute vip != true"""
    parsed = conditions_parse(text)
    assert parsed[0] == {"type": "counter", "counter": "spend_365", "period": "current", "op": "gte", "value": "30000"}
    assert parsed[1] == {"type": "counter", "counter": "visits_month", "period": "previous", "op": "gte", "value": "4"}
    assert parsed[2] == {"type": "attribute", "attribute": "city", "op": "eq", "value": "moscow"}
    assert parsed[3]["op"] == "in" and parsed[3]["value"] == ["41", "42"]
    assert parsed[4] == {"type": "attribute", "attribute": "email", "op": "is_not_set"}
    assert parsed[5]["value"] == "Anna and Bob"  # "and" inside quotes is a value
    assert parsed[6] == {"type": "attribute", "attribute": "pets", "op": "contains", "value": ["dog", "cat"]}
    assert parsed[7]["op"] == "ne"
    assert conditions_parse(conditions_format(parsed)) == parsed
    assert conditions_parse("") == [] and conditions_validate(None) == []


@pytest.mark.parametrize("text, message", [
    ("spend >= x", "condition 1: 'x' is not a number."),
    ("spend >= 1 and attribute a", "condition 2: the operator is missing."),
    ("spend (next) >= 1", "condition 1: the period is 'current' or 'previous', not 'next'."),
    ("spend >= 5 000", "condition 1: unexpected '000' at the end."),
    ("attribute a ~ 1", "condition 1: unknown operator '~'"),
    ("attribute a = [1, 2]", "condition 1: a list goes with 'in', 'not in' or 'contains'."),
    ("spend; drop >= 1", "condition 1: the operator (>=, >, <=, <, =, !=) is missing."),
    ("sp/end >= 1", "'sp/end' is not a counter code"),
])
def test_parse_errors_say_which_condition_and_why(text, message):
    with pytest.raises(ConditionError) as exc:
        conditions_parse(text)
    assert message in str(exc.value)


def test_validate_checks_the_stored_shape():
    assert conditions_validate([{"type": "counter", "counter": "s", "op": "gte", "value": 10}]) == [
        {"type": "counter", "counter": "s", "period": "current", "op": "gte", "value": "10"}]
    for bad in ([{"type": "x"}], [{"type": "counter", "counter": "s", "op": "like", "value": 1}],
                [{"type": "attribute", "attribute": "a", "op": "eq"}], "spend >"):
        with pytest.raises(ConditionError):
            conditions_validate(bad)


def counter(**kwargs) -> Counter:
    return Counter(code="c", name="Visits", aggregate=kwargs.pop("aggregate", Counter.Aggregate.SUM),
                   period=kwargs.pop("period", Counter.Period.ALL_TIME), timezone="UTC", **kwargs)


AS_OF = dt.datetime(2026, 2, 10, 12, tzinfo=dt.timezone.utc)


def test_words_for_a_quarter_counter_on_the_previous_period():
    quarter = counter(period=Counter.Period.QUARTER)
    cond = {"type": "counter", "counter": "c", "period": "previous", "op": "gte", "value": "5000"}
    req = counter_requirement(cond, quarter, current_period=Decimal("1800"), previous_period=Decimal("4000"),
                              as_of=AS_OF)
    # What counts at the next recalculation is this quarter's spend, until its last day.
    assert (req.met, req.missing, req.by) == (False, Decimal("3200"), dt.date(2026, 3, 31))
    assert sentence([req], "Gold", next_recalculation=dt.date(2026, 4, 1)) == \
        "Spend 3,200.00 more by 31.03.2026 to reach Gold."
    met = counter_requirement(cond, quarter, current_period=Decimal("0"), previous_period=Decimal("5000"), as_of=AS_OF)
    assert met.met
    assert sentence([met], "Gold", next_recalculation=dt.date(2026, 4, 1)) == (
        "You meet the conditions for Gold: it is given with your next purchase or at the recalculation on 01.04.2026.")


def test_words_for_counts_strict_operators_and_rolling_counters():
    visits = counter(aggregate=Counter.Aggregate.COUNT, period=Counter.Period.ROLLING, period_days=90)
    gt = {"type": "counter", "counter": "c", "period": "current", "op": "gt", "value": "3"}
    req = counter_requirement(gt, visits, current_period=Decimal(2), previous_period=Decimal(0), as_of=AS_OF)
    assert (req.missing, req.by, req.text) == (Decimal(2), None, "make 2 more purchases")
    one = counter_requirement({**gt, "op": "gte"}, visits, current_period=Decimal(2), previous_period=Decimal(0),
                              as_of=AS_OF)
    assert one.text == "make 1 more purchase"
    cap = counter_requirement({**gt, "op": "lte", "value": "10"}, visits, current_period=Decimal(12),
                              previous_period=Decimal(0), as_of=AS_OF)
    assert cap.text == "keep visits at most 10"
