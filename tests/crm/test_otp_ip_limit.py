"""Anti-fraud: code requests per client IP (crm.services.ip_limits), counted in the real Redis."""
from __future__ import annotations

import time

import pytest
from django.test import RequestFactory

from crm.services.ip_limits import code_request_ip_check, code_request_ip_reset
from loymax.api.client_ip import client_ip
from tests.crm.otp_outbox import otp_outbox  # noqa: F401  (fixture)
from tests.factories.crm import CustomerFactory, NotifierFactory, customer_token_for

pytestmark = pytest.mark.django_db
LIMIT = 3
IPS = ["198.51.100.7", "198.51.100.8", "203.0.113.5", "203.0.113.9", "2001:db8::1"]


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.OTP_IP_LIMIT = LIMIT
    settings.OTP_IP_WINDOW_SECONDS = 3600
    settings.TRUSTED_PROXY_COUNT = 0
    for ip in IPS:
        code_request_ip_reset(ip=ip)


def login_request(api_client, phone: str, ip: str = IPS[0], **extra):
    return api_client.post("/api/v1/auth/login/request", {"phone": phone}, REMOTE_ADDR=ip, **extra)


def phone(n: int) -> str:
    return f"+7916000{n:04d}"


def test_the_request_over_the_limit_is_refused_whatever_the_phone(api_client, otp_outbox):
    NotifierFactory(value=phone(1), verified=True)
    for n in range(LIMIT):  # a different phone each time: the per-phone limit never applies
        assert login_request(api_client, phone(n)).status_code == 202
    known = login_request(api_client, phone(1))
    unknown = login_request(api_client, phone(99))
    for refused in (known, unknown):
        assert refused.status_code == 429
        body = refused.json()
        assert body["code"] == "ip_rate_limited" and "Too many code requests" in body["message"]
        assert 0 < body["retry_after"] <= 3600
    assert known.json().keys() == unknown.json().keys()  # says nothing about the phone
    assert known.json()["message"] == unknown.json()["message"]


def test_another_ip_is_not_affected(api_client, otp_outbox):
    for n in range(LIMIT + 1):
        login_request(api_client, phone(n), ip=IPS[0])
    assert login_request(api_client, phone(50), ip=IPS[0]).status_code == 429
    assert login_request(api_client, phone(50), ip=IPS[1]).status_code == 202
    assert login_request(api_client, phone(51), ip=IPS[4]).status_code == 202


def test_the_count_starts_again_when_the_window_ends(api_client, otp_outbox, settings):
    settings.OTP_IP_WINDOW_SECONDS = 1
    time.sleep(1 - time.time() % 1 + 0.01)  # the start of a fresh one-second window
    for n in range(LIMIT):
        assert login_request(api_client, phone(n), ip=IPS[2]).status_code == 202
    refused = login_request(api_client, phone(10), ip=IPS[2])
    assert refused.status_code == 429 and refused.json()["retry_after"] == 1
    time.sleep(1.05)
    assert login_request(api_client, phone(11), ip=IPS[2]).status_code == 202


def test_a_reset_clears_the_counter(api_client, otp_outbox):
    for n in range(LIMIT + 1):
        login_request(api_client, phone(n), ip=IPS[3])
    assert login_request(api_client, phone(20), ip=IPS[3]).status_code == 429
    code_request_ip_reset(ip=IPS[3])
    assert login_request(api_client, phone(21), ip=IPS[3]).status_code == 202


def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted(api_client, otp_outbox, settings):
    spoofed = [f"192.0.2.{n}" for n in range(LIMIT + 1)]
    for n, fake in enumerate(spoofed):
        login_request(api_client, phone(n), ip=IPS[0], HTTP_X_FORWARDED_FOR=fake)
    refused = login_request(api_client, phone(30), ip=IPS[0], HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert refused.status_code == 429 and refused.json()["code"] == "ip_rate_limited"

    # One trusted proxy (REMOTE_ADDR is the proxy): the client is the last X-Forwarded-For entry,
    # and what the client wrote to the left of it does not matter.
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = IPS[0]
    for n in range(LIMIT):
        sent = login_request(api_client, phone(40 + n), ip=proxy, HTTP_X_FORWARDED_FOR=f"10.9.9.{n}, {IPS[1]}")
        assert sent.status_code == 202
    refused = login_request(api_client, phone(45), ip=proxy, HTTP_X_FORWARDED_FOR=f"10.9.9.77, {IPS[1]}")
    assert refused.status_code == 429
    assert login_request(api_client, phone(46), ip=proxy, HTTP_X_FORWARDED_FOR=IPS[4]).status_code == 202


def test_client_ip_reading(settings):
    rf = RequestFactory()
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4")) == "10.0.0.1"
    settings.TRUSTED_PROXY_COUNT = 2
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4, 10.0.0.1")
    assert client_ip(request) == "1.2.3.4"
    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="10.0.0.1")) == "10.0.0.2"  # too short
    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="junk, 10.0.0.1")) == "10.0.0.2"


def test_contact_change_requests_count_too(api_client, otp_outbox):
    customer = CustomerFactory()
    app = api_client
    app.credentials(HTTP_AUTHORIZATION=f"Customer {customer_token_for(customer)}")
    for n in range(LIMIT):
        sent = app.post("/api/v1/me/contacts/change-request", {"kind": "phone", "value": phone(60 + n)},
                        REMOTE_ADDR=IPS[1])
        assert sent.status_code == 202, sent.json()
    refused = app.post("/api/v1/me/contacts/change-request", {"kind": "email", "value": "new@example.com"},
                       REMOTE_ADDR=IPS[1])
    assert refused.status_code == 429 and refused.json()["code"] == "ip_rate_limited"


def test_operator_verification_requests_count_too(operator_client, otp_outbox):
    notifiers = [NotifierFactory(value=phone(70 + n), verified=False) for n in range(LIMIT + 1)]
    for notifier in notifiers[:LIMIT]:
        sent = operator_client.post(f"/api/v1/notifiers/{notifier.pk}/verification-request", REMOTE_ADDR=IPS[2])
        assert sent.status_code == 202, sent.json()
    refused = operator_client.post(f"/api/v1/notifiers/{notifiers[-1].pk}/verification-request", REMOTE_ADDR=IPS[2])
    assert refused.status_code == 429 and refused.json()["code"] == "ip_rate_limited"


def test_services_without_an_ip_are_not_counted(settings):
    settings.OTP_IP_LIMIT = 1
    for _ in range(5):
        code_request_ip_check(ip=None)
    settings.OTP_IP_LIMIT = 0  # off
    for _ in range(5):
        code_request_ip_check(ip=IPS[3])
