from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import factory
from django.utils import timezone

from crm.models import (
    Account,
    Card,
    CardCategory,
    CardGroup,
    Currency,
    Customer,
    CustomerToken,
    Notifier,
    Purchase,
    PurchaseLine,
    PurchaseLineOffer,
)
from tests.factories.catalogue import TillFactory


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    state = Customer.State.REGISTERED
    registered_at = factory.LazyFunction(timezone.now)


class CardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Card

    number = factory.Sequence(lambda n: f"7000{n:08d}")
    barcode = factory.LazyAttribute(lambda o: f"B{o.number}")
    customer = factory.SubFactory(CustomerFactory)
    state = Card.State.ACTIVE


class CardCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CardCategory
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"category-{n}")
    name = factory.Sequence(lambda n: f"Category {n}")


class CardGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CardGroup
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"card-group-{n}")
    name = factory.Sequence(lambda n: f"Card group {n}")


class NotifierFactory(factory.django.DjangoModelFactory):
    """A phone (E.164, as services store it); pass kind="email", value=... for an email."""

    class Meta:
        model = Notifier

    customer = factory.SubFactory(CustomerFactory)
    kind = Notifier.Kind.PHONE
    value = factory.Sequence(lambda n: f"+7916{n:07d}")
    verified = False


class PurchaseFactory(factory.django.DjangoModelFactory):
    """A confirmed cheque as processing writes it (no ledger entries: history only)."""

    class Meta:
        model = Purchase

    till = factory.SubFactory(TillFactory)
    store = factory.LazyAttribute(lambda o: o.till.store)
    number = factory.Sequence(lambda n: f"CHQ-{n:06d}")
    customer = factory.SubFactory(CustomerFactory)
    card = None
    state = Purchase.State.CONFIRMED
    purchased_at = factory.LazyFunction(timezone.now)
    amount = factory.LazyFunction(lambda: Decimal("100.00"))


class PurchaseLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PurchaseLine

    purchase = factory.SubFactory(PurchaseFactory)
    position = factory.Sequence(lambda n: n + 1)
    sku = factory.Sequence(lambda n: f"SKU-{n}")
    quantity = factory.LazyFunction(lambda: Decimal("1"))
    price = factory.LazyFunction(lambda: Decimal("100.00"))
    amount = factory.LazyFunction(lambda: Decimal("100.00"))


class PurchaseLineOfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PurchaseLineOffer

    line = factory.SubFactory(PurchaseLineFactory)
    offer_id = factory.Sequence(lambda n: n + 1)
    offer_name = factory.Sequence(lambda n: f"Offer {n}")
    effect = PurchaseLineOffer.Effect.BONUS
    value = factory.LazyFunction(lambda: Decimal("5.00"))


class CurrencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Currency
        django_get_or_create = ("code",)

    code = "points"
    name = "Points"
    is_default = True


def customer_token_for(customer: Customer, token: str = "customer-token") -> str:
    CustomerToken.objects.create(
        customer=customer,
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        expires_at=timezone.now() + dt.timedelta(days=30),
    )
    return token


class AccountFactory(factory.django.DjangoModelFactory):
    """An empty account in the default currency. Move its balance only through ledger services."""

    class Meta:
        model = Account

    customer = factory.SubFactory(CustomerFactory)
    currency = factory.SubFactory(CurrencyFactory)
