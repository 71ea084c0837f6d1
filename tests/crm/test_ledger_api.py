"""Ledger API: adjustment by identifier (one at a time, idempotent, clear errors, roles), the
statement with keyset pagination, balances, reversals, and the schema documenting them."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import AuditEvent
from crm.models import LedgerEntry, Notifier
from tests.crm.ledger_checks import assert_ledger_consistent
from tests.factories.crm import AccountFactory, CardFactory, customer_token_for
from tests.factories.ledger import accrue, funded_account

pytestmark = pytest.mark.django_db
D = Decimal


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def member():
    account = funded_account("10.00")
    Notifier.objects.create(customer=account.customer, kind="phone", value="+79161234567", verified=True)
    card = CardFactory(customer=account.customer, number="7000000000000042")
    card.accounts.add(account)
    return account


def test_agent_adjusts_by_phone_and_a_retry_books_nothing(agent, member):
    client = _client(agent)
    body = {"identifier_type": "phone", "identifier": "+7 916 123-45-67", "amount": "25.50", "reason": "complaint 17",
            "idempotency_key": "ticket-17"}
    first = client.post("/api/v1/ledger/adjustments", body)
    assert first.status_code == 201, first.json()
    data = first.json()
    assert data["entry"]["kind"] == "adjustment" and data["entry"]["amount"] == "25.50"
    assert data["balance"]["activated"] == "35.50" and data["replayed"] is False
    retry = client.post("/api/v1/ledger/adjustments", body)
    assert retry.status_code == 200 and retry.json()["entry"]["id"] == data["entry"]["id"]
    assert retry.json()["replayed"] is True
    member.refresh_from_db()
    assert member.activated_balance == D("35.50")
    event = AuditEvent.objects.get(action="ledger.adjust")
    assert (event.actor_kind, event.actor_label, event.comment) == ("operator", agent.username, "complaint 17")


def test_adjustment_by_card_with_the_key_in_a_header_and_a_debit(agent, member):
    client = _client(agent)
    response = client.post("/api/v1/ledger/adjustments", {"identifier_type": "card", "identifier": "7000000000000042",
                                                          "amount": "-4", "reason": "double accrual"},
                           HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 201, response.json()
    assert response.json()["balance"]["available"] == "6.00"


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"identifier_type": "phone", "identifier": "+79160000000", "amount": "1", "reason": "x"}, "account_not_found",
     "identifier"),
    ({"identifier_type": "phone", "identifier": "+79161234567", "amount": "-10.01", "reason": "x"}, "not_enough_points",
     "amount"),
    ({"identifier_type": "phone", "identifier": "+79161234567", "amount": "1.001", "reason": "x"}, "invalid_amount",
     "amount"),
    ({"identifier_type": "phone", "identifier": "+79161234567", "amount": "1", "reason": " "}, "validation_error",
     "reason"),
    ({"identifier_type": "fax", "identifier": "1", "amount": "1", "reason": "x"}, "validation_error", "identifier_type"),
    ({"identifier_type": "phone", "identifier": "x", "amount": "1", "reason": "x"}, "phone_invalid", "identifier"),
    ({"identifier_type": "email", "identifier": "a@example.com", "amount": "1", "reason": "x", "currency": "gold"},
     "currency_not_found", "currency"),
])
def test_bad_adjustments_get_a_clear_error_and_change_nothing(agent, member, body, code, field):
    response = _client(agent).post("/api/v1/ledger/adjustments", {**body, "idempotency_key": "k"})
    assert response.status_code in (400, 404), response.json()
    assert response.json()["code"] == code
    assert field in response.json()["errors"]
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()


def test_adjustment_without_idempotency_key_is_refused(agent, member):
    response = _client(agent).post("/api/v1/ledger/adjustments", {"identifier_type": "phone",
                                                                   "identifier": "+79161234567", "amount": "1",
                                                                   "reason": "x"})
    assert response.status_code == 400 and response.json()["code"] == "idempotency_key_required"


def test_marketer_may_read_but_not_adjust(marketer, member):
    client = _client(marketer)
    refused = client.post("/api/v1/ledger/adjustments", {"identifier_type": "phone", "identifier": "+79161234567",
                                                         "amount": "1", "reason": "x", "idempotency_key": "k"})
    assert refused.status_code == 403
    assert client.get(f"/api/v1/accounts/{member.pk}/statement").status_code == 200


def test_statement_pages_by_cursor_newest_first(agent):
    account = AccountFactory()
    for i in range(7):
        accrue(account, f"{i + 1}", expire_at=timezone.now() + dt.timedelta(days=30))
    client = _client(agent)
    seen: list[int] = []
    url = f"/api/v1/accounts/{account.pk}/statement?limit=3"
    pages = 0
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        pages += 1
        url = f"/api/v1/accounts/{account.pk}/statement?limit=3&cursor={body['next_cursor']}" if body["next_cursor"] else None
    assert pages == 3
    assert seen == sorted(LedgerEntry.objects.filter(account=account).values_list("id", flat=True), reverse=True)
    first = client.get(f"/api/v1/accounts/{account.pk}/statement?limit=1").json()["results"][0]
    assert first["amount"] == "7.00" and first["expire_at"] is not None and first["kind"] == "accrual"
    # a new entry does not shift the pages already handed out
    page1 = client.get(f"/api/v1/accounts/{account.pk}/statement?limit=3").json()
    accrue(account, "100")
    page2 = client.get(f"/api/v1/accounts/{account.pk}/statement?limit=3&cursor={page1['next_cursor']}").json()
    assert page2["results"][0]["id"] == seen[3]
    bad = client.get(f"/api/v1/accounts/{account.pk}/statement?cursor=nonsense")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"


def test_statement_filters_by_kind(agent):
    account = funded_account("10")
    from crm.services.ledger import ledger_redeem
    from tests.factories.ledger import TEST_ACTOR

    ledger_redeem(account=account, amount=D("3"), source="t", idempotency_key="r", actor=TEST_ACTOR)
    body = _client(agent).get(f"/api/v1/accounts/{account.pk}/statement?kind=redemption").json()
    assert [row["kind"] for row in body["results"]] == ["redemption"]


def test_customer_sees_only_own_accounts(api_client):
    mine = funded_account("12")
    other = funded_account("99")
    api_client.credentials(HTTP_AUTHORIZATION=f"Customer {customer_token_for(mine.customer)}")
    listed = api_client.get("/api/v1/accounts/").json()
    assert [(row["account_id"], row["available"]) for row in listed] == [(mine.pk, "12.00")]
    assert api_client.get(f"/api/v1/accounts/{mine.pk}/statement").status_code == 200
    assert api_client.get(f"/api/v1/accounts/{other.pk}/statement").status_code == 404
    assert api_client.get(f"/api/v1/accounts/{other.pk}").status_code == 404
    assert api_client.post("/api/v1/ledger/adjustments", {}).status_code == 403


def test_operator_lists_balances_by_customer_or_card(agent, member):
    client = _client(agent)
    by_customer = client.get(f"/api/v1/accounts/?customer={member.customer_id}").json()
    by_card = client.get("/api/v1/accounts/?card=7000000000000042").json()
    assert by_customer == by_card and by_card[0]["activated"] == "10.00"
    assert client.get("/api/v1/accounts/").json()["code"] == "filter_required"
    assert client.get(f"/api/v1/accounts/{member.pk}").json()["available"] == "10.00"


def test_reversal_over_the_api(agent):
    account = AccountFactory()
    accrual = accrue(account, "10")
    client = _client(agent)
    response = client.post(f"/api/v1/ledger/entries/{accrual.pk}/reversal",
                           {"amount": "4", "reason": "cheque refunded", "idempotency_key": "refund-1"})
    assert response.status_code == 201, response.json()
    assert response.json()["entry"]["reverses"] == accrual.pk
    assert response.json()["balance"]["activated"] == "6.00"
    too_much = client.post(f"/api/v1/ledger/entries/{accrual.pk}/reversal", {"amount": "7", "idempotency_key": "r2"})
    assert too_much.json()["code"] == "over_reversal"
    assert client.post("/api/v1/ledger/entries/999999/reversal", {"idempotency_key": "r3"}).status_code == 404
    assert_ledger_consistent()


def test_endpoints_are_in_the_schema(operator_client):
    schema = operator_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path in ("/api/v1/ledger/adjustments", "/api/v1/accounts/{id}/statement", "/api/v1/accounts/",
                 "/api/v1/ledger/entries/{id}/reversal"):
        assert path in paths, sorted(paths)
    body = schema["components"]["schemas"]["AdjustmentRequest"]["properties"]
    assert {"identifier_type", "identifier", "amount", "reason", "idempotency_key"} <= set(body)
