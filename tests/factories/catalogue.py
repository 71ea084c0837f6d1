from __future__ import annotations

from decimal import Decimal

import factory

from catalogue.models import Partner, Product, ProductGroup, Store, Till
from catalogue.services import hash_secret


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"partner-{n}")
    name = factory.Sequence(lambda n: f"Partner {n}")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    partner = factory.SubFactory(PartnerFactory)
    code = factory.Sequence(lambda n: f"store-{n}")
    name = factory.Sequence(lambda n: f"Store {n}")
    timezone = "Europe/Moscow"


TILL_SECRET = "till-secret"


class TillFactory(factory.django.DjangoModelFactory):
    """A till whose secret is TILL_SECRET: header `Till <api_key>:till-secret`."""

    class Meta:
        model = Till

    store = factory.SubFactory(StoreFactory)
    code = factory.Sequence(lambda n: f"{n}")
    api_key = factory.Sequence(lambda n: f"till-key-{n}")
    secret_hash = hash_secret(TILL_SECRET)


class ProductGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductGroup

    code = factory.Sequence(lambda n: f"group-{n}")
    name = factory.Sequence(lambda n: f"Group {n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("100.00")
    category = "misc"
