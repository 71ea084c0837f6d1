"""Query counts of the hot path, the OpenAPI schema, and a real worker upgrading the status."""
from __future__ import annotations

import time

import pytest

from tests.processing.conftest import cheque, make_member, till_client


def post(client, path, body):
    return client.post(f"/api/v1/pos/{path}", body, format="json")


# Recorded on the known cheque below (2 lines, one cumulative offer, card identifier, a bonus payment).
CALCULATE_QUERIES = 10  # 2 of them SAVEPOINT/RELEASE (the test runs inside a transaction)
CONFIRM_QUERIES = 13


@pytest.mark.django_db
def test_calculate_and_confirm_query_counts(client, member, cashback, products, django_assert_num_queries):
    post(client, "calculate", cheque("WARM", member=member))  # compile the snapshot, warm caches
    with django_assert_num_queries(CALCULATE_QUERIES):
        answer = post(client, "calculate", cheque(member=member, bonus_payment="10.00"))
    assert answer.status_code == 200, answer.json()
    with django_assert_num_queries(CONFIRM_QUERIES):
        answer = post(client, "confirm", {"number": "C-1"})
    assert answer.status_code == 200, answer.json()


@pytest.mark.django_db
def test_schema_documents_the_pos_paths_and_fields(operator_client):
    schema = operator_client.get("/api/schema/?format=json").json()
    for path in ("balance", "calculate", "confirm", "cancel", "refund", "offline"):
        assert f"/api/v1/pos/{path}" in schema["paths"], sorted(schema["paths"])
    assert "/api/v1/me/qr" in schema["paths"]
    components = schema["components"]["schemas"]
    for name, fields in {
        "PosChequeInRequest": {"number", "purchased_at", "identifier", "lines", "coupons", "bonus_payment"},
        "PosChequeAnswer": {"purchase_id", "number", "state", "totals", "lines", "balance", "coupons", "messages",
                         "bonus_payment_max"},
        "PosLineOut": {"discount", "bonus_accrued", "bonus_paid", "offers"},
        "PosRefundInRequest": {"number", "original_number", "lines"},
        "PosTotalsOut": {"amount", "discount", "bonus_accrued", "bonus_paid", "to_pay"},
    }.items():
        assert fields <= set(components[name]["properties"]), name
        for field, spec in components[name]["properties"].items():
            assert spec.get("description") or "$ref" in spec or "allOf" in spec or spec.get("items"), (name, field)


@pytest.mark.celery_worker
def test_real_worker_upgrades_the_status_after_confirm(celery_worker_real):
    from statuses.models import CustomerStatus
    from tests.factories.catalogue import ProductFactory, TillFactory
    from tests.factories.statuses import spend_system

    spend_system(entry_level=True)
    ProductFactory(sku="MILK")
    ProductFactory(sku="BREAD")
    member = make_member("0")
    client = till_client(TillFactory())
    body = cheque(member=member)
    body["lines"] = [{"position": 1, "sku": "MILK", "quantity": "1", "price": "2000.00"}]
    assert post(client, "calculate", body).status_code == 200
    assert post(client, "confirm", {"number": "C-1"}).status_code == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = CustomerStatus.objects.filter(customer_id=member.customer.pk).select_related("status").first()
        if row is not None and row.status is not None and row.status.code == "silver":
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the status was not upgraded by the worker")


@pytest.mark.django_db
def test_balance_takes_three_queries(client, member, django_assert_num_queries):
    with django_assert_num_queries(3):  # till, card with member and category, member with accounts
        answer = post(client, "balance", {"identifier": {"kind": "card", "value": member.card.number}})
    assert answer.status_code == 200, answer.json()
