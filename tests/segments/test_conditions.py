"""Each condition kind selects exactly the customers it describes; AND / OR / NOT compose as sets."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Account, Card, Customer, Purchase
from segments.models import Membership, RfmScore
from tests.factories.catalogue import ProductFactory, ProductGroupFactory, StoreFactory, TillFactory
from tests.factories.crm import (
    CardCategoryFactory,
    CardFactory,
    CardGroupFactory,
    CurrencyFactory,
    CustomerFactory,
    NotifierFactory,
    PurchaseFactory,
    PurchaseLineFactory,
)
from tests.factories.segments import SegmentFactory, member_ids, totals_refreshed

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def days_ago(n: float) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


# --- profile ------------------------------------------------------------------------------------

def test_profile_choice_text_and_store_fields():
    store = StoreFactory(code="msk-9")
    anna = CustomerFactory(first_name="Anna", last_name="O'Brien", gender="female", registration_store=store)
    ivan = CustomerFactory(first_name="Ivan", last_name="Petrov", gender="male", state=Customer.State.BLOCKED)
    anon = CustomerFactory(first_name="", last_name="", gender="", state=Customer.State.ANONYMOUS)

    assert member_ids({"kind": "profile", "field": "gender", "op": "eq", "value": "female"}) == {anna.pk}
    assert member_ids({"kind": "profile", "field": "gender", "op": "in", "value": ["male", "unknown"]}) == {ivan.pk, anon.pk}
    assert member_ids({"kind": "profile", "field": "state", "op": "not_in", "value": ["blocked"]}) == {anna.pk, anon.pk}
    assert member_ids({"kind": "profile", "field": "last_name", "op": "eq", "value": "O'Brien"}) == {anna.pk}
    assert member_ids({"kind": "profile", "field": "last_name", "op": "contains", "value": "trov"}) == {ivan.pk}
    assert member_ids({"kind": "profile", "field": "first_name", "op": "starts_with", "value": "I"}) == {ivan.pk}
    assert member_ids({"kind": "profile", "field": "first_name", "op": "is_not_set"}) == {anon.pk}
    assert member_ids({"kind": "profile", "field": "registration_store", "op": "in", "value": ["msk-9"]}) == {anna.pk}
    assert member_ids({"kind": "profile", "field": "registration_store", "op": "not_in", "value": ["msk-9"]}) == {
        ivan.pk, anon.pk}


def test_profile_like_wildcards_in_values_are_literal():
    percent = CustomerFactory(last_name="100%")
    CustomerFactory(last_name="1000")
    assert member_ids({"kind": "profile", "field": "last_name", "op": "contains", "value": "0%"}) == {percent.pk}


def test_birth_date_age_and_birthday():
    today = NOW.date()
    born_30 = CustomerFactory(birth_date=today.replace(year=today.year - 30))  # 30 today
    turns_30_tomorrow = CustomerFactory(birth_date=(today + dt.timedelta(days=1)).replace(year=today.year - 30))
    unknown = CustomerFactory(birth_date=None)

    assert member_ids({"kind": "profile", "field": "age", "op": "gte", "value": 30}) == {born_30.pk}
    assert member_ids({"kind": "profile", "field": "age", "op": "eq", "value": 29}) == {turns_30_tomorrow.pk}
    assert member_ids({"kind": "profile", "field": "age", "op": "between", "value": [29, 30]}) == {
        born_30.pk, turns_30_tomorrow.pk}
    assert member_ids({"kind": "profile", "field": "age", "op": "ne", "value": 30}) == {turns_30_tomorrow.pk}
    assert member_ids({"kind": "profile", "field": "birthday", "op": "today"}) == {born_30.pk}
    assert member_ids({"kind": "profile", "field": "birthday", "op": "within_next_days", "value": 1}) == {
        born_30.pk, turns_30_tomorrow.pk}
    assert member_ids({"kind": "profile", "field": "birth_date", "op": "is_not_set"}) == {unknown.pk}
    # NOT is the complement: "not 30 or older" includes the customer whose birth date is unknown
    assert member_ids({"op": "not", "children": [{"kind": "profile", "field": "age", "op": "gte", "value": 30}]}) == {
        turns_30_tomorrow.pk, unknown.pk}


def test_birthday_window_wraps_the_year_and_keeps_29_february():
    from segments.conditions import birthday_days

    assert birthday_days(dt.date(2025, 12, 30), 3) == ["01-01", "01-02", "12-30", "12-31"]
    assert "02-29" in birthday_days(dt.date(2025, 2, 27), 1)  # 2025 has no 29 February: celebrated on the 28th
    assert "02-29" not in birthday_days(dt.date(2024, 2, 27), 1)  # in a leap year the 29th comes in its turn


def test_registered_at_windows():
    recent = CustomerFactory(registered_at=days_ago(3))
    old = CustomerFactory(registered_at=days_ago(400))
    assert member_ids({"kind": "profile", "field": "registered_at", "op": "within_last_days", "value": 30}) == {recent.pk}
    assert member_ids({"kind": "profile", "field": "registered_at", "op": "more_than_days_ago", "value": 365}) == {old.pk}
    day = days_ago(3).date().isoformat()
    assert member_ids({"kind": "profile", "field": "registered_at", "op": "eq", "value": day}) == {recent.pk}


# --- contacts, cards, balance -------------------------------------------------------------------

def test_notifier_verified_phone_email():
    verified = NotifierFactory(verified=True).customer
    unverified = NotifierFactory(verified=False).customer
    emailed = NotifierFactory(kind="email", value="a@example.com", verified=True).customer
    assert member_ids({"kind": "notifier", "channel": "phone", "verified": True}) == {verified.pk}
    assert member_ids({"kind": "notifier", "channel": "phone", "verified": False}) == {unverified.pk}
    assert member_ids({"kind": "notifier", "channel": "phone"}) == {verified.pk, unverified.pk}
    assert member_ids({"kind": "notifier", "channel": "email"}) == {emailed.pk}


def test_card_state_kind_category_group():
    gold, print_run = CardCategoryFactory(code="gold"), CardGroupFactory(code="run-1")
    active_gold = CardFactory(category=gold, group=print_run).customer
    blocked = CardFactory(state=Card.State.BLOCKED).customer
    virtual = CardFactory(kind=Card.Kind.VIRTUAL).customer
    CustomerFactory()  # no card
    assert member_ids({"kind": "card"}) == {active_gold.pk, blocked.pk, virtual.pk}
    assert member_ids({"kind": "card", "states": ["blocked"]}) == {blocked.pk}
    assert member_ids({"kind": "card", "kinds": ["virtual"]}) == {virtual.pk}
    assert member_ids({"kind": "card", "categories": ["gold"], "groups": ["run-1"]}) == {active_gold.pk}


def test_balance_with_no_account_counting_as_zero():
    points = CurrencyFactory()
    rich, poor, none = CustomerFactory(), CustomerFactory(), CustomerFactory()
    Account.objects.create(customer=rich, currency=points, activated_balance=Decimal("700"))
    Account.objects.create(customer=poor, currency=points, activated_balance=Decimal("20"))
    assert member_ids({"kind": "balance", "op": "gte", "value": "500"}) == {rich.pk}
    assert member_ids({"kind": "balance", "op": "lt", "value": "100"}) == {poor.pk, none.pk}
    assert member_ids({"kind": "balance", "op": "gt", "value": "10", "currency": "points"}) == {rich.pk, poor.pk}


# --- purchases ----------------------------------------------------------------------------------

@pytest.fixture
def shop():
    """Three customers with cheques: a dairy buyer at store A, a big spender at store B, a refunder."""
    till_a, till_b = TillFactory(store__code="A"), TillFactory(store__code="B")
    dairy, wines = ProductGroupFactory(code="dairy"), ProductGroupFactory(code="wine")
    milk, wine = ProductFactory(sku="MILK"), ProductFactory(sku="WINE")
    dairy.products.add(milk)
    wines.products.add(wine)
    buyer, spender, refunder, idle = CustomerFactory(), CustomerFactory(), CustomerFactory(), CustomerFactory()

    def cheque(customer, till, when, lines, **extra):
        purchase = PurchaseFactory(customer=customer, till=till, purchased_at=when,
                                   amount=sum(Decimal(a) for _, a in lines), **extra)
        for pos, (product, amount) in enumerate(lines, start=1):
            PurchaseLineFactory(purchase=purchase, position=pos, product=product, sku=product.sku, amount=Decimal(amount),
                                price=Decimal(amount))
        return purchase

    cheque(buyer, till_a, days_ago(10), [(milk, "80")])
    cheque(buyer, till_a, days_ago(200), [(milk, "90"), (wine, "500")])
    cheque(spender, till_b, days_ago(5), [(wine, "1500")])
    cheque(spender, till_b, days_ago(40), [(wine, "700")])
    sale = cheque(refunder, till_a, days_ago(20), [(wine, "1200")])
    cheque(refunder, till_a, days_ago(19), [(wine, "1000")], kind=Purchase.Kind.REFUND, original=sale)
    cheque(refunder, till_a, days_ago(2), [(wine, "999")], state=Purchase.State.CANCELLED)  # never counts
    totals_refreshed()
    return {"buyer": buyer.pk, "spender": spender.pk, "refunder": refunder.pk, "idle": idle.pk}


def test_purchase_sum_count_avg_over_windows(shop):
    s = shop
    assert member_ids({"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "1000", "window_days": 365}) == {
        s["spender"]}
    assert member_ids({"kind": "purchases", "aggregate": "sum", "op": "between", "value": ["100", "300"],
                       "window_days": 30}) == {s["refunder"]}  # 1200 sold - 1000 refunded
    assert member_ids({"kind": "purchases", "aggregate": "count", "op": "gte", "value": 2}) == {s["buyer"], s["spender"]}
    # count 0 holds for customers without purchases too
    assert member_ids({"kind": "purchases", "aggregate": "count", "op": "eq", "value": 0, "window_days": 30}) == {
        s["idle"]}
    assert member_ids({"kind": "purchases", "aggregate": "avg", "op": "gte", "value": "1000"}) == {s["spender"]}


def test_purchase_dates(shop):
    s = shop
    assert member_ids({"kind": "purchases", "aggregate": "last_date", "op": "within_last_days", "value": 7}) == {
        s["spender"]}
    assert member_ids({"kind": "purchases", "aggregate": "last_date", "op": "more_than_days_ago", "value": 7}) == {
        s["buyer"], s["refunder"]}
    assert member_ids({"kind": "purchases", "aggregate": "first_date", "op": "lte",
                       "value": days_ago(100).date().isoformat()}) == {s["buyer"]}
    # the first sale inside a 60-day window (computed from cheques, not from the totals)
    assert member_ids({"kind": "purchases", "aggregate": "first_date", "op": "more_than_days_ago", "value": 15,
                       "window_days": 60}) == {s["spender"], s["refunder"]}


def test_purchase_product_group_store_and_dates(shop):
    s = shop
    assert member_ids({"kind": "purchases", "aggregate": "count", "op": "gte", "value": 1,
                       "product_groups": ["dairy"]}) == {s["buyer"]}
    assert member_ids({"kind": "purchases", "aggregate": "sum", "op": "gte", "value": "150",
                       "product_groups": ["dairy"]}) == {s["buyer"]}  # 80 + 90 of milk, not the wine
    assert member_ids({"kind": "purchases", "aggregate": "count", "op": "gte", "value": 1, "product_groups": ["dairy"],
                       "window_days": 30}) == {s["buyer"]}
    assert member_ids({"kind": "purchases", "aggregate": "count", "op": "gte", "value": 1, "stores": ["B"]}) == {
        s["spender"]}
    assert member_ids({"kind": "purchases", "aggregate": "count", "op": "eq", "value": 0, "stores": ["B"]}) == {
        s["buyer"], s["refunder"], s["idle"]}
    assert member_ids({"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "0",
                       "date_from": days_ago(45).date().isoformat(), "date_to": days_ago(30).date().isoformat()}) == {
        s["spender"]}


@pytest.mark.parametrize("leaf", [
    {"aggregate": "sum", "op": "gt", "value": "1000", "window_days": 365},
    {"aggregate": "sum", "op": "lte", "value": "200", "window_days": 30},
    {"aggregate": "count", "op": "between", "value": [1, 2], "window_days": 90},
    {"aggregate": "count", "op": "lt", "value": 2},
    {"aggregate": "count", "op": "gte", "value": 1, "window_days": 30},  # a plain EXISTS over cheques
    {"aggregate": "count", "op": "eq", "value": 0, "window_days": 90},  # a plain NOT EXISTS
    {"aggregate": "avg", "op": "lt", "value": "400", "window_days": 180},
    {"aggregate": "last_date", "op": "within_last_days", "value": 15, "window_days": 30},
    {"aggregate": "first_date", "op": "more_than_days_ago", "value": 30},
    {"aggregate": "sum", "op": "gte", "value": "150", "product_groups": ["dairy"]},
    {"aggregate": "count", "op": "gte", "value": 1, "product_groups": ["dairy"], "window_days": 30},
    {"aggregate": "count", "op": "eq", "value": 0, "product_groups": ["dairy", "wine"], "window_days": 365},
    {"aggregate": "last_date", "op": "within_last_days", "value": 100, "product_groups": ["dairy"]},
    {"aggregate": "avg", "op": "gt", "value": "600", "stores": ["B"], "window_days": 90},
    {"aggregate": "sum", "op": "lt", "value": "500", "stores": ["A"], "window_days": 30},
    {"aggregate": "count", "op": "gte", "value": 1, "stores": ["A", "B"], "window_days": 30},
    {"aggregate": "sum", "op": "gt", "value": "100", "stores": ["A"], "window_days": 30},  # scope_id = (SELECT ..)
    {"aggregate": "count", "op": "eq", "value": 0, "stores": ["B"], "window_days": 90},
    {"aggregate": "sum", "op": "gt", "value": "50", "product_groups": ["nosuchgroup"]},  # no id: nobody
])
def test_totals_and_cheques_give_the_same_answer(shop, leaf):
    """The totals are an optimisation: the plan over cheques agrees with them."""
    from segments.conditions import Context
    from segments.definition import definition_parse
    from segments.purchases import _from_purchases, _from_stats, stats_plan

    node = definition_parse({"kind": "purchases", **leaf})
    plan_name = stats_plan(node.params)
    assert plan_name == ("group" if "product_groups" in leaf else "store" if "stores" in leaf else "all")
    cx = Context(as_of=timezone.now())
    answers = []
    for plan in (lambda p, c: _from_stats(p, c, plan_name), _from_purchases):
        pred = plan(node.params, cx)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"SELECT c.id FROM crm_customer c WHERE {pred.sql}", pred.params)
            answers.append({row[0] for row in cursor.fetchall()})
    assert answers[0] == answers[1]


# --- RFM, other segments, composition -----------------------------------------------------------

def test_rfm_cells_and_scores():
    champ, lost, nobody = CustomerFactory(), CustomerFactory(), CustomerFactory()
    RfmScore.objects.create(customer=champ, last_purchase_at=NOW, frequency=9, monetary=Decimal(900), r=5, f=5, m=4,
                            cell="champions")
    RfmScore.objects.create(customer=lost, last_purchase_at=days_ago(300), frequency=1, monetary=Decimal(9), r=1, f=1,
                            m=1, cell="lost")
    assert member_ids({"kind": "rfm", "cells": ["champions"]}) == {champ.pk}
    assert member_ids({"kind": "rfm", "r": [1, 2]}) == {lost.pk}
    assert member_ids({"op": "not", "children": [{"kind": "rfm", "cells": ["champions", "lost"]}]}) == {nobody.pk}


def test_member_of_another_segment():
    inside, outside = CustomerFactory(), CustomerFactory()
    other = SegmentFactory()
    Membership.objects.create(segment=other, customer=inside, joined_at=NOW)
    assert member_ids({"kind": "segment", "segment": other.pk}) == {inside.pk}
    assert outside.pk not in member_ids({"kind": "segment", "segment": other.pk})


def test_and_or_not_compose_as_sets():
    female_phone = NotifierFactory(customer=CustomerFactory(gender="female"), verified=True).customer
    male_phone = NotifierFactory(customer=CustomerFactory(gender="male"), verified=True).customer
    female_only = CustomerFactory(gender="female")
    neither = CustomerFactory(gender="male")
    phone = {"kind": "notifier", "channel": "phone", "verified": True}
    female = {"kind": "profile", "field": "gender", "op": "eq", "value": "female"}
    assert member_ids({"op": "and", "children": [phone, female]}) == {female_phone.pk}
    assert member_ids({"op": "or", "children": [phone, female]}) == {female_phone.pk, male_phone.pk, female_only.pk}
    assert member_ids({"op": "not", "children": [{"op": "or", "children": [phone, female]}]}) == {neither.pk}
    assert member_ids({"op": "and", "children": [{"op": "not", "children": [phone]},
                                                  {"op": "not", "children": [female]}]}) == {neither.pk}
    # double negation
    assert member_ids({"op": "not", "children": [{"op": "not", "children": [phone]}]}) == {female_phone.pk, male_phone.pk}


def test_merged_customers_are_never_members():
    target = CustomerFactory(gender="female")
    CustomerFactory(gender="female", state=Customer.State.MERGED, merged_into=target)
    assert member_ids({"kind": "profile", "field": "gender", "op": "eq", "value": "female"}) == {target.pk}
