"""Each filter type: when it holds, when it does not, and the reason the trace gives."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from offers.engine import CardFacts, PresentedCoupon, evaluate
from tests.offers.engine_kit import UTC, cheque, line, member, offer, percent_off, rule, snap, trace_of

MSK_NOON_TUESDAY = dt.datetime(2024, 3, 5, 9, 0, tzinfo=UTC)  # 12:00 in Moscow


def run(filter_spec: dict, *, lines=None, at=MSK_NOON_TUESDAY, customer=None, **fields):
    snapshot = snap(offer(1, rule(filter_spec, actions=[percent_off("10")], id=77)))
    result = evaluate(snapshot, cheque(*(lines or [line(1, "MILK", "100.00")]), at=at, customer=customer, **fields))
    entry = trace_of(result, 1)
    reason = entry.rules[0].reason if entry.rules else entry.reason
    return entry.applied, reason


CASES = [
    # (id, filter, cheque fields, holds, words in the reason when it fails)
    ("window-in", {"type": "datetime_range", "from": "2024-03-05T10:00", "to": "2024-03-05T13:00"}, {}, True, ""),
    # 12:00 Moscow is 09:00 UTC: the window is in store time, not UTC.
    ("window-store-time", {"type": "datetime_range", "from": "2024-03-05T08:00", "to": "2024-03-05T10:00"}, {}, False,
     "store time 2024-03-05 12:00"),
    ("weekday-in", {"type": "weekdays", "days": [2]}, {}, True, ""),
    ("weekday-out", {"type": "weekdays", "days": [6, 7]}, {}, False, "day 2 of the week"),
    ("hours-in", {"type": "hours", "from": "11:00", "to": "13:00"}, {}, True, ""),
    ("hours-out", {"type": "hours", "from": "08:00", "to": "11:00"}, {}, False, "outside 08:00–11:00"),
    ("hours-wrap", {"type": "hours", "from": "22:00", "to": "13:00"}, {}, True, ""),
    ("birthday-month", {"type": "birthday"}, {"customer": member(birth_date=dt.date(1990, 3, 28))}, True, ""),
    ("birthday-month-no", {"type": "birthday"}, {"customer": member(birth_date=dt.date(1990, 4, 1))}, False,
     "birthday month 4"),
    ("birthday-around", {"type": "birthday", "mode": "around", "days_before": 3, "days_after": 0},
     {"customer": member(birth_date=dt.date(1985, 3, 8))}, True, ""),
    ("birthday-around-no", {"type": "birthday", "mode": "around", "days_before": 2, "days_after": 2},
     {"customer": member(birth_date=dt.date(1985, 3, 8))}, False, "not within 2 days before"),
    ("birthday-across-new-year", {"type": "birthday", "mode": "around", "days_before": 0, "days_after": 5},
     {"customer": member(birth_date=dt.date(1980, 12, 30)), "at": dt.datetime(2024, 1, 2, 12, tzinfo=UTC)}, True, ""),
    ("birthday-unknown", {"type": "birthday"}, {"customer": member()}, False, "birth date is unknown"),
    ("birthday-anonymous", {"type": "birthday"}, {}, False, "no identified member"),
    ("wedding-2-years", {"type": "anniversary", "date": "attribute", "attribute": "wedding", "years": [2],
                         "days_after": 7}, {"customer": member(attributes={"wedding": "2022-03-01"})}, True, ""),
    ("wedding-3-years-no", {"type": "anniversary", "date": "attribute", "attribute": "wedding", "years": [3]},
     {"customer": member(attributes={"wedding": dt.date(2022, 3, 5)})}, False, "anniversary 3 of wedding"),
    ("registration-anniversary", {"type": "anniversary", "date": "registration"},
     {"customer": member(registered_on=dt.date(2020, 3, 5))}, True, ""),
    ("registered-recently", {"type": "customer_date", "date": "registration", "within_days": 30},
     {"customer": member(registered_on=dt.date(2024, 2, 20))}, True, ""),
    ("registered-long-ago", {"type": "customer_date", "date": "registration", "within_days": 30},
     {"customer": member(registered_on=dt.date(2023, 2, 20))}, False, "registration date 2023-02-20"),
    ("status-change-range", {"type": "customer_date", "date": "last_status_change", "from": "2024-01-01",
                             "to": "2024-02-01"}, {"customer": member(last_status_change_on=dt.date(2024, 1, 15))}, True, ""),
    ("status-in", {"type": "status", "system": "tier", "statuses": ["gold", "silver"]},
     {"customer": member(statuses={"tier": "gold"})}, True, ""),
    ("status-out", {"type": "status", "system": "tier", "statuses": ["gold"]},
     {"customer": member(statuses={"tier": "bronze"})}, False, "status in tier is bronze"),
    ("segment-any", {"type": "segment", "segments": [3, 4]}, {"customer": member(segment_ids=frozenset({4}))}, True, ""),
    ("segment-all-no", {"type": "segment", "segments": [3, 4], "all": True},
     {"customer": member(segment_ids=frozenset({4}))}, False, "not in all of segments 3, 4"),
    ("attribute-eq", {"type": "attribute", "code": "drink", "value": "Coffee"},
     {"customer": member(attributes={"drink": "coffee"})}, True, ""),
    ("attribute-gt-number", {"type": "attribute", "code": "kids", "op": "gt", "value": 1},
     {"customer": member(attributes={"kids": 2})}, True, ""),
    ("attribute-in", {"type": "attribute", "code": "city", "op": "in", "value": ["Moscow", "Kazan"]},
     {"customer": member(attributes={"city": "Omsk"})}, False, "attribute city = 'Omsk'"),
    ("attribute-bool", {"type": "attribute", "code": "vegan", "value": "true"},
     {"customer": member(attributes={"vegan": True})}, True, ""),
    ("attribute-not-set", {"type": "attribute", "code": "drink", "op": "not_set"}, {"customer": member()}, True, ""),
    ("boy-older-than-12", {"type": "group_items", "group": "children", "conditions": [
        {"field": "sex", "op": "eq", "value": "male"}, {"field": "birth_date", "op": "age_gt", "value": 12}]},
     {"customer": member(groups={"children": ({"sex": "female", "birth_date": "2005-01-01"},
                                              {"sex": "male", "birth_date": "2010-06-01"})})}, True, ""),
    ("no-boy-older-than-12", {"type": "group_items", "group": "children", "conditions": [
        {"field": "sex", "op": "eq", "value": "male"}, {"field": "birth_date", "op": "age_gt", "value": 12}]},
     {"customer": member(groups={"children": ({"sex": "female", "birth_date": "2005-01-01"},
                                              {"sex": "male", "birth_date": "2014-06-01"})})}, False,
     "0 of 2 items of children match"),
    ("around-a-childs-birthday", {"type": "group_items", "group": "children", "conditions": [
        {"field": "birth_date", "op": "around", "days_before": 5, "days_after": 5}]},
     {"customer": member(groups={"children": ({"birth_date": "2015-08-01"}, {"birth_date": "2018-03-09"})})}, True, ""),
    ("no-childs-birthday-near", {"type": "group_items", "group": "children", "conditions": [
        {"field": "birth_date", "op": "around", "days_before": 5, "days_after": 5}]},
     {"customer": member(groups={"children": ({"birth_date": "2015-08-01"},)})}, False, "0 of 1 items"),
    ("bought-a-car-in-january-2022", {"type": "purchased_group", "group": "cars", "from": "2022-01-01",
                                      "to": "2022-01-31"},
     {"customer": member(group_purchases={"cars": (dt.date(2021, 12, 30), dt.date(2022, 1, 15))})}, True, ""),
    ("no-car-in-january-2022", {"type": "purchased_group", "group": "cars", "from": "2022-01-01", "to": "2022-01-31"},
     {"customer": member(group_purchases={"cars": (dt.date(2022, 2, 1),)})}, False, "0 purchases of group cars"),
    ("bought-recently", {"type": "purchased_group", "group": "cars", "within_days": 10, "min_count": 2},
     {"customer": member(group_purchases={"cars": (dt.date(2024, 3, 1), dt.date(2024, 3, 4))})}, True, ""),
    ("sum-over", {"type": "cheque_sum", "min": "150"}, {"lines": [line(1, "MILK", "100.00"), line(2, "TOY", "60.00")]},
     True, ""),
    ("sum-of-group-under", {"type": "cheque_sum", "min": "150", "groups": ["dairy"]},
     {"lines": [line(1, "MILK", "100.00"), line(2, "TOY", "60.00")]}, False, "sum of groups dairy 100.00"),
    ("quantity-units", {"type": "cheque_quantity", "min": "3"}, {"lines": [line(1, "MILK", "100.00", "3")]}, True, ""),
    ("quantity-lines", {"type": "cheque_quantity", "min": "2", "count": "lines"},
     {"lines": [line(1, "MILK", "100.00", "3")]}, False, "lines 1 not within 2"),
    ("store-in", {"type": "store", "stores": [5]}, {"store_id": 5}, True, ""),
    ("store-out", {"type": "store", "stores": [5]}, {"store_id": 6}, False, "store 6 is not one of 5"),
    ("card-category", {"type": "card", "categories": ["gold"], "kinds": ["virtual"]},
     {"card": CardFacts(category="gold", kind="virtual")}, True, ""),
    ("card-other", {"type": "card", "categories": ["gold"]}, {"card": CardFacts(category="basic")}, False,
     "card category basic"),
    ("coupon-presented", {"type": "coupon", "issues": [7]}, {"coupons": (PresentedCoupon("ABC", 7),)}, True, ""),
    ("coupon-missing", {"type": "coupon", "issues": [7]}, {"coupons": (PresentedCoupon("ABC", 8),)}, False,
     "no coupon of issues 7"),
    ("product-group", {"type": "product_group", "groups": ["kids"]}, {}, False, "no line of groups kids"),
    ("product-group-among-others", {"type": "product_group", "groups": ["kids"]},
     {"lines": [line(1, "MILK", "100.00"), line(2, "TOY", "10.00")]}, True, ""),
    ("product-sku", {"type": "product_group", "skus": ["MILK"]}, {}, True, ""),
    ("negated-status", {"type": "status", "system": "tier", "statuses": ["gold"], "negate": True},
     {"customer": member(statuses={"tier": "gold"})}, False, "negated"),
    ("negated-group", {"type": "product_group", "groups": ["dairy"], "negate": True}, {}, False, "no line outside dairy"),
]


@pytest.mark.parametrize("spec, fields, holds, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_filter(spec, fields, holds, words):
    applied, reason = run(spec, **fields)
    assert applied is holds
    if not holds:
        assert words in reason, reason


def test_every_filter_type_is_covered():
    from offers.engine.filters import FILTERS

    covered = {case[1]["type"] for case in CASES}
    assert covered == set(FILTERS)


def test_february_29_birthday_is_the_28th_in_other_years():
    customer = member(birth_date=dt.date(2000, 2, 29))
    at = dt.datetime(2023, 2, 28, 12, tzinfo=UTC)
    applied, _ = run({"type": "birthday", "mode": "around"}, customer=customer, at=at)
    assert applied


def test_filters_read_the_store_time_zone_at_the_date_boundary():
    # 22:30 UTC on 31 March is already 1 April in Novosibirsk (UTC+7).
    at = dt.datetime(2024, 3, 31, 22, 30, tzinfo=UTC)
    spec = {"type": "birthday"}
    april = member(birth_date=dt.date(1990, 4, 10))
    assert run(spec, customer=april, at=at, timezone="Asia/Novosibirsk")[0]
    assert not run(spec, customer=april, at=at, timezone="Europe/London")[0]


def test_offer_period_and_places_are_checked_before_rules():
    snapshot = snap(
        offer(1, rule(actions=[percent_off("10")]), start_date=dt.date(2024, 3, 6)),
        offer(2, rule(actions=[percent_off("10")]), store_ids=frozenset({9})),
        offer(3, rule(actions=[percent_off("10")]), partner_ids=frozenset({5})),
        offer(4, rule(actions=[percent_off("10")]), end_date=dt.date(2024, 3, 5), partner_ids=frozenset({4})),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00"), store_id=8, partner_id=4))
    assert trace_of(result, 1).code == "not_in_period"
    assert "2024-03-05 is outside 2024-03-06" in trace_of(result, 1).reason
    assert trace_of(result, 2).code == "other_store"
    assert trace_of(result, 3).code == "other_store"
    assert trace_of(result, 4).applied is True  # the last day is included


def test_cheque_sum_counts_amounts_before_discounts():
    snapshot = snap(
        offer(1, rule(actions=[percent_off("50")]), priority=9),
        offer(2, rule({"type": "cheque_sum", "min": "100"}, actions=[{"type": "bonus", "mode": "fixed", "value": "10",
                                                                       "scope": "cheque"}]), cumulative=True),
    )
    result = evaluate(snapshot, cheque(line(1, "MILK", "100.00")))
    assert trace_of(result, 2).applied
    assert result.bonus == Decimal("10.00")
