"""The customer-side demo: every card state present, idempotent, findable as the README says."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from crm.models import Account, Card, Customer, Notifier
from crm.selectors.customers import customer_find

pytestmark = pytest.mark.django_db


def test_demo_is_idempotent_and_shows_every_card_state():
    call_command("load_demo")
    counts = (Customer.objects.count(), Card.objects.count(), Notifier.objects.count(), Account.objects.count())
    call_command("load_demo")
    assert (Customer.objects.count(), Card.objects.count(), Notifier.objects.count(), Account.objects.count()) == counts
    assert counts[0] == 20
    assert set(Card.objects.values_list("state", flat=True)) == set(Card.State.values)
    assert Card.objects.get(number="7000000000000017").replaced_by.number == "7000000000000117"
    assert Notifier.objects.filter(kind="phone", verified=True).count() == 12
    assert not Customer.objects.filter(accounts__isnull=True).exists()
    anna = customer_find(kind="phone", value="8 916 000-00-01")
    assert anna.last_name == "Petrova" and anna.purchases.count() == 3
    assert customer_find(kind="card_number", value="7000000000000018").state == Customer.State.ANONYMOUS
