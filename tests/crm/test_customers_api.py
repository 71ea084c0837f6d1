"""Operator API: search, detail, create/update, block, merge, contacts with codes, cards. Roles and errors."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.models import AuditEvent
from crm.models import Card, CardAccount, Customer, Notifier
from tests.crm.otp_outbox import otp_outbox  # noqa: F401  (fixture)
from tests.factories.crm import CardCategoryFactory, CardFactory, CustomerFactory, NotifierFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def agent_client(agent) -> APIClient:
    return client_for(agent)


def test_search_by_phone_returns_contacts_and_cards(agent_client, django_assert_max_num_queries):
    customer = CustomerFactory(first_name="Anna")
    NotifierFactory(customer=customer, value="+79161234567", verified=True)
    CardFactory(customer=customer, number="7000555")
    response = agent_client.get("/api/v1/customers/search", {"q": "8 916 123-45-67"})
    assert response.status_code == 200
    [row] = response.json()
    assert (row["id"], row["phone"], row["cards"][0]["number"]) == (customer.pk, "+79161234567", "7000555")


def test_search_with_an_explicit_kind_and_a_bad_value_names_the_field(agent_client):
    response = agent_client.get("/api/v1/customers/search", {"q": "12", "kind": "phone"})
    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "phone_invalid" and list(body["errors"]) == ["q"]


def test_create_customer_with_per_field_errors(agent_client):
    response = agent_client.post("/api/v1/customers", {"first_name": "Ivan", "phone": "12345"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "phone_invalid" and list(body["errors"]) == ["phone"]
    response = agent_client.post("/api/v1/customers", {"birth_date": "not a date"})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["birth_date"]
    assert not Customer.objects.exists()


def test_create_then_retry_with_the_same_external_uid(agent_client):
    payload = {"first_name": "Ivan", "phone": "+7 916 765 43 21", "external_uid": "shop-1"}
    first = agent_client.post("/api/v1/customers", payload)
    again = agent_client.post("/api/v1/customers", payload)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    body = first.json()
    assert body["state"] == "registered" and body["registration_channel"] == "call_center"
    assert body["notifiers"][0]["value"] == "+79167654321"
    assert body["accounts"][0]["currency"] == "points"


def test_detail_and_update(agent_client):
    customer = CustomerFactory(first_name="Old")
    response = agent_client.patch(f"/api/v1/customers/{customer.pk}", {"first_name": "New", "timezone": "Nowhere/City"})
    assert response.status_code == 400 and response.json()["errors"] == {"timezone": [response.json()["message"]]}
    response = agent_client.patch(f"/api/v1/customers/{customer.pk}", {"first_name": "New"})
    assert response.status_code == 200 and response.json()["first_name"] == "New"
    assert AuditEvent.objects.filter(action="customer.update", actor_kind="operator").exists()
    assert agent_client.get("/api/v1/customers/999999").status_code == 404


def test_block_unblock_and_merge(agent_client):
    customer, duplicate = CustomerFactory(), CustomerFactory()
    CardFactory(customer=duplicate)
    assert agent_client.post(f"/api/v1/customers/{customer.pk}/block", {"reason": ""}).json()["code"] == "reason_required"
    assert agent_client.post(f"/api/v1/customers/{customer.pk}/block", {"reason": "fraud"}).json()["state"] == "blocked"
    assert agent_client.post(f"/api/v1/customers/{customer.pk}/unblock", {"reason": "ok"}).json()["state"] == "registered"
    response = agent_client.post(f"/api/v1/customers/{customer.pk}/merge", {"source_id": duplicate.pk})
    assert response.status_code == 200 and len(response.json()["cards"]) == 1
    again = agent_client.post(f"/api/v1/customers/{customer.pk}/merge", {"source_id": duplicate.pk})
    assert again.status_code == 200  # a retry answers the same
    self_merge = agent_client.post(f"/api/v1/customers/{customer.pk}/merge", {"source_id": customer.pk})
    assert self_merge.status_code == 400 and self_merge.json()["code"] == "merge_same_customer"


def test_add_contact_and_verify_with_the_code(agent_client, otp_outbox, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    response = agent_client.post(f"/api/v1/customers/{customer.pk}/notifiers", {"kind": "phone", "value": "9161112200"})
    assert response.status_code == 201
    notifier_id = response.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        sent = agent_client.post(f"/api/v1/notifiers/{notifier_id}/verification-request")
    assert sent.status_code == 202 and "code" not in sent.json()
    wrong = agent_client.post(f"/api/v1/notifiers/{notifier_id}/verification-confirm", {"code": "abc"})
    assert wrong.status_code == 400 and wrong.json()["code"] == "code_wrong" and wrong.json()["attempts_left"] == 4
    ok = agent_client.post(f"/api/v1/notifiers/{notifier_id}/verification-confirm",
                           {"code": otp_outbox.last_code("+79161112200")})
    assert ok.status_code == 200 and ok.json()["verified"] is True
    assert agent_client.delete(f"/api/v1/notifiers/{notifier_id}").status_code == 204
    assert not Notifier.objects.filter(pk=notifier_id).exists()


def test_card_issue_is_idempotent_and_actions_go_through_services(operator_client, agent_client):
    customer = CustomerFactory()
    category = CardCategoryFactory(code="gold")
    payload = {"number": "7000123", "barcode": "29000123", "category": "gold", "customer_id": customer.pk}
    first = operator_client.post("/api/v1/cards", payload)
    again = operator_client.post("/api/v1/cards", payload)
    assert (first.status_code, again.status_code) == (201, 200)
    card = first.json()
    assert card["category"] == category.code and card["state"] == "active" and card["customer_id"] == customer.pk
    conflict = operator_client.post("/api/v1/cards", {**payload, "barcode": "other"})
    assert conflict.status_code == 409 and conflict.json()["errors"] == {"number": [conflict.json()["message"]]}
    assert operator_client.post("/api/v1/cards", {"number": "x1", "category": "nope"}).json()["errors"].keys() == {"category"}

    card_id = card["id"]
    blocked = agent_client.post(f"/api/v1/cards/{card_id}/block", {"reason": "lost"})
    assert blocked.json()["state"] == "blocked" and blocked.json()["can_accrue"] is False
    replaced = agent_client.post(f"/api/v1/cards/{card_id}/replace", {"new_number": "7000124", "reason": "lost"})
    assert replaced.status_code == 200 and replaced.json()["number"] == "7000124"
    retry = agent_client.post(f"/api/v1/cards/{card_id}/replace", {"new_number": "7000124", "reason": "lost"})
    assert retry.json()["id"] == replaced.json()["id"]
    old = agent_client.get(f"/api/v1/cards/{card_id}").json()
    assert old["state"] == "replaced" and old["replaced_by"] == "7000124"
    new = Card.objects.get(number="7000124")
    assert set(CardAccount.objects.filter(card=new).values_list("account_id", flat=True)) == set(
        CardAccount.objects.filter(card_id=card_id).values_list("account_id", flat=True)
    )
    assert AuditEvent.objects.filter(action="card.replace", object_id=str(card_id), actor_kind="operator").exists()


def test_bind_unbound_card(agent_client):
    card = CardFactory(customer=None, state=Card.State.NOT_ACTIVATED)
    customer = CustomerFactory()
    response = agent_client.post(f"/api/v1/cards/{card.pk}/bind", {"customer_id": customer.pk})
    assert response.status_code == 200 and response.json()["customer_id"] == customer.pk
    missing = agent_client.post(f"/api/v1/cards/{card.pk}/bind", {"customer_id": 999999})
    assert missing.status_code == 404 and "customer_id" in missing.json()["errors"]


def test_roles(marketer, agent):
    customer = CustomerFactory()
    card = CardFactory(customer=customer)
    as_marketer = client_for(marketer)
    assert as_marketer.get(f"/api/v1/customers/{customer.pk}").status_code == 200
    assert as_marketer.patch(f"/api/v1/customers/{customer.pk}", {"first_name": "X"}).status_code == 403
    assert as_marketer.post(f"/api/v1/cards/{card.pk}/block", {"reason": "x"}).status_code == 403
    # Agents change cards but do not issue them (a print run is the administrator's job).
    assert client_for(agent).post("/api/v1/cards", {"number": "123"}).status_code == 403
    assert APIClient().get(f"/api/v1/customers/{customer.pk}").status_code == 401


def test_last_code_is_shown_only_with_debug(agent_client, settings, django_capture_on_commit_callbacks):
    notifier = NotifierFactory(value="+79161119900")
    settings.DEBUG = True
    with django_capture_on_commit_callbacks(execute=True):
        agent_client.post(f"/api/v1/notifiers/{notifier.pk}/verification-request")
    shown = agent_client.get("/api/v1/verification-codes/last", {"kind": "phone", "value": "+79161119900"})
    assert shown.status_code == 200 and len(shown.json()["code"]) == 6
    settings.DEBUG = False
    assert agent_client.get("/api/v1/verification-codes/last", {"kind": "phone", "value": "+79161119900"}).status_code == 404


def test_endpoints_are_in_the_schema(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for path in ("/api/v1/customers/search", "/api/v1/customers/{id}/merge", "/api/v1/cards/{id}/replace",
                 "/api/v1/auth/login/confirm", "/api/v1/me", "/api/v1/purchases"):
        assert path in paths, path
