"""The shared benchmark data generator still matches the schema (tiny sizes, inside a test)."""
from __future__ import annotations

import pytest
from django.db import connection

from bench.datagen import Sizes, generate
from crm.models import Account, Card, Customer, Purchase


@pytest.mark.django_db
def test_datagen_writes_consistent_rows_at_tiny_size():
    connection.ensure_connection()
    generate(connection.connection, Sizes(customers=50, purchases=120, products=30))
    assert Customer.objects.count() == 50
    assert Card.objects.filter(customer_id__isnull=False, state="active").count() == 50
    assert Account.objects.filter(cards__isnull=False).count() == 50
    assert Purchase.objects.count() == 120
    purchase = Purchase.objects.prefetch_related("lines").first()
    assert purchase.amount == sum(line.amount for line in purchase.lines.all())


@pytest.mark.django_db
def test_datagen_processing_data_is_consistent_at_tiny_size():
    from django.db.models import Sum

    from attributes.models import Counter
    from bench.datagen import processing_data, till_credentials
    from catalogue.models import Till
    from catalogue.services import hash_secret
    from crm.models import LedgerEntry, Lot
    from offers.models import Offer

    connection.ensure_connection()
    made = processing_data(connection.connection, customers=40, offer_count=10, till_count=3, products=200, stores=2)
    assert Customer.objects.count() == 40
    assert Offer.objects.filter(state="active").count() == 10
    assert made["funded"] == 20 and Lot.objects.filter(state="active").count() == 20
    for account in Account.objects.all():
        entries = LedgerEntry.objects.filter(account=account).aggregate(s=Sum("activated_delta"))["s"] or 0
        lots = Lot.objects.filter(account=account, state="active").aggregate(s=Sum("remaining"))["s"] or 0
        assert account.activated_balance == entries == lots
        assert (account.activated_balance > 0) == (account.pk % 2 == 0)
    key, secret = till_credentials(3)
    till = Till.objects.get(api_key=key)
    assert till.secret_hash == hash_secret(secret) and not till.is_blocked
    assert Till.objects.filter(api_key__startswith="bench-till-").count() == 3
    assert Counter.objects.filter(code__startswith="bench-", is_active=True).count() == 2
