"""Each action type and mode, rounding and spreading, lifetimes of points, limits."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from offers.engine import UsageFacts, evaluate
from offers.engine.actions import distribute
from offers.engine.lifetime import Lifetime
from tests.offers.engine_kit import UTC, cheque, effects, group, line, member, offer, percent_off, rule, snap, trace_of

D = Decimal


def one(action: dict, *lines, **fields):
    return evaluate(snap(offer(1, rule(actions=[action]))), cheque(*lines, **fields))


def discounts(result) -> list[str]:
    return [str(item.discount) for item in result.lines]


@pytest.mark.parametrize("action, expected", [
    ({"type": "discount", "mode": "percent", "value": "10"}, ["3.33", "6.67", "0.10"]),
    ({"type": "discount", "mode": "percent", "value": "10", "scope": "cheque"}, ["3.33", "6.67", "0.10"]),
    ({"type": "discount", "mode": "amount", "value": "5"}, ["5.00", "5.00", "1.00"]),
    # 10 spread by amount: 3.29 + 6.60 + 0.09 rounded down, the 0.02 left on the largest line.
    ({"type": "discount", "mode": "amount", "value": "10", "scope": "cheque"}, ["3.29", "6.62", "0.09"]),
    ({"type": "discount", "mode": "amount_per_unit", "value": "2"}, ["6.00", "4.00", "1.00"]),
    ({"type": "discount", "mode": "price_per_unit", "value": "10"}, ["3.30", "46.70", "0.00"]),
    # 1 set of 4 units for 50: the dearest units (2 x 33.35, 2 x 11.10 = 88.90): 38.90 off, spread.
    ({"type": "discount", "mode": "price_for_set", "value": "50", "set_size": 4}, ["9.71", "29.19", "0.00"]),
    # 20 off for every full 50 of the sum (101.00 -> 2 x 20), spread by amount.
    ({"type": "discount", "mode": "amount_per_sum", "value": "20", "every": "50"}, ["13.18", "26.43", "0.39"]),
])
def test_discount_modes(action, expected):
    result = one(action, line(1, "MILK", "33.30", "3"), line(2, "TOY", "66.70", "2"), line(3, "BREAD", "1.00"))
    assert discounts(result) == expected
    assert result.discount == sum(D(x) for x in expected)


def test_rounding_is_half_up_to_the_cent():
    result = one({"type": "discount", "mode": "percent", "value": "5"}, line(1, "MILK", "0.10"), line(2, "TOY", "0.30"))
    assert discounts(result) == ["0.01", "0.02"]  # 0.005 -> 0.01, 0.015 -> 0.02


def test_cheque_discount_remainder_goes_to_the_largest_line():
    # The engine counts in cents inside an evaluation.
    shares = distribute(1000, [0, 1, 2], {0: 1, 1: 1, 2: 1}, {0: 500, 1: 500, 2: 500})
    assert shares == {0: 334, 1: 333, 2: 333}  # equal lines: the first takes the cent
    shares = distribute(1000, [0, 1, 2], {0: 1, 1: 3, 2: 3}, None)
    assert shares == {0: 142, 1: 430, 2: 428}
    assert sum(shares.values()) == 1000
    capped = distribute(1000, [0, 1], {0: 1, 1: 1}, {0: 100, 1: 300})
    assert capped == {0: 100, 1: 300}  # never above a line's room


def test_discount_never_exceeds_a_line():
    result = one({"type": "discount", "mode": "amount", "value": "500", "scope": "cheque"},
                 line(1, "MILK", "10.00"), line(2, "TOY", "20.00"))
    assert discounts(result) == ["10.00", "20.00"]


@pytest.mark.parametrize("action, expected", [
    ({"type": "bonus", "mode": "percent", "value": "5"}, ["5.00", "2.50"]),
    ({"type": "bonus", "mode": "fixed", "value": "7"}, ["7.00", "7.00"]),
    ({"type": "bonus", "mode": "fixed", "value": "10", "scope": "cheque"}, ["6.67", "3.33"]),
    ({"type": "bonus", "mode": "per_unit", "value": "1.5"}, ["3.00", "1.50"]),
    ({"type": "bonus", "mode": "per_sum", "value": "10", "every": "100"}, ["6.67", "3.33"]),
])
def test_bonus_modes(action, expected):
    result = one(action, line(1, "MILK", "100.00", "2"), line(2, "TOY", "50.00"))
    assert [str(item.bonus) for item in result.lines] == expected
    assert result.bonus == sum(D(x) for x in expected)


def test_multiplier_multiplies_the_accruals_of_other_offers():
    snapshot = snap(
        offer(1, rule(actions=[{"type": "bonus", "mode": "percent", "value": "5"}]), cumulative=True),
        offer(2, rule(group("dairy"), actions=[{"type": "bonus", "mode": "multiplier", "value": "3"}]), cumulative=True),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), line(2, "TOY", "100.00")))
    assert effects(result, 1) == [(1, "bonus", "5.00"), (2, "bonus", "10.00")]
    assert effects(result, 2) == [(1, "bonus", "5.00")]
    assert trace_of(result, 2).benefit == D("10.00")


def test_percent_points_are_of_what_the_member_finally_pays():
    snapshot = snap(
        offer(1, rule(actions=[{"type": "bonus", "mode": "percent", "value": "10"}]), cumulative=True, priority=5),
        offer(2, rule(actions=[percent_off("50")]), cumulative=True),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00")))
    assert result.lines[0].bonus == D("5.00")  # 10% of the 50 paid, though offer 1 came first


def test_bonus_lifetimes_in_store_time():
    action = {"type": "bonus", "mode": "fixed", "value": "10", "activation": {"days": 14, "round": "day"},
              "expiry": {"months": 12, "round": "month"}}
    # 15:00 UTC on 5 March = 18:00 in Moscow.
    result = one(action, line(1, "MILK", "100.00"), at=dt.datetime(2024, 3, 5, 15, tzinfo=UTC))
    lot = result.lots[0]
    assert lot.activate_at == dt.datetime(2024, 3, 19, 21, tzinfo=UTC)  # 20 March 00:00 Moscow
    assert lot.expire_at == dt.datetime(2025, 3, 31, 21, tzinfo=UTC)  # 1 April 2025 00:00 Moscow
    assert lot.positions == (1,)


def test_lifetime_fixed_date_and_plain_delay():
    start = dt.datetime(2024, 1, 31, 10, tzinfo=UTC)
    assert Lifetime(date=dt.date(2024, 6, 1)).at(start, "UTC") == dt.datetime(2024, 6, 1, tzinfo=UTC)
    assert Lifetime(months=1).at(start, "UTC") == dt.datetime(2024, 2, 29, 10, tzinfo=UTC)  # clamped
    assert Lifetime(days=1, round="day").at(dt.datetime(2024, 1, 1, tzinfo=UTC), "UTC") == \
        dt.datetime(2024, 1, 2, tzinfo=UTC)  # already at midnight: no extra day


def test_bonus_cap_takes_the_strictest_offer_and_the_program_default():
    snapshot = snap(
        offer(1, rule(group("dairy"), actions=[{"type": "bonus_cap", "percent": "50"}]), cumulative=True),
        offer(2, rule(actions=[{"type": "bonus_cap", "percent": "30"}]), cumulative=True),
        offer(3, rule(group("kids"), actions=[percent_off("10")])),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), line(2, "TOY", "100.00")))
    assert [str(item.bonus_payment_max) for item in result.lines] == ["30.00", "27.00"]  # 30% of 90 paid
    no_cap = evaluate(snap(), cheque(line(1, "MILK", "100.00"), default_bonus_payment_percent=D("80")))
    assert no_cap.bonus_payment_max == D("80.00")


def test_coupon_issue_message_and_coupon_used():
    snapshot = snap(offer(1, rule({"type": "coupon", "issues": [4]}, actions=[
        {"type": "coupon_issue", "issue": 9, "count": 2}, {"type": "message", "text": "Thank you!"},
        percent_off("10")])))
    from offers.engine import PresentedCoupon

    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), coupons=(PresentedCoupon("X1", 4),)))
    assert [(c.issue_id, c.count) for c in result.coupons_to_issue] == [(9, 2)]
    assert [m.text for m in result.messages] == ["Thank you!"]
    assert [(c.code, c.offer_id) for c in result.coupons_used] == [("X1", 1)]


def test_personal_products_preference_only_on_chosen_products():
    action = {"type": "personal_products", "set": 3, "benefit": "discount", "mode": "percent", "value": "15"}
    chosen = member(personal_products={3: frozenset({"KEFIR"})})
    result = one(action, line(1, "MILK", "100.00"), line(2, "KEFIR", "100.00"), customer=chosen)
    assert discounts(result) == ["0.00", "15.00"]
    bonus = {"type": "personal_products", "set": 3, "benefit": "bonus", "mode": "per_unit", "value": "5"}
    result = one(bonus, line(1, "KEFIR", "100.00", "2"), customer=chosen)
    assert result.bonus == D("10.00")
    nothing = one(action, line(1, "MILK", "100.00"), customer=member())
    assert trace_of(nothing, 1).code == "no_effect"


def test_lineless_event_accrues_fixed_points_once():
    snapshot = snap(offer(1, rule({"type": "birthday", "mode": "around"}, actions=[
        {"type": "bonus", "mode": "fixed", "value": "100", "expiry": {"days": 30}},
        {"type": "message", "text": "Happy birthday"}]), event="birthday"),
        offer(2, rule(actions=[percent_off("10")])))
    at = dt.datetime(2024, 3, 5, 9, tzinfo=UTC)
    result = evaluate(snapshot, cheque(event="birthday", at=at, customer=member(birth_date=dt.date(1990, 3, 5))))
    assert result.bonus == D("100")
    assert result.lots[0].positions == () and result.lots[0].expire_at == at + dt.timedelta(days=30)
    assert [entry.offer_id for entry in result.trace] == [1]  # purchase offers are not evaluated


def test_limit_per_member_is_reported_and_enforced():
    snapshot = snap(offer(1, rule(actions=[percent_off("10")]), limit_per_customer=2))
    fresh = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), customer=member(),
                                      usage={1: UsageFacts(customer_uses=1)}))
    assert [(u.offer_id, u.benefit) for u in fresh.usage] == [(1, D("10.00"))]
    used_up = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), customer=member(),
                                        usage={1: UsageFacts(customer_uses=2)}))
    assert trace_of(used_up, 1).code == "limit" and "2 of 2 times" in trace_of(used_up, 1).reason
    anonymous = evaluate(snapshot, cheque(line(1, "MILK", "100.00")))
    assert trace_of(anonymous, 1).code == "limit"


def test_budget_caps_the_benefit_then_stops_the_offer():
    snapshot = snap(offer(1, rule(actions=[percent_off("10"), {"type": "bonus", "mode": "fixed", "value": "5"}]),
                          budget=D("1000")))
    nearly = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), line(2, "TOY", "100.00"),
                                       usage={1: UsageFacts(budget_spent=D("988"))}))
    assert nearly.discount == D("12.00") and nearly.bonus == D("0")  # discounts kept first
    spent = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), usage={1: UsageFacts(budget_spent=D("1000"))}))
    assert trace_of(spent, 1).code == "budget"


def test_max_benefit_per_cheque():
    snapshot = snap(offer(1, rule(actions=[percent_off("50")]), max_benefit_per_cheque=D("30")))
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), line(2, "TOY", "20.00")))
    assert result.discount == D("30.00")
    assert discounts(result) == ["25.00", "5.00"]


def test_rounded_lifetimes_depend_on_the_store_date_only():
    from offers.engine.lifetime import moment_on

    lifetime = Lifetime(days=14, round="day")
    for hour in (0, 5, 13, 20):  # UTC; Moscow is UTC+3: all on 5 March there except 21:00+
        start = dt.datetime(2024, 3, 5, hour, 30, tzinfo=UTC)
        assert moment_on(lifetime, dt.date(2024, 3, 5), "Europe/Moscow") == lifetime.at(start, "Europe/Moscow")
    midnight = dt.datetime(2024, 3, 4, 21, 0, tzinfo=UTC)  # exactly 00:00 in Moscow: no rounding up
    result = one({"type": "bonus", "mode": "fixed", "value": "1", "expiry": {"days": 14, "round": "day"}},
                 line(1, "MILK", "10.00"), at=midnight)
    assert result.lots[0].expire_at == dt.datetime(2024, 3, 18, 21, tzinfo=UTC)
