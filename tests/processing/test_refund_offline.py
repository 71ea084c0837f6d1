"""Refunds reverse exactly (full; partial twice = full); offline cheques book accrual only; QR codes."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from attributes.models import CounterValue
from crm.models import Account, LedgerEntry, Purchase, PurchaseLine
from tests.crm.ledger_checks import assert_ledger_consistent
from tests.factories.crm import customer_token_for
from tests.processing.conftest import cheque, make_member

pytestmark = pytest.mark.django_db
D = Decimal


def post(client, path, body):
    return client.post(f"/api/v1/pos/{path}", body, format="json")


def sale(client, member, number="C-1", pay="20.00"):
    assert post(client, "calculate", cheque(number, member=member, bonus_payment=pay)).status_code == 200
    answer = post(client, "confirm", {"number": number})
    assert answer.status_code == 200, answer.json()
    return answer.json()


def balance(member) -> tuple[Decimal, Decimal]:
    account = Account.objects.get(pk=member.account.pk)
    return account.activated_balance, account.held_balance


def test_full_refund_reverses_exactly(client, member, cashback, products):
    sale(client, member)
    assert balance(member) == (D("82.50"), D("0.00"))
    answer = post(client, "refund", {"number": "R-1", "original_number": "C-1"})
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["points_taken_back"], body["points_returned"]) == ("2.50", "20.00")
    assert balance(member) == (D("100.00"), D("0.00"))
    assert list(PurchaseLine.objects.filter(purchase__number="C-1").values_list("refunded_quantity", flat=True)) == \
        [D("2"), D("1")]
    # retried: same answer, nothing booked twice
    again = post(client, "refund", {"number": "R-1", "original_number": "C-1"})
    assert again.json()["replayed"] is True and again.json()["purchase_id"] == body["purchase_id"]
    assert balance(member) == (D("100.00"), D("0.00"))
    # nothing is left to refund
    assert post(client, "refund", {"number": "R-2", "original_number": "C-1"}).json()["code"] == "already_refunded"
    assert_ledger_consistent()


def test_partial_refunds_twice_add_up_to_a_full_one(client, member, cashback, products):
    # 3 units at 3.33: bonus 0.50 on the line, paid 9.99 * share; thirds do not divide evenly
    body = cheque(member=member, bonus_payment="7.00")
    body["lines"] = [{"position": 1, "sku": "MILK", "quantity": "3", "price": "3.33", "amount": "9.99"},
                     {"position": 2, "sku": "BREAD", "quantity": "1", "price": "30.00", "amount": "30.00"}]
    assert post(client, "calculate", body).status_code == 200
    assert post(client, "confirm", {"number": "C-1"}).status_code == 200
    after_sale = balance(member)
    first = post(client, "refund", {"number": "R-1", "original_number": "C-1",
                                    "lines": [{"position": 1, "quantity": "1"}]})
    assert first.status_code == 200, first.json()
    second = post(client, "refund", {"number": "R-2", "original_number": "C-1",
                                     "lines": [{"position": 1, "quantity": "2"}, {"position": 2}]})
    assert second.status_code == 200, second.json()
    assert balance(member) == (D("100.00"), D("0.00")), after_sale
    too_much = post(client, "refund", {"number": "R-3", "original_number": "C-1",
                                       "lines": [{"position": 1, "quantity": "1"}]})
    assert too_much.status_code == 400 and too_much.json()["code"] == "validation_error"
    assert "lines.0.quantity" in too_much.json()["errors"]
    assert_ledger_consistent()


def test_refund_over_quantity_is_refused_per_field(client, member, products):
    sale(client, member, pay="0")
    answer = post(client, "refund", {"number": "R-1", "original_number": "C-1",
                                     "lines": [{"position": 1, "quantity": "3"}]})
    assert answer.status_code == 400 and "lines.0.quantity" in answer.json()["errors"]


def test_refund_follows_counters(client, member, products):
    from tests.factories.attributes import CounterFactory

    counter = CounterFactory()
    sale(client, member, pay="0")
    assert CounterValue.objects.get(counter=counter, customer_id=member.customer.pk).value == D("50.00")
    post(client, "refund", {"number": "R-1", "original_number": "C-1", "lines": [{"position": 2}]})
    assert CounterValue.objects.get(counter=counter, customer_id=member.customer.pk).value == D("20.00")


def test_offline_cheque_accrues_only_at_its_time_and_is_idempotent(client, member, products):
    from tests.factories.offers import OfferFactory, RuleFactory

    old = OfferFactory(name="last month's 10% back", cumulative=True, start_date=dt.date(2026, 11, 1),
                       end_date=dt.date(2026, 11, 30))
    RuleFactory(offer=old, actions=[{"type": "bonus", "mode": "percent", "value": "10"}])
    discount = OfferFactory(name="10% off", start_date=dt.date(2026, 11, 1))
    RuleFactory(offer=discount)
    body = cheque("OFF-1", member=member, purchased_at="2026-11-20T10:00:00+03:00")
    answer = post(client, "offline", body)
    assert answer.status_code == 200, answer.json()
    result = answer.json()
    assert result["state"] == "confirmed" and result["offline"] is True
    assert result["totals"]["discount"] == "0.00" and result["totals"]["to_pay"] == "50.00"
    assert result["totals"]["bonus_accrued"] == "4.50"  # 10% of what the engine says the member paid (45)
    assert balance(member) == (D("104.50"), D("0.00"))
    again = post(client, "offline", body)
    assert again.json()["replayed"] is True
    assert balance(member) == (D("104.50"), D("0.00"))
    purchase = Purchase.objects.get(number="OFF-1")
    assert purchase.offline and purchase.state == "confirmed"
    assert purchase.purchased_at == dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.timezone.utc)
    assert post(client, "offline", cheque("OFF-2", member=member, bonus_payment="5")).json()["code"] == \
        "validation_error"
    assert_ledger_consistent()


def test_naive_time_is_the_stores_local_time(client, products):
    answer = post(client, "calculate", cheque("T-1", purchased_at="2026-12-06T14:03:00"))
    # the factory store is in Europe/Moscow (UTC+3)
    assert answer.json()["purchased_at"].startswith("2026-12-06T11:03:00")


def test_qr_code_identifies_once(client, member, products, api_client):
    token = customer_token_for(member.customer)
    api_client.credentials(HTTP_AUTHORIZATION=f"Customer {token}")
    issued = api_client.post("/api/v1/me/qr")
    assert issued.status_code == 201, issued.json()
    code = issued.json()["token"]
    body = cheque(identifier={"kind": "qr", "value": code})
    first = post(client, "calculate", body)
    assert first.status_code == 200 and first.json()["member"]["id"] == member.customer.pk
    # in a test the transaction never commits: take the code as a commit would
    from django.core.cache import cache

    from processing.selectors import QR_PREFIX, qr_hash

    cache.delete(QR_PREFIX + qr_hash(code))
    other = post(client, "calculate", cheque("C-2", identifier={"kind": "qr", "value": code}))
    assert other.status_code == 404 and other.json()["code"] == "customer_not_found"


def test_qr_needs_a_customer(api_client, db):
    assert api_client.post("/api/v1/me/qr").status_code == 401
