"""Offer and rule services: validation with field names, states, rule copies, audit, expiry."""
from __future__ import annotations

import datetime as dt

import pytest

from core.actors import Actor
from core.errors import DomainError
from core.models import AuditEvent
from offers.models import Offer, Rule
from offers.services.offers import (
    offer_create,
    offer_set_state,
    offer_update,
    offers_finish_expired,
    rule_copy,
    rule_create,
)
from tests.factories.catalogue import PartnerFactory, StoreFactory
from tests.factories.offers import OfferFactory, RuleFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
TEN = [{"type": "discount", "mode": "percent", "value": "10"}]


def test_create_offer_with_rules_in_draft_and_audited():
    partner = PartnerFactory()
    store = StoreFactory(partner=partner)
    offer = offer_create(actor=ACTOR, name="Dairy", start_date=dt.date(2024, 1, 1), partners=[partner], stores=[store],
                         rules=[{"name": "dairy", "filters": [{"type": "product_group", "groups": ["dairy"]}],
                                 "actions": TEN}])
    assert offer.state == Offer.State.DRAFT
    assert list(offer.stores.all()) == [store]
    assert offer.rules.get().filters[0]["groups"] == ["dairy"]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"offer.create", "rule.create"} <= actions


def test_a_bad_rule_is_refused_naming_the_field_and_nothing_is_written():
    with pytest.raises(DomainError) as caught:
        offer_create(actor=ACTOR, name="Bad", start_date=dt.date(2024, 1, 1), rules=[
            {"name": "r", "filters": [{"type": "hours", "from": "25:00", "to": "10:00"}], "actions": TEN}])
    assert caught.value.code == "invalid_rule"
    assert caught.value.field == "filters.0.from"
    # the service's transaction rolled back
    assert not Offer.objects.filter(name="Bad").exists()


def test_stores_must_belong_to_the_offers_partners():
    partner, other = PartnerFactory(), PartnerFactory()
    with pytest.raises(DomainError) as caught:
        offer_create(actor=ACTOR, name="x", start_date=dt.date(2024, 1, 1), partners=[partner],
                     stores=[StoreFactory(partner=other)])
    assert caught.value.field == "stores"


def test_period_must_be_ordered():
    with pytest.raises(DomainError) as caught:
        offer_create(actor=ACTOR, name="x", start_date=dt.date(2024, 2, 1), end_date=dt.date(2024, 1, 1))
    assert caught.value.field == "end_date"


def test_state_machine():
    offer = OfferFactory(state=Offer.State.DRAFT)
    with pytest.raises(DomainError) as caught:
        offer_set_state(offer=offer, state=Offer.State.ACTIVE, actor=ACTOR)
    assert caught.value.code == "offer_has_no_rules"
    RuleFactory(offer=offer)
    offer = offer_set_state(offer=offer, state=Offer.State.ACTIVE, actor=ACTOR)
    assert offer.state == Offer.State.ACTIVE and offer.activated_at is not None
    offer = offer_set_state(offer=offer, state=Offer.State.PAUSED, actor=ACTOR)
    offer = offer_set_state(offer=offer, state=Offer.State.FINISHED, actor=ACTOR)
    with pytest.raises(DomainError) as caught:
        offer_set_state(offer=offer, state=Offer.State.ACTIVE, actor=ACTOR)
    assert caught.value.code == "invalid_state"
    with pytest.raises(DomainError):
        offer_update(offer=offer, actor=ACTOR, name="again")
    assert AuditEvent.objects.filter(action="offer.finished", object_id=str(offer.pk)).exists()


def test_activation_refuses_a_rule_that_no_longer_validates():
    offer = OfferFactory(state=Offer.State.DRAFT)
    Rule.objects.create(offer=offer, name="stale", filters=[{"type": "removed_type"}], actions=TEN)
    with pytest.raises(DomainError) as caught:
        offer_set_state(offer=offer, state=Offer.State.ACTIVE, actor=ACTOR)
    assert "stale" in caught.value.message and "unknown filter type" in caught.value.message


def test_rule_copy_gets_the_suffix_and_goes_last():
    offer = OfferFactory()
    first = rule_create(offer=offer, actor=ACTOR, name="Weekend", filters=[{"type": "weekdays", "days": [6, 7]}],
                        actions=TEN)
    rule_create(offer=offer, actor=ACTOR, name="Other", actions=TEN)
    copy = rule_copy(rule=first, actor=ACTOR)
    assert copy.name == "Weekend_Copy"
    assert copy.filters == first.filters and copy.actions == first.actions
    assert copy.position == 2 and copy.pk != first.pk
    assert AuditEvent.objects.filter(action="rule.copy", object_id=str(copy.pk)).exists()


def test_offers_past_their_last_day_are_finished():
    today = dt.date(2024, 6, 10)
    ended = OfferFactory(end_date=dt.date(2024, 6, 8))
    last_day_west = OfferFactory(end_date=dt.date(2024, 6, 9))  # may still be the 9th somewhere
    open_ended = OfferFactory(end_date=None)
    assert offers_finish_expired(today=today) == 1
    states = dict(Offer.objects.values_list("pk", "state"))
    assert states[ended.pk] == "finished"
    assert states[last_day_west.pk] == states[open_ended.pk] == "active"
