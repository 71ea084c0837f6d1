"""Offer limits across cheques: recorded at confirm, idempotent, race-safe, read back in one query."""
from __future__ import annotations

from decimal import Decimal

import pytest

from core.actors import Actor
from core.errors import DomainError
from offers.models import OfferCounter
from offers.selectors import offer_usage_facts
from offers.services.usage import offer_usage_record, offer_usage_release
from tests.conftest import run_in_threads
from tests.factories.crm import CustomerFactory
from tests.factories.offers import OfferFactory

ACTOR = Actor.system("test")
D = Decimal


@pytest.mark.django_db
def test_record_counts_per_member_and_budget_and_is_idempotent(django_assert_num_queries):
    offer = OfferFactory(limit_per_customer=2, budget=D("100"))
    member = CustomerFactory()
    assert offer_usage_record(offer_id=offer.pk, customer_id=member.pk, key="c1", benefit=D("30"), actor=ACTOR)
    assert not offer_usage_record(offer_id=offer.pk, customer_id=member.pk, key="c1", benefit=D("30"), actor=ACTOR)
    with django_assert_num_queries(1):
        facts = offer_usage_facts(customer_id=member.pk, offer_ids=[offer.pk])
    assert facts[offer.pk].customer_uses == 1 and facts[offer.pk].budget_spent == D("30")
    offer_usage_record(offer_id=offer.pk, customer_id=member.pk, key="c2", benefit=D("30"), actor=ACTOR)
    with pytest.raises(DomainError) as caught:
        offer_usage_record(offer_id=offer.pk, customer_id=member.pk, key="c3", benefit=D("1"), actor=ACTOR)
    assert caught.value.code == "limit_reached"
    other = CustomerFactory()
    with pytest.raises(DomainError) as caught:  # 60 spent + 50 > 100
        offer_usage_record(offer_id=offer.pk, customer_id=other.pk, key="c4", benefit=D("50"), actor=ACTOR)
    assert "budget" in caught.value.message
    assert offer_usage_release(offer_id=offer.pk, key="c1", actor=ACTOR)
    assert not offer_usage_release(offer_id=offer.pk, key="c1", actor=ACTOR)
    facts = offer_usage_facts(customer_id=member.pk, offer_ids=[offer.pk])
    assert facts[offer.pk].customer_uses == 1 and facts[offer.pk].budget_spent == D("30")


@pytest.mark.django_db(transaction=True)
def test_two_confirms_at_once_cannot_both_take_the_last_use():
    offer = OfferFactory(limit_per_customer=1, budget=D("1000"))
    member = CustomerFactory()

    def confirm(index: int):
        return offer_usage_record(offer_id=offer.pk, customer_id=member.pk, key=f"cheque-{index}", benefit=D("10"),
                                  actor=ACTOR)

    results = run_in_threads(confirm, 5)
    assert [r for r in results if r is True] == [True], results
    assert all(isinstance(r, DomainError) and r.code == "limit_reached" for r in results if r is not True)
    counter = OfferCounter.objects.get(offer=offer, customer_id=member.pk)
    assert counter.uses == 1
    assert OfferCounter.objects.get(offer=offer, customer_id=0).benefit == D("10")
