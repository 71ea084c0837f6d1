"""RFM scores and cells on crafted data, the matrix, thresholds; purchase totals and their hook."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from crm.models import Purchase
from segments import selectors, services
from segments.models import CustomerStats, RfmScore, RfmSettings, ScopeStats
from segments.rfm import CELL_NAMES, CELLS, cell_of
from tests.factories.crm import CustomerFactory, PurchaseFactory
from tests.factories.segments import member_ids

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
NOW = timezone.now()


def buy(customer, days: float, amount: str, **extra) -> Purchase:
    return PurchaseFactory(customer=customer, purchased_at=NOW - dt.timedelta(days=days), amount=Decimal(amount), **extra)


def test_grid_names_every_square_and_uses_every_cell():
    assert len(CELLS) == 25 and set(CELLS.values()) == set(CELL_NAMES)
    assert cell_of(5, 5, 5) == "champions" and cell_of(1, 1, 1) == "lost" and cell_of(5, 1, 1) == "new"
    assert cell_of(1, 5, 5) == "cant_lose" and cell_of(3, 3, 3) == "need_attention"


def test_quintiles_score_crafted_customers_into_the_expected_cells():
    # five customers per rank: the best buys often, much and recently; the worst once, little, long ago
    ranks = {}
    for rank in range(1, 6):
        for _ in range(5):
            customer = CustomerFactory()
            for n in range(rank * 2):
                buy(customer, days=(6 - rank) * 50 + n, amount=str(rank * 100))
            ranks[customer.pk] = rank
    outside = CustomerFactory()
    buy(outside, days=500, amount="100")  # outside the 365-day window: not scored

    scored = services.rfm_recompute(actor=ACTOR)

    assert scored == 25
    scores = {s.customer_id: s for s in RfmScore.objects.all()}
    assert outside.pk not in scores
    for customer_id, rank in ranks.items():
        s = scores[customer_id]
        assert (s.r, s.f, s.m) == (rank, rank, rank), (rank, s.r, s.f, s.m)
        assert s.cell == cell_of(rank, rank, rank)
    assert {s.cell for s in scores.values()} == {"champions", "loyal", "need_attention", "hibernating", "lost"}
    best = next(cid for cid, rank in ranks.items() if rank == 5)
    assert scores[best].frequency == 10 and scores[best].monetary == Decimal("5000.00")
    assert best in member_ids({"kind": "rfm", "cells": ["champions"]})
    settings = RfmSettings.load()
    assert settings.scored_customers == 25 and settings.computed_at is not None


def test_equal_values_share_a_score():
    twins = [CustomerFactory() for _ in range(4)]
    for customer in twins:
        buy(customer, days=10, amount="100")
    services.rfm_recompute(actor=ACTOR)
    assert {(s.f, s.m) for s in RfmScore.objects.all()} == {(5, 5)}


def test_recomputing_unchanged_data_rewrites_nothing_and_leavers_are_removed():
    stay, leave = CustomerFactory(), CustomerFactory()
    buy(stay, days=5, amount="100")
    sale = buy(leave, days=5, amount="300")
    services.rfm_recompute(actor=ACTOR)
    with connection.cursor() as cursor:
        cursor.execute("SELECT customer_id, xmin::text FROM segments_rfm ORDER BY 1")
        before = cursor.fetchall()
    services.rfm_recompute(actor=ACTOR)
    with connection.cursor() as cursor:
        cursor.execute("SELECT customer_id, xmin::text FROM segments_rfm ORDER BY 1")
        assert cursor.fetchall() == before  # same row versions: nothing rewritten
    Purchase.objects.filter(pk=sale.pk).update(state=Purchase.State.CANCELLED)
    assert services.rfm_recompute(actor=ACTOR) == 1
    assert list(RfmScore.objects.values_list("customer_id", flat=True)) == [stay.pk]


def test_fixed_thresholds():
    services.rfm_settings_update(actor=ACTOR, method="thresholds", window_days=180, recency_days=[7, 30, 60, 120],
                                 frequency=[2, 3, 5, 8], monetary=["100", "500", "1000", "5000"])
    recent_big, old_small = CustomerFactory(), CustomerFactory()
    for n in range(8):
        buy(recent_big, days=1 + n, amount="1000")
    buy(old_small, days=150, amount="50")
    services.rfm_recompute(actor=ACTOR)
    scores = {s.customer_id: (s.r, s.f, s.m, s.cell) for s in RfmScore.objects.all()}
    assert scores[recent_big.pk] == (5, 5, 5, "champions")
    assert scores[old_small.pk] == (1, 1, 1, "lost")


def test_settings_are_checked():
    with pytest.raises(DomainError) as caught:
        services.rfm_settings_update(actor=ACTOR, method="thresholds")
    assert caught.value.code == "rfm_settings_invalid"
    with pytest.raises(DomainError) as descending:
        services.rfm_settings_update(actor=ACTOR, frequency=[5, 3, 2, 1])
    assert descending.value.field == "frequency"


def test_matrix_counts_and_average_cheque_per_cell():
    for _ in range(2):
        customer = CustomerFactory()
        buy(customer, days=3, amount="100")
        buy(customer, days=4, amount="300")
    services.rfm_recompute(actor=ACTOR)
    matrix = selectors.rfm_matrix()
    assert matrix["total"] == 2
    champions = next(c for c in matrix["cells"] if c.cell == "champions")
    assert (champions.customers, champions.avg_cheque, champions.share) == (2, Decimal("200.00"), Decimal("100.0"))
    assert [row["r"] for row in matrix["grid"]] == [5, 4, 3, 2, 1]
    assert matrix["grid"][0]["squares"][4] == {"fm": 5, "cell": "champions", "customers": 2}


def test_totals_rebuild_and_the_purchase_hook():
    customer, other = CustomerFactory(), CustomerFactory()
    buy(customer, days=10, amount="100")
    buy(customer, days=100, amount="50")
    services.customer_stats_rebuild(actor=ACTOR)
    stats = CustomerStats.objects.get(customer=customer)
    assert (stats.purchase_count, stats.amount, stats.count_30, stats.amount_30, stats.count_180) == (
        2, Decimal("150.00"), 1, Decimal("100.00"), 2)
    assert not CustomerStats.objects.filter(customer=other).exists()
    by_store = {row.scope_id: (row.purchase_count, row.amount)
                for row in ScopeStats.objects.filter(customer_id=customer.pk, scope="store")}
    assert by_store == {p.store_id: (1, p.amount) for p in Purchase.objects.filter(customer=customer)}

    # processing confirms a cheque, then a refund: the hook recomputes that customer only
    sale = buy(customer, days=0, amount="40")
    buy(other, days=0, amount="999")
    assert services.customer_stats_refresh(customer_ids=[customer.pk]) == 1
    buy(customer, days=0, amount="40", kind=Purchase.Kind.REFUND, original=sale)
    services.customer_stats_refresh(customer_ids=[customer.pk])
    stats.refresh_from_db()
    assert (stats.purchase_count, stats.amount, stats.count_30, stats.amount_30) == (3, Decimal("150.00"), 2,
                                                                                      Decimal("100.00"))
    assert not CustomerStats.objects.filter(customer=other).exists()  # not refreshed by someone else's hook

    # everything cancelled: the row goes
    Purchase.objects.filter(customer=customer).update(state=Purchase.State.CANCELLED)
    services.customer_stats_refresh(customer_ids=[customer.pk])
    assert not CustomerStats.objects.filter(customer=customer).exists()
    assert not ScopeStats.objects.filter(customer_id=customer.pk).exists()


def test_the_hook_is_idempotent():
    customer = CustomerFactory()
    buy(customer, days=1, amount="10")
    for _ in range(3):
        services.customer_stats_refresh(customer_ids=[customer.pk, customer.pk])
    assert CustomerStats.objects.get(customer=customer).amount == Decimal("10.00")


def test_product_group_totals_count_a_cheque_once_per_group():
    from tests.factories.catalogue import ProductFactory, ProductGroupFactory
    from tests.factories.crm import PurchaseLineFactory

    dairy = ProductGroupFactory(code="dairy")
    milk, cheese = ProductFactory(), ProductFactory()
    dairy.products.add(milk, cheese)
    purchase = buy(CustomerFactory(), days=2, amount="300")
    PurchaseLineFactory(purchase=purchase, position=1, product=milk, amount=Decimal("100"))
    PurchaseLineFactory(purchase=purchase, position=2, product=cheese, amount=Decimal("150"))
    PurchaseLineFactory(purchase=purchase, position=3, product=ProductFactory(), amount=Decimal("50"))
    services.customer_stats_refresh(customer_ids=[purchase.customer_id])
    row = ScopeStats.objects.get(customer_id=purchase.customer_id, scope="group")
    assert (row.scope_id, row.purchase_count, row.amount, row.count_30) == (dairy.pk, 1, Decimal("250.00"), 1)


def test_quintile_bounds_give_the_scores_of_cume_dist():
    # Many ties and uneven groups: the scores read from the four bounds equal ceil(5 * cume_dist()).
    import random

    rng = random.Random(6)
    for _ in range(37):
        customer = CustomerFactory()
        for _ in range(rng.choice([1, 1, 2, 3, 3, 7])):
            buy(customer, days=rng.choice([1, 2, 30, 30, 90, 200]), amount=rng.choice(["10", "100", "100", "250"]))
    assert services.rfm_recompute(actor=ACTOR) == 37
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT r, f, m, ceil(5 * cume_dist() OVER (ORDER BY last_purchase_at))::int AS er, "
            "ceil(5 * cume_dist() OVER (ORDER BY frequency))::int AS ef, "
            "ceil(5 * cume_dist() OVER (ORDER BY monetary))::int AS em FROM segments_rfm) x "
            "WHERE (r, f, m) IS DISTINCT FROM (er, ef, em)")
        assert cursor.fetchone()[0] == 0
    assert all(s.cell == cell_of(s.r, s.f, s.m) for s in RfmScore.objects.all())
