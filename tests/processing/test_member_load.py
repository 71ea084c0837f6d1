"""processing.selectors.member_load: one read per cheque, in a shape per cheque (card or not,
limited offers or not, purchase-history groups or not); every shape gives the same member facts."""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.utils import timezone

from catalogue.models import ProductGroupMembership
from crm.models import CardAccount
from offers.models import OfferCounter
from processing.selectors import _member_sql, member_load
from tests.factories.catalogue import ProductFactory, ProductGroupFactory
from tests.factories.crm import AccountFactory, CardFactory, CurrencyFactory, PurchaseFactory, PurchaseLineFactory
from tests.factories.offers import OfferFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    # given a member with two accounts (one reached by the card), a confirmed purchase of a "dairy"
    # product three days ago, and uses of a limited offer (theirs and the offer-wide row)
    account = AccountFactory(currency=CurrencyFactory(code="points", is_default=True))
    other = AccountFactory(customer=account.customer, currency=CurrencyFactory(code="miles", is_default=False))
    customer = account.customer
    card = CardFactory(customer=customer)
    CardAccount.objects.create(card=card, account=account)
    dairy = ProductGroupFactory(code="dairy")
    milk = ProductFactory(sku="MILK")
    ProductGroupMembership.objects.create(group=dairy, product=milk)
    bought = timezone.now() - dt.timedelta(days=3)
    PurchaseLineFactory(purchase=PurchaseFactory(customer=customer, purchased_at=bought), product=milk, sku="MILK")
    offer = OfferFactory()
    OfferCounter.objects.create(offer=offer, customer_id=customer.pk, uses=2, benefit=Decimal("5.00"))
    OfferCounter.objects.create(offer=offer, customer_id=0, uses=9, benefit=Decimal("40.00"))
    return {"customer": customer, "card": card, "account": account, "other": other, "offer": offer,
            "day": bought.date()}


@pytest.mark.parametrize("with_card,limited,history", list(itertools.product((False, True), repeat=3)))
def test_every_shape_reads_what_it_was_asked_for(member, with_card, limited, history):
    # when the member is read in this shape
    got = member_load(customer_id=member["customer"].pk, card_id=member["card"].pk if with_card else None,
                      limited_offer_ids=frozenset({member["offer"].pk}) if limited else frozenset(),
                      history_groups=frozenset({"dairy"}) if history else frozenset())
    # then the card narrows the accounts to those it reaches
    expected_accounts = [member["account"].pk] if with_card else sorted([member["account"].pk, member["other"].pk])
    assert [a.id for a in got.accounts] == expected_accounts
    # and usage and history are there exactly when asked for
    usage = got.usage.get(member["offer"].pk)
    if limited:
        assert (usage.customer_uses, usage.budget_spent) == (2, Decimal("40.00"))
    else:
        assert usage is None
    assert got.facts.group_purchases == ({"dairy": (member["day"],)} if history else {})


def test_each_shape_is_its_own_fixed_text_so_it_is_planned_once():
    texts = {_member_sql(*shape) for shape in itertools.product((False, True), repeat=3)}
    assert len(texts) == 8
    # no part is switched on or off by a parameter (that made PostgreSQL plan it on every execution)
    assert all("cardinality(" not in text and "s::bigint IS NULL" not in text for text in texts)
