from __future__ import annotations

import datetime as dt

import factory

from offers.models import Coupon, CouponIssue, Offer, PersonalProductSet, Rule
from tests.factories.catalogue import PartnerFactory, ProductGroupFactory


class OfferFactory(factory.django.DjangoModelFactory):
    """An active offer with no rules; add RuleFactory(offer=...) for its rules."""

    class Meta:
        model = Offer

    name = factory.Sequence(lambda n: f"Offer {n}")
    state = Offer.State.ACTIVE
    start_date = dt.date(2024, 1, 1)


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule

    offer = factory.SubFactory(OfferFactory)
    name = factory.Sequence(lambda n: f"rule {n}")
    filters = factory.LazyFunction(list)
    actions = factory.LazyFunction(lambda: [{"type": "discount", "mode": "percent", "value": "10"}])


class CouponIssueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CouponIssue

    partner = factory.SubFactory(PartnerFactory)
    kind = CouponIssue.Kind.DISTRIBUTION
    title = factory.Sequence(lambda n: f"Issue {n}")
    code_prefix = ""
    code_length = 12


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coupon

    issue = factory.SubFactory(CouponIssueFactory)
    code = factory.Sequence(lambda n: f"TESTCODE{n:06d}")
    state = Coupon.State.ISSUED
    max_uses = 1


class PersonalProductSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PersonalProductSet

    code = factory.Sequence(lambda n: f"set-{n}")
    name = factory.Sequence(lambda n: f"Set {n}")
    group = factory.SubFactory(ProductGroupFactory)
    max_choices = 2
