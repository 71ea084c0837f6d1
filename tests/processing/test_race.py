"""Real races: threads on separate database connections against committed data."""
from __future__ import annotations

from decimal import Decimal

import pytest

from catalogue.models import Till
from core.actors import Actor
from core.errors import DomainError
from crm.models import Account, CardAccount, Hold, LedgerEntry, Purchase
from processing.services import cheque_calculate, cheque_confirm, cheque_refund
from tests.conftest import run_in_threads
from tests.crm.ledger_checks import assert_ledger_consistent
from tests.factories.catalogue import ProductFactory, TillFactory
from tests.factories.crm import CardFactory
from tests.processing.conftest import make_member

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal
ACTOR = Actor.system("test")
LINES = [{"position": 1, "sku": "MILK", "quantity": "1", "price": "50.00", "amount": "50.00"}]


def _till(pk: int) -> Till:
    return Till.objects.select_related("store").get(pk=pk)


def test_two_tills_on_one_shared_account_never_overspend():
    # one account of 100 points reached by 8 cards; 8 tills each ask 30 at once
    ProductFactory(sku="MILK")
    member = make_member("100")
    cards = [member.card] + [CardFactory(customer=member.customer) for _ in range(7)]
    for card in cards[1:]:
        CardAccount.objects.create(card=card, account=member.account)
    tills = [TillFactory().pk for _ in cards]

    def pay(i: int):
        till = _till(tills[i])
        cheque_calculate(till=till, number=f"C-{i}", lines=LINES, actor=ACTOR, bonus_payment=D("30"),
                         identifier={"kind": "card", "value": cards[i].number})
        return cheque_confirm(till=till, number=f"C-{i}", actor=ACTOR)

    results = run_in_threads(pay, len(cards))
    booked = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(booked) == 3, results
    assert len(refused) == 5 and {r.code for r in refused} == {"not_enough_points"}
    account = Account.objects.get(pk=member.account.pk)
    assert (account.activated_balance, account.held_balance) == (D("10.00"), D("0.00"))
    assert_ledger_consistent()


def test_retried_calculate_and_confirm_at_once_book_once():
    ProductFactory(sku="MILK")
    member = make_member("100")
    till_id = TillFactory().pk

    def calculate(i: int):
        return cheque_calculate(till=_till(till_id), number="C-1", lines=LINES, actor=ACTOR, bonus_payment=D("30"),
                                identifier={"kind": "card", "value": member.card.number})

    results = run_in_threads(calculate, 6)
    assert all(isinstance(r, dict) for r in results), results
    assert Purchase.objects.count() == 1
    assert Hold.objects.filter(state="open").count() == 1

    results = run_in_threads(lambda i: cheque_confirm(till=_till(till_id), number="C-1", actor=ACTOR), 6)
    assert all(isinstance(r, dict) for r in results), results
    assert LedgerEntry.objects.filter(kind="redemption").count() == 1
    account = Account.objects.get(pk=member.account.pk)
    assert (account.activated_balance, account.held_balance) == (D("70.00"), D("0.00"))

    # concurrent partial refunds of one unit each never refund more than was sold
    results = run_in_threads(lambda i: cheque_refund(till=_till(till_id), number=f"R-{i}", original_number="C-1",
                                                     actor=ACTOR, lines=[{"position": 1, "quantity": "0.5"}]), 4)
    assert sum(1 for r in results if isinstance(r, dict)) == 2, results
    account.refresh_from_db()
    assert (account.activated_balance, account.held_balance) == (D("100.00"), D("0.00"))
    assert_ledger_consistent()
