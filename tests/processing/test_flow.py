"""The till's flow over HTTP: balance, calculate (hold), confirm (book), cancel, retries."""
from __future__ import annotations

from decimal import Decimal

import pytest

from core.models import AuditEvent, DomainEvent
from crm.models import Account, Hold, LedgerEntry, Purchase, PurchaseLine, PurchaseLineOffer
from tests.crm.ledger_checks import assert_ledger_consistent
from tests.processing.conftest import cheque, make_member

pytestmark = pytest.mark.django_db
D = Decimal


def post(client, path, body):
    return client.post(f"/api/v1/pos/{path}", body, format="json")


def test_balance_by_card_shows_member_card_and_balances(client, member):
    answer = post(client, "balance", {"identifier": {"kind": "card", "value": member.card.number}})
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["member"]["id"] == member.customer.pk
    assert body["card"] == {"number": member.card.number, "state": "active"}
    assert body["balance"][0]["available"] == "100.00"
    assert body["bonus_payment_available"] == "100.00"


def test_calculate_then_confirm_books_hold_and_accrual(client, member, cashback, products):
    calc = post(client, "calculate", cheque(member=member, bonus_payment="20.00"))
    assert calc.status_code == 200, calc.json()
    body = calc.json()
    assert body["state"] == "calculated" and body["number"] == "C-1"
    assert body["totals"] == {"amount": "50.00", "discount": "0.00", "bonus_accrued": "2.50", "bonus_paid": "20.00",
                              "to_pay": "30.00"}
    # the payment is spread in proportion to each line's payable maximum (20 and 30)
    assert [l["bonus_paid"] for l in body["lines"]] == ["8.00", "12.00"]
    assert body["lines"][0]["offers"][0]["name"] == "5% back"
    assert body["balance"][0]["held"] == "20.00" and body["balance"][0]["available"] == "80.00"
    purchase = Purchase.objects.get(pk=body["purchase_id"])
    assert purchase.state == "calculated" and purchase.trace and purchase.answer["number"] == "C-1"
    assert PurchaseLine.objects.filter(purchase=purchase).count() == 2
    assert PurchaseLineOffer.objects.filter(line__purchase=purchase).count() == 2

    conf = post(client, "confirm", {"number": "C-1"})
    assert conf.status_code == 200, conf.json()
    assert conf.json()["state"] == "confirmed"
    account = Account.objects.get(pk=member.account.pk)
    assert (account.activated_balance, account.held_balance) == (D("82.50"), D("0.00"))
    assert conf.json()["balance"][0]["activated"] == "82.50"
    assert DomainEvent.objects.filter(kind="purchase_confirmed", customer_id=member.customer.pk).count() == 1
    assert AuditEvent.objects.filter(action="purchase.confirm").exists()
    # a retried confirm answers the same and books nothing
    again = post(client, "confirm", {"number": "C-1"})
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["totals"] == conf.json()["totals"]
    assert LedgerEntry.objects.filter(purchase=purchase).count() == 2
    account.refresh_from_db()
    assert account.activated_balance == D("82.50")
    assert_ledger_consistent()


def test_recalculate_replaces_and_releases_the_old_hold(client, member, products):
    assert post(client, "calculate", cheque(member=member, bonus_payment="20.00")).status_code == 200
    second = post(client, "calculate", cheque(member=member, bonus_payment="10.00"))
    assert second.status_code == 200, second.json()
    assert Purchase.objects.count() == 1
    assert list(Hold.objects.order_by("id").values_list("state", flat=True)) == ["released", "open"]
    account = Account.objects.get(pk=member.account.pk)
    assert account.held_balance == D("10.00")
    # an identical retry holds nothing twice
    third = post(client, "calculate", cheque(member=member, bonus_payment="10.00"))
    assert third.json()["replayed"] is True and Hold.objects.count() == 2
    assert_ledger_consistent()


def test_cancel_releases_the_hold(client, member, products):
    post(client, "calculate", cheque(member=member, bonus_payment="20.00"))
    answer = post(client, "cancel", {"number": "C-1"})
    assert answer.status_code == 200 and answer.json()["state"] == "cancelled"
    assert Account.objects.get(pk=member.account.pk).held_balance == D("0.00")
    assert post(client, "cancel", {"number": "C-1"}).status_code == 200  # twice: same answer
    assert_ledger_consistent()


def test_anonymous_cheque_is_calculated_and_confirmed(client, cashback, products):
    calc = post(client, "calculate", cheque())
    assert calc.status_code == 200, calc.json()
    assert calc.json()["member"] is None and calc.json()["totals"]["bonus_accrued"] == "2.50"
    conf = post(client, "confirm", {"number": "C-1"})
    assert conf.status_code == 200 and conf.json()["state"] == "confirmed"
    assert not LedgerEntry.objects.filter(kind="accrual", purchase__isnull=False).exists()


def test_not_activated_card_earns_on_confirm(client, cashback, products):
    member = make_member("0", card_state="not_activated")
    assert post(client, "calculate", cheque(member=member)).status_code == 200
    assert post(client, "confirm", {"number": "C-1"}).status_code == 200
    assert Account.objects.get(pk=member.account.pk).activated_balance == D("2.50")
