"""The customer app: login by phone + code (also registration), then /me for the token's owner only."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.models import AuditEvent
from crm.models import Customer, CustomerToken, Notifier, VerificationCode
from tests.crm.otp_outbox import otp_outbox  # noqa: F401  (fixture)
from tests.factories.crm import CardFactory, CustomerFactory, NotifierFactory, PurchaseFactory, customer_token_for

pytestmark = pytest.mark.django_db
PHONE = "+79167778899"


@pytest.fixture
def login(api_client, otp_outbox, django_capture_on_commit_callbacks):
    def run(phone: str = "8 916 777 88 99") -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            sent = api_client.post("/api/v1/auth/login/request", {"phone": phone})
        assert sent.status_code == 202, sent.json()
        response = api_client.post("/api/v1/auth/login/confirm", {"phone": phone, "code": otp_outbox.last_code(PHONE),
                                                                  "device": "test phone"})
        assert response.status_code == 200, response.json()
        return response.json()

    return run


def as_customer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Customer {token}")
    return client


def test_first_login_registers_a_customer_with_the_phone_verified(login):
    body = login()
    customer = Customer.objects.get(pk=body["customer_id"])
    assert customer.state == Customer.State.REGISTERED and customer.registration_channel == "app"
    assert list(customer.notifiers.values_list("value", "verified")) == [(PHONE, True)]
    token_row = CustomerToken.objects.get(customer=customer)
    assert token_row.token_hash != body["token"] and token_row.device == "test phone"
    assert AuditEvent.objects.filter(action="customer.login", actor_kind="customer").exists()


def test_a_known_phone_logs_into_its_customer(login):
    known = CustomerFactory()
    NotifierFactory(customer=known, value=PHONE, verified=True)
    assert login()["customer_id"] == known.pk
    assert Customer.objects.count() == 1


def test_an_unverified_phone_of_one_customer_logs_into_it_and_becomes_verified(login):
    anonymous = CustomerFactory(state=Customer.State.ANONYMOUS, registered_at=None)
    NotifierFactory(customer=anonymous, value=PHONE)
    assert login()["customer_id"] == anonymous.pk
    anonymous.refresh_from_db()
    assert anonymous.state == Customer.State.REGISTERED
    assert Notifier.objects.get(customer=anonymous).verified


def test_the_request_never_reveals_whether_the_phone_is_taken(api_client, otp_outbox, django_capture_on_commit_callbacks):
    NotifierFactory(value=PHONE, verified=True)
    known = api_client.post("/api/v1/auth/login/request", {"phone": PHONE})
    unknown = api_client.post("/api/v1/auth/login/request", {"phone": "+79160001111"})
    assert known.status_code == unknown.status_code == 202
    assert known.json().keys() == unknown.json().keys()
    bad = api_client.post("/api/v1/auth/login/request", {"phone": "123"})
    assert bad.status_code == 400 and bad.json()["errors"].keys() == {"phone"}


def test_wrong_code_and_rate_limit(api_client, otp_outbox):
    api_client.post("/api/v1/auth/login/request", {"phone": PHONE})
    wrong = api_client.post("/api/v1/auth/login/confirm", {"phone": PHONE, "code": "xxxxxx"})
    assert wrong.status_code == 400 and wrong.json()["code"] == "code_wrong"
    assert VerificationCode.objects.get(value=PHONE).attempts == 1
    for _ in range(4):
        api_client.post("/api/v1/auth/login/request", {"phone": PHONE})
    limited = api_client.post("/api/v1/auth/login/request", {"phone": PHONE})
    assert limited.status_code == 429 and limited.json()["code"] == "code_rate_limited"


def test_a_blocked_customer_cannot_log_in(api_client, otp_outbox, django_capture_on_commit_callbacks):
    blocked = CustomerFactory(state=Customer.State.BLOCKED)
    NotifierFactory(customer=blocked, value=PHONE, verified=True)
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post("/api/v1/auth/login/request", {"phone": PHONE})
    response = api_client.post("/api/v1/auth/login/confirm", {"phone": PHONE, "code": otp_outbox.last_code(PHONE)})
    assert response.status_code == 403 and response.json()["code"] == "customer_blocked"
    assert not CustomerToken.objects.exists()


def test_me_shows_and_changes_only_the_owner(login):
    token = login()["token"]
    other = CustomerFactory(first_name="Other")
    me = as_customer(token)
    body = me.get("/api/v1/me").json()
    assert body["notifiers"][0]["value"] == PHONE and "external_uid" not in body
    changed = me.patch("/api/v1/me", {"first_name": "Maria", "birth_date": "1992-03-04"})
    assert changed.status_code == 200 and changed.json()["first_name"] == "Maria"
    # Bad values and fields the app may not touch are refused by name, never silently dropped.
    refused = me.patch("/api/v1/me", {"birth_date": "3000-01-01"})
    assert refused.status_code == 400 and refused.json()["errors"].keys() == {"birth_date"}
    forbidden = me.patch("/api/v1/me", {"external_uid": "mine", "state": "registered"})
    assert forbidden.status_code == 400 and forbidden.json()["errors"].keys() == {"external_uid", "state"}
    other.refresh_from_db()
    assert other.first_name == "Other"
    # An operator endpoint is not for customers.
    assert me.get(f"/api/v1/customers/{other.pk}").status_code == 403


def test_me_requires_a_valid_token(api_client):
    customer = CustomerFactory()
    assert api_client.get("/api/v1/me").status_code == 401
    assert as_customer("nope").get("/api/v1/me").status_code == 401
    token = customer_token_for(customer)
    client = as_customer(token)
    assert client.get("/api/v1/me").status_code == 200
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert client.get("/api/v1/me").status_code == 401


def test_change_phone_from_the_app(login, otp_outbox, django_capture_on_commit_callbacks):
    me = as_customer(login()["token"])
    with django_capture_on_commit_callbacks(execute=True):
        sent = me.post("/api/v1/me/contacts/change-request", {"kind": "phone", "value": "+79160002222"})
    assert sent.status_code == 202
    done = me.post("/api/v1/me/contacts/change-confirm",
                   {"kind": "phone", "value": "+79160002222", "code": otp_outbox.last_code("+79160002222")})
    assert done.status_code == 200
    assert [(n["value"], n["verified"]) for n in done.json()["notifiers"]] == [("+79160002222", True)]


def test_me_purchases_are_only_mine(login):
    body = login()
    customer = Customer.objects.get(pk=body["customer_id"])
    mine = PurchaseFactory(customer=customer, card=CardFactory(customer=customer))
    PurchaseFactory()  # someone else's
    rows = as_customer(body["token"]).get("/api/v1/me/purchases").json()["results"]
    assert [row["id"] for row in rows] == [mine.pk]
