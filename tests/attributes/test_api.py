"""The attributes API: the customer's own questionnaire, the call center's view of anyone's,
attribute definitions and values, counters; roles; errors per field; the OpenAPI schema."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from attributes.models import Attribute, CounterValue
from core.models import AuditEvent
from tests.factories.attributes import AttributeFactory, CounterFactory, family_questionnaire
from tests.factories.crm import CustomerFactory, customer_token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_client():
    family_questionnaire()
    customer = CustomerFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Customer {customer_token_for(customer)}")
    return client, customer


def as_operator(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_customer_reads_and_patches_own_answers(customer_client, django_assert_max_num_queries):
    client, customer = customer_client
    with django_assert_max_num_queries(8):
        body = client.get("/api/v1/me/questionnaire").json()
    assert [q["code"] for q in body["questionnaire"]["questions"]][:2] == ["favourite_category", "nickname"]
    children = next(g for g in body["questionnaire"]["groups"] if g["code"] == "children")
    assert [(q["code"], q["required"]) for q in children["questions"]] == [("name", True), ("birth_date", True), ("sex", False)]
    assert body["missing_required"] == ["favourite_category"]
    response = client.patch("/api/v1/me/questionnaire", {"answers": {
        "favourite_category": "kids", "children": [{"name": "Ann", "birth_date": "2016-04-02", "sex": "female"}]}})
    assert response.status_code == 200, response.json()
    assert response.json()["answers"]["children"] == [{"name": "Ann", "birth_date": "2016-04-02", "sex": "female"}]
    assert response.json()["missing_required"] == []
    assert AuditEvent.objects.get(action="answers.update").actor_kind == "customer"


def test_customer_gets_every_bad_field_in_one_answer(customer_client):
    client, customer = customer_client
    response = client.patch("/api/v1/me/questionnaire", {"answers": {
        "children": [{"name": "Ann", "birth_date": "2016-04-02"}, {"name": "", "birth_date": "2099-01-01"}],
        "wedding_day": "2010-01-01", "household": "many"}})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"] == {
        "answers.children.1.name": ["This question is required."],
        "answers.children.1.birth_date": ["Cannot be in the future."],
        "answers.wedding_day": ["Not editable by the customer."],
        "answers.household": ["'many' is not a number."],
    }
    assert "answers.children.1.birth_date" in body["message"]
    bad = client.patch("/api/v1/me/questionnaire", {"answers": "nope"})
    assert bad.status_code == 400 and "answers" in bad.json()["errors"]


def test_call_center_edits_any_customers_answers_and_roles_apply(agent, marketer):
    family_questionnaire()
    customer = CustomerFactory()
    response = as_operator(agent).patch(f"/api/v1/customers/{customer.pk}/questionnaire",
                                        {"answers": {"wedding_day": "2010-06-12", "favourite_category": "dairy"}}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["answers"]["wedding_day"] == "2010-06-12"  # not editable by customers, but by the call center
    assert as_operator(agent).get(f"/api/v1/customers/{customer.pk}/questionnaire").status_code == 200
    assert as_operator(agent).get("/api/v1/customers/999999/questionnaire").status_code == 404
    assert APIClient().get(f"/api/v1/customers/{customer.pk}/questionnaire").status_code == 401
    customer_only = APIClient()
    customer_only.credentials(HTTP_AUTHORIZATION=f"Customer {customer_token_for(customer, 'other-token')}")
    assert customer_only.get(f"/api/v1/customers/{customer.pk}/questionnaire").status_code == 403


def test_attribute_definitions_and_values(agent, marketer):
    AttributeFactory(code="vip", name="VIP", value_type=Attribute.ValueType.BOOLEAN)
    AttributeFactory(code="pets", value_type=Attribute.ValueType.MULTI_CHOICE, options=[{"code": "cat", "label": "Cat"}, "dog"])
    customer = CustomerFactory()
    listing = as_operator(marketer).get("/api/v1/attributes/?kind=generic").json()
    assert {a["code"]: a["options"] for a in listing["results"]}["pets"] == [{"code": "cat", "label": "Cat"}, {"code": "dog", "label": "dog"}]
    client = as_operator(agent)
    bad = client.patch(f"/api/v1/customers/{customer.pk}/attributes", {"values": {"vip": "maybe", "pets": ["cow"], "nope": 1}}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"values.vip", "values.pets", "values.nope"}
    ok = client.patch(f"/api/v1/customers/{customer.pk}/attributes", {"values": {"vip": True, "pets": ["cat"]}}, format="json")
    assert ok.status_code == 200
    assert {v["attribute"]: v["value"] for v in ok.json()} == {"vip": True, "pets": ["cat"]}
    event = AuditEvent.objects.get(action="attributes.set")
    assert event.after == {"vip": True, "pets": ["cat"]} and event.actor_label == agent.username


def test_counters_of_a_customer_and_recalculation(marketer, agent, django_capture_on_commit_callbacks):
    counter = CounterFactory(code="spend-month", name="Spend this month", period="month", timezone="UTC")
    customer = CustomerFactory()
    today = dt.date.today()
    this_month = today.replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    CounterValue.objects.create(counter=counter, customer=customer, period_start=this_month, value=Decimal("120.50"))
    CounterValue.objects.create(counter=counter, customer=customer, period_start=last_month, value=Decimal("80"))
    rows = as_operator(agent).get(f"/api/v1/customers/{customer.pk}/counters").json()
    assert rows[0]["counter"] == "spend-month"
    assert (rows[0]["value"], rows[0]["previous_value"], rows[0]["period_start"]) == ("120.50", "80.00", this_month.isoformat())
    assert as_operator(agent).post("/api/v1/counters/spend-month/recalculate").status_code == 403
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = as_operator(marketer).post("/api/v1/counters/spend-month/recalculate")
    assert response.status_code == 202 and response.json() == {"counter": "spend-month", "chunks": 1}
    assert len(callbacks) == 1  # the chunks are queued after commit
    assert [c["code"] for c in as_operator(agent).get("/api/v1/counters/").json()["results"]] == ["spend-month"]


def test_every_endpoint_is_in_the_schema(operator_client):
    schema = operator_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path, methods in {
        "/api/v1/me/questionnaire": {"get", "patch"},
        "/api/v1/customers/{customer_id}/questionnaire": {"get", "patch"},
        "/api/v1/customers/{customer_id}/attributes": {"get", "patch"},
        "/api/v1/customers/{customer_id}/counters": {"get"},
        "/api/v1/attributes/": {"get"},
        "/api/v1/counters/": {"get"},
        "/api/v1/counters/{code}/recalculate": {"post"},
        "/api/v1/questionnaire": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    patch = paths["/api/v1/me/questionnaire"]["patch"]
    assert "answers.children.1.birth_date" in patch["summary"]
