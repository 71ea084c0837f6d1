"""Two tills showing the same new card at once: it gets one anonymous customer, not two."""
from __future__ import annotations

import pytest

from core.actors import Actor
from crm.models import Account, Customer
from crm.services.cards import card_customer_ensure, card_issue
from tests.conftest import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_first_use_of_a_card_creates_one_customer():
    card, _ = card_issue(number="7000555000", actor=Actor.system("test"))

    results = run_in_threads(lambda i: card_customer_ensure(card=card, actor=Actor.system(f"till {i}")).pk, count=4)

    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    assert Customer.objects.count() == 1
    assert Account.objects.filter(customer_id=results[0]).count() == 1
