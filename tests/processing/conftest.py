from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from crm.models import Account, Card, CardAccount, Customer
from tests.factories.catalogue import TILL_SECRET, ProductFactory, TillFactory
from tests.factories.crm import CardFactory, CustomerFactory
from tests.factories.ledger import accrue
from tests.factories.offers import OfferFactory, RuleFactory
from tests.factories.crm import AccountFactory


@dataclass
class Member:
    customer: Customer
    card: Card
    account: Account


def make_member(points: str = "100.00", *, card_state: str = Card.State.ACTIVE, **card_kwargs) -> Member:
    customer = CustomerFactory()
    account = AccountFactory(customer=customer)
    card = CardFactory(customer=customer, state=card_state, **card_kwargs)
    CardAccount.objects.create(card=card, account=account)
    if Decimal(points):
        accrue(account, points)
    account.refresh_from_db()
    return Member(customer=customer, card=card, account=account)


def till_client(till) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Till {till.api_key}:{TILL_SECRET}")
    return client


@pytest.fixture
def till(db):
    return TillFactory()


@pytest.fixture
def client(till) -> APIClient:
    return till_client(till)


@pytest.fixture
def member(db) -> Member:
    return make_member()


@pytest.fixture
def cashback(db):
    """5% points on every line, spendable at once, never expiring."""
    offer = OfferFactory(name="5% back", cumulative=True)
    RuleFactory(offer=offer, actions=[{"type": "bonus", "mode": "percent", "value": "5"}])
    return offer


@pytest.fixture
def products(db):
    return [ProductFactory(sku="MILK", price=Decimal("10.00")), ProductFactory(sku="BREAD", price=Decimal("30.00"))]


def cheque(number: str = "C-1", member: Member | None = None, bonus_payment: str = "0", **extra) -> dict:
    body = {
        "number": number,
        "purchased_at": "2026-12-06T14:03:00",
        "lines": [
            {"position": 1, "sku": "MILK", "quantity": "2", "price": "10.00", "amount": "20.00"},
            {"position": 2, "sku": "BREAD", "quantity": "1", "price": "30.00", "amount": "30.00"},
        ],
        "bonus_payment": bonus_payment,
    }
    if member is not None:
        body["identifier"] = {"kind": "card", "value": member.card.number}
    body.update(extra)
    return body
