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
