"""Compiled offers are cached per process under a version kept in Redis: evaluating a cheque makes
no query, and any change through the services (or the admin, or the catalogue) invalidates it."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import cache

from core.actors import Actor
from offers.engine import Cheque, Line
from offers.models import Offer
from offers.services.offers import offer_create, offer_set_state, offer_update, rule_update
from offers.snapshot import VERSION_KEY, cheque_evaluate, snapshot_get, version_current
from tests.factories.catalogue import ProductFactory, ProductGroupFactory
from tests.factories.offers import OfferFactory, RuleFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def _cheque(*skus: str) -> Cheque:
    return Cheque(purchased_at=dt.datetime(2024, 6, 1, 12, tzinfo=dt.timezone.utc),
                  lines=tuple(Line(i + 1, sku, Decimal("1"), Decimal("100.00"), Decimal("100.00"))
                              for i, sku in enumerate(skus)))


def _offers(count: int) -> None:
    groups = [ProductGroupFactory(code=f"g{n}") for n in range(5)]
    for n in range(5):
        product = ProductFactory(sku=f"P{n}")
        groups[n].products.add(product)
    for n in range(count):
        offer = OfferFactory(priority=n % 3, cumulative=n % 2 == 0)
        RuleFactory(offer=offer, filters=[{"type": "product_group", "groups": [f"g{n % 5}"]}])
        RuleFactory(offer=offer, filters=[{"type": "weekdays", "days": [1, 2, 3]}])


@pytest.mark.parametrize("count", [5, 60])
def test_building_the_snapshot_costs_the_same_queries_whatever_the_number_of_offers(count, django_assert_num_queries):
    _offers(count)
    # offers, partners, stores, rules, group membership
    with django_assert_num_queries(5):
        snapshot = snapshot_get()
    assert len(snapshot.offers) == count


def test_evaluating_a_cheque_makes_no_query_and_at_most_one_cache_read(django_assert_num_queries, settings):
    _offers(60)
    snapshot_get()
    settings.OFFERS_SNAPSHOT_CHECK_SECONDS = 0  # check the version on every cheque
    with django_assert_num_queries(0), mock.patch("offers.snapshot.cache.get", wraps=cache.get) as reads:
        result = cheque_evaluate(_cheque("P0", "P1", "P2", "P3"))
    assert reads.call_count == 1
    assert len(result.trace) == 60
    assert result.discount > 0
    settings.OFFERS_SNAPSHOT_CHECK_SECONDS = 60  # by default: once a second per process
    cheque_evaluate(_cheque("P0"))
    with django_assert_num_queries(0), mock.patch("offers.snapshot.cache.get", wraps=cache.get) as reads:
        for _ in range(5):
            cheque_evaluate(_cheque("P1"))
    assert reads.call_count == 0


def test_another_process_change_is_seen_after_the_check_interval(settings):
    offer = OfferFactory()
    RuleFactory(offer=offer)
    settings.OFFERS_SNAPSHOT_CHECK_SECONDS = 60
    assert cheque_evaluate(_cheque("X")).discount == Decimal("10.00")
    # Another process changes the rule and bumps the version in Redis.
    offer.rules.update(actions=[{"type": "discount", "mode": "percent", "value": "30"}])
    cache.incr(VERSION_KEY)
    assert cheque_evaluate(_cheque("X")).discount == Decimal("10.00")  # within the interval
    settings.OFFERS_SNAPSHOT_CHECK_SECONDS = 0
    assert cheque_evaluate(_cheque("X")).discount == Decimal("30.00")


def test_an_offer_change_through_the_services_reaches_the_next_evaluation(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        offer = offer_create(actor=ACTOR, name="ten", start_date=dt.date(2024, 1, 1), rules=[
            {"name": "all", "filters": [], "actions": [{"type": "discount", "mode": "percent", "value": "10"}]}])
        offer_set_state(offer=offer, state=Offer.State.ACTIVE, actor=ACTOR)
    first = cheque_evaluate(_cheque("X"))
    assert first.discount == Decimal("10.00")
    version = version_current()
    with django_capture_on_commit_callbacks(execute=True):
        rule_update(rule=offer.rules.get(), actor=ACTOR,
                    actions=[{"type": "discount", "mode": "percent", "value": "25"}])
    assert version_current() != version
    assert cheque_evaluate(_cheque("X")).discount == Decimal("25.00")
    with django_capture_on_commit_callbacks(execute=True):
        offer_set_state(offer=offer, state=Offer.State.PAUSED, actor=ACTOR)
    assert cheque_evaluate(_cheque("X")).discount == Decimal("0")


def test_the_version_moves_only_after_commit(django_capture_on_commit_callbacks):
    offer = OfferFactory()
    RuleFactory(offer=offer)
    version = version_current()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        offer_update(offer=offer, actor=ACTOR, priority=5)
        assert version_current() == version  # another process rebuilding now would still read the old rows
    assert callbacks
    for callback in callbacks:
        callback()
    assert version_current() != version


def test_a_catalogue_change_invalidates_the_snapshot(django_capture_on_commit_callbacks):
    group = ProductGroupFactory(code="promo")
    offer = OfferFactory()
    RuleFactory(offer=offer, filters=[{"type": "product_group", "groups": ["promo"]}])
    ProductFactory(sku="NEW")
    assert cheque_evaluate(_cheque("NEW")).discount == 0
    with django_capture_on_commit_callbacks(execute=True):
        from catalogue.models import Product, ProductGroupMembership

        ProductGroupMembership.objects.create(group=group, product=Product.objects.get(sku="NEW"))
    assert cheque_evaluate(_cheque("NEW")).discount == Decimal("10.00")


def test_a_lost_version_key_starts_a_new_series(settings):
    settings.OFFERS_SNAPSHOT_CHECK_SECONDS = 0
    snapshot_get()
    cache.delete(VERSION_KEY)
    OfferFactory(name="late")  # written without the services: only a new version reveals it
    RuleFactory(offer=Offer.objects.get(name="late"))
    assert any(o.name == "late" for o in snapshot_get().offers)
