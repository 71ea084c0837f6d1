"""Counters: incremental updates on confirm / cancel / refund equal a full recalculation; the
rolling window rolls; calendar periods keep history; imported parts survive; races."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from attributes.models import CountedPurchase, Counter, CounterValue
from attributes.services import counter_apply_purchase, counter_recalculate_now, counter_roll
from crm.models import Purchase
from tests.conftest import run_in_threads
from tests.factories.attributes import CounterFactory, purchase_make
from tests.factories.catalogue import ProductFactory, ProductGroupFactory, TillFactory
from tests.factories.crm import CustomerFactory

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc


def snapshot(counter: Counter) -> dict[tuple[int, dt.date], Decimal]:
    """Values as a dict, zero rows dropped (a zero row and no row mean the same)."""
    return {(v.customer_id, v.period_start): v.value for v in CounterValue.objects.filter(counter=counter) if v.value}


def state_change(purchase: Purchase, state: str) -> None:
    Purchase.objects.filter(pk=purchase.pk).update(state=state)
    counter_apply_purchase(purchase_id=purchase.pk)


@pytest.fixture
def shop():
    group = ProductGroupFactory(code="dairy")
    milk, cheese, bread = ProductFactory(), ProductFactory(), ProductFactory()
    group.products.add(milk, cheese)
    till_a, till_b = TillFactory(), TillFactory()
    counters = [
        CounterFactory(code="spend-all", aggregate="sum", period="all_time"),
        CounterFactory(code="visits-month", aggregate="count", period="month", timezone="Europe/Moscow"),
        CounterFactory(code="spend-30", aggregate="sum", period="rolling", period_days=30),
        CounterFactory(code="dairy-quarter", aggregate="sum", period="quarter", product_group=group),
        CounterFactory(code="dairy-visits-year", aggregate="count", period="year", product_group=group),
        CounterFactory(code="store-a", aggregate="sum", period="all_time", store=till_a.store),
    ]
    return {"group": group, "milk": milk, "cheese": cheese, "bread": bread, "tills": (till_a, till_b), "counters": counters}


def test_incremental_updates_equal_a_full_recalculation(shop):
    rng = random.Random(7)
    customers = [CustomerFactory() for _ in range(5)]
    now = timezone.now()
    purchases: list[Purchase] = []
    for i in range(40):
        products = rng.sample([shop["milk"], shop["cheese"], shop["bread"]], rng.randint(1, 3))
        purchase = purchase_make(customer=rng.choice(customers), amount=Decimal(rng.randint(100, 5000)),
                                 discount=Decimal(rng.randint(0, 50)), at=now - dt.timedelta(days=rng.randint(0, 200), hours=rng.randint(0, 23)),
                                 till=rng.choice(shop["tills"]), products=products, state="calculated", number=f"N{i}")
        state_change(purchase, "confirmed")
        purchases.append(purchase)
    for purchase in rng.sample(purchases, 6):  # cancelled after confirmation
        state_change(purchase, "cancelled")
    for original in rng.sample([p for p in purchases if p.state != "cancelled"], 5):  # refunds, some much later
        original.refresh_from_db()
        if original.state != "confirmed":
            continue
        refund = purchase_make(customer=original.customer, amount=original.amount / 2, kind="refund", original=original,
                               till=shop["tills"][1], at=now, products=[shop["milk"]], state="calculated")
        state_change(refund, "confirmed")
    incremental = {c.code: snapshot(c) for c in shop["counters"]}
    assert any(incremental.values())
    for counter in shop["counters"]:
        counter_recalculate_now(counter_id=counter.pk, chunk=2)  # several ranges
    full = {c.code: snapshot(c) for c in shop["counters"]}
    assert incremental == full


def test_sums_counts_groups_stores_and_refunds_by_hand(shop):
    customer = CustomerFactory()
    till_a, till_b = shop["tills"]
    at = dt.datetime(2025, 1, 31, 22, 30, tzinfo=UTC)  # 1 February 01:30 in Moscow
    sale = purchase_make(customer=customer, amount="300", discount="30", at=at, till=till_a,
                         products=[shop["milk"], shop["bread"], shop["cheese"]], state="calculated")
    state_change(sale, "confirmed")
    refund = purchase_make(customer=customer, amount="100", at=at + dt.timedelta(days=40), till=till_b,
                           products=[shop["milk"]], kind="refund", original=sale, state="calculated")
    state_change(refund, "confirmed")
    values = {c.code: snapshot(c) for c in shop["counters"]}
    assert values["spend-all"] == {(customer.pk, dt.date(1970, 1, 1)): Decimal("170.00")}  # 270 - 100
    assert values["visits-month"] == {(customer.pk, dt.date(2025, 2, 1)): Decimal("1")}  # Moscow time; refunds do not count
    assert values["dairy-quarter"] == {(customer.pk, dt.date(2025, 1, 1)): Decimal("80.00")}  # 2 × 90 - 100, sale's quarter
    assert values["dairy-visits-year"] == {(customer.pk, dt.date(2025, 1, 1)): Decimal("1")}
    assert values["store-a"] == {(customer.pk, dt.date(1970, 1, 1)): Decimal("170.00")}  # refund follows the sale's store
    assert values["spend-30"] == {}  # long ago


def test_apply_is_idempotent(shop):
    customer = CustomerFactory()
    sale = purchase_make(customer=customer, amount="500", state="calculated")
    state_change(sale, "confirmed")
    assert counter_apply_purchase(purchase_id=sale.pk).sign == 0  # again: nothing
    spend_all = shop["counters"][0]
    assert snapshot(spend_all) == {(customer.pk, dt.date(1970, 1, 1)): Decimal("500.00")}
    state_change(sale, "cancelled")
    assert counter_apply_purchase(purchase_id=sale.pk).sign == 0
    assert snapshot(spend_all) == {}
    assert not CountedPurchase.objects.filter(purchase_id=sale.pk).exists()


def test_rolling_window_forgets_old_days_like_a_recalculation(shop):
    counter = shop["counters"][2]  # spend-30
    customer = CustomerFactory()
    start = timezone.now()
    for days_ago, amount in ((25, "100"), (10, "20"), (0, "3")):
        state_change(purchase_make(customer=customer, amount=amount, at=start - dt.timedelta(days=days_ago),
                                   state="calculated"), "confirmed")
    key = (customer.pk, dt.date(1970, 1, 1))
    assert snapshot(counter) == {key: Decimal("123.00")}
    later = start + dt.timedelta(days=10)
    with mock.patch("django.utils.timezone.now", return_value=later):
        counter_roll(counter=counter)
        counter_roll(counter=counter)  # twice the same day: nothing more
        rolled = snapshot(counter)
        # a cheque confirmed late for a day already outside the window does not count
        state_change(purchase_make(customer=customer, amount="1000", at=start - dt.timedelta(days=29),
                                   state="calculated"), "confirmed")
        assert snapshot(counter) == rolled == {key: Decimal("23.00")}
        counter_recalculate_now(counter_id=counter.pk)
        assert snapshot(counter) == rolled


def test_calendar_counter_keeps_past_periods_and_drops_those_past_keep_periods(shop):
    counter = shop["counters"][1]  # visits-month, Moscow
    Counter.objects.filter(pk=counter.pk).update(keep_periods=2)
    counter.refresh_from_db()
    customer = CustomerFactory()
    now = dt.datetime(2025, 6, 15, 12, tzinfo=UTC)
    with mock.patch("django.utils.timezone.now", return_value=now):
        for month in (2, 3, 4, 5, 6, 6):
            state_change(purchase_make(customer=customer, at=dt.datetime(2025, month, 10, tzinfo=UTC),
                                       state="calculated"), "confirmed")
        values = snapshot(counter)
        # months before April were older than keep_periods when applied: not counted at all
        assert values == {(customer.pk, dt.date(2025, 4, 1)): 1, (customer.pk, dt.date(2025, 5, 1)): 1,
                          (customer.pk, dt.date(2025, 6, 1)): 2}
    with mock.patch("django.utils.timezone.now", return_value=now + dt.timedelta(days=31)):
        counter_roll(counter=counter)
        assert (customer.pk, dt.date(2025, 4, 1)) not in snapshot(counter)
        kept = snapshot(counter)
        counter_recalculate_now(counter_id=counter.pk)
        assert snapshot(counter) == kept


def test_imported_part_survives_recalculation(shop):
    counter = shop["counters"][0]
    customer = CustomerFactory()
    CounterValue.objects.create(counter=counter, customer=customer, period_start=dt.date(1970, 1, 1),
                                value=Decimal("1000"), imported=Decimal("1000"))
    state_change(purchase_make(customer=customer, amount="50", state="calculated"), "confirmed")
    assert snapshot(counter) == {(customer.pk, dt.date(1970, 1, 1)): Decimal("1050.00")}
    counter_recalculate_now(counter_id=counter.pk)
    assert snapshot(counter) == {(customer.pk, dt.date(1970, 1, 1)): Decimal("1050.00")}


@pytest.mark.django_db(transaction=True)
def test_parallel_confirms_and_a_recalculation_lose_nothing():
    counter = CounterFactory(code="race", aggregate="sum", period="all_time")
    customer = CustomerFactory()
    till = TillFactory()
    purchases = [purchase_make(customer=customer, amount="10", till=till, state="calculated", number=f"R{i}")
                 for i in range(12)]

    def work(i: int):
        if i == 12:
            return counter_recalculate_now(counter_id=counter.pk)
        from django.db import transaction

        with transaction.atomic():
            Purchase.objects.filter(pk=purchases[i].pk).update(state="confirmed")
            counter_apply_purchase(purchase_id=purchases[i].pk)
        return None

    results = run_in_threads(work, 13)
    assert not [r for r in results if isinstance(r, Exception)], results
    connection.close()
    assert snapshot(counter) == {(customer.pk, dt.date(1970, 1, 1)): Decimal("120.00")}


@pytest.mark.django_db(databases=[])
def test_counter_roll_is_scheduled_on_the_periodic_queue(settings):
    from loymax.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["attributes-counters-roll"]
    assert entry["task"] == "attributes.tasks.periodic_counters_roll"
    assert app.amqp.router.route({}, entry["task"])["queue"].name == "periodic"
    assert app.amqp.router.route({}, "core.tasks.import_run")["queue"].name == "imports"
