"""How offers combine: non-cumulative ones compete per line (priority, benefit, lowest id),
cumulative ones apply on top, an exclusive offer stops chaining, rules are tried in order."""
from __future__ import annotations

from decimal import Decimal

from offers.engine import evaluate
from tests.offers.engine_kit import cheque, effects, group, line, offer, percent_off, rule, snap, trace_of


def test_higher_priority_wins_the_line_even_with_a_smaller_benefit():
    snapshot = snap(
        offer(1, rule(group("dairy"), actions=[percent_off("5")]), priority=10),
        offer(2, rule(group("dairy"), actions=[percent_off("50")]), priority=1),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00")))
    assert effects(result, 1) == [(1, "discount", "5.00")]
    lost = trace_of(result, 2)
    assert not lost.applied and lost.code == "lost"
    assert "higher priority (10 > 1)" in lost.reason


def test_same_priority_larger_total_benefit_for_the_cheque_wins():
    # Offer 1 gives more on line 1 alone; offer 2 gives more on the cheque as a whole.
    snapshot = snap(
        offer(1, rule(group("dairy"), actions=[percent_off("20")])),
        offer(2, rule(actions=[percent_off("15")])),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), line(2, "BREAD", "100.00")))
    assert effects(result, 1) == [(2, "discount", "15.00")]
    assert effects(result, 2) == [(2, "discount", "15.00")]
    assert "larger benefit (30.00 > 20.00)" in trace_of(result, 1).reason


def test_same_priority_and_benefit_lowest_id_wins():
    snapshot = snap(
        offer(9, rule(group("dairy"), actions=[percent_off("10")])),
        offer(4, rule(group("dairy"), actions=[percent_off("10")])),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "80.00")))
    assert effects(result, 1) == [(4, "discount", "8.00")]
    assert "lower id (4 < 9)" in trace_of(result, 9).reason


def test_loser_keeps_the_lines_nobody_else_took():
    snapshot = snap(
        offer(1, rule(group("dairy"), actions=[percent_off("10")]), priority=5),
        offer(2, rule(actions=[percent_off("3")])),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), line(2, "BREAD", "50.00")))
    assert effects(result, 1) == [(1, "discount", "10.00")]
    assert effects(result, 2) == [(2, "discount", "1.50")]
    partial = trace_of(result, 2)
    assert partial.applied and partial.code == "partial" and partial.positions == (2,)
    assert "line 1 went to offer #1" in partial.reason


def test_cumulative_offers_apply_on_top_on_what_is_left():
    snapshot = snap(
        offer(1, rule(group("dairy"), actions=[percent_off("10")])),
        offer(2, rule(actions=[percent_off("10")]), cumulative=True),
        offer(3, rule(actions=[{"type": "bonus", "mode": "percent", "value": "5"}]), cumulative=True),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "200.00")))
    # 10% of 200, then 10% of the 180 left; points on the 162 paid.
    assert effects(result, 1) == [(1, "discount", "20.00"), (2, "discount", "18.00"), (3, "bonus", "8.10")]
    assert result.lines[0].discount == Decimal("38.00")


def test_cumulative_offers_go_by_priority_then_id():
    snapshot = snap(
        offer(5, rule(actions=[{"type": "discount", "mode": "amount", "value": "30"}]), cumulative=True, priority=1),
        offer(3, rule(actions=[percent_off("50")]), cumulative=True, priority=1),
        offer(8, rule(actions=[percent_off("10")]), cumulative=True, priority=2),
    )
    result = evaluate(snapshot, cheque(line(1, "BREAD", "100.00")))
    # priority 2 first (10 of 100), then id 3 (50% of 90), then id 5 (30 of the 45 left).
    assert effects(result, 1) == [(8, "discount", "10.00"), (3, "discount", "45.00"), (5, "discount", "30.00")]


def test_exclusive_offer_stops_chaining_on_its_lines():
    snapshot = snap(
        offer(1, rule(group("dairy"), actions=[percent_off("10")]), exclusive=True),
        offer(2, rule(actions=[{"type": "bonus", "mode": "percent", "value": "5"}]), cumulative=True),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), line(2, "BREAD", "100.00")))
    assert effects(result, 1) == [(1, "discount", "10.00")]  # no points on the exclusive line
    assert effects(result, 2) == [(2, "bonus", "5.00")]
    assert trace_of(result, 2).positions == (2,)


def test_exclusive_cumulative_offer_closes_its_lines_to_lower_ones():
    snapshot = snap(
        offer(1, rule(group("dairy"), actions=[percent_off("10")]), cumulative=True, exclusive=True, priority=5),
        offer(2, rule(group("dairy"), actions=[percent_off("10")]), cumulative=True),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00")))
    blocked = trace_of(result, 2)
    assert not blocked.applied and blocked.code == "blocked"
    assert "exclusive offer #1" in blocked.reason


def test_non_exclusive_offers_chain():
    snapshot = snap(
        offer(1, rule(group("dairy"), actions=[percent_off("10")])),
        offer(2, rule(group("dairy"), actions=[percent_off("10")]), cumulative=True),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00")))
    assert [e[0] for e in effects(result, 1)] == [1, 2]


def test_a_line_goes_to_the_first_rule_that_holds_for_it():
    gold = {"type": "status", "system": "tier", "statuses": ["gold"]}
    snapshot = snap(offer(
        1,
        rule(gold, group("dairy"), actions=[percent_off("20")], name="gold dairy", id=11),
        rule(group("dairy"), actions=[percent_off("10")], name="dairy", id=12),
        rule(actions=[percent_off("1")], name="everything else", id=13),
    ))
    from tests.offers.engine_kit import member

    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), line(2, "TOY", "100.00"),
                                       customer=member(statuses={"tier": "gold"})))
    assert effects(result, 1) == [(1, "discount", "20.00")]
    assert effects(result, 2) == [(1, "discount", "1.00")]
    rules = {r.rule_id: r for r in trace_of(result, 1).rules}
    assert rules[11].held and rules[11].positions == (1,)
    assert not rules[12].held and "earlier rules" in rules[12].reason
    assert rules[13].positions == (2,)
    silver = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), customer=member(statuses={"tier": "silver"})))
    assert effects(silver, 1) == [(1, "discount", "10.00")]


def test_a_discount_never_goes_below_zero_across_offers():
    snapshot = snap(
        offer(1, rule(actions=[percent_off("90")])),
        offer(2, rule(actions=[{"type": "discount", "mode": "amount", "value": "50"}]), cumulative=True),
    )
    result = evaluate(snapshot, cheque(line(1, "BREAD", "40.00")))
    assert result.lines[0].discount == Decimal("40.00")
    assert effects(result, 1) == [(1, "discount", "36.00"), (2, "discount", "4.00")]
