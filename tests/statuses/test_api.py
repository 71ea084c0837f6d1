"""The member's statuses in plain words, the operator's view, history and manual assignment."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from attributes.models import Counter
from core.models import AuditEvent, DomainEvent
from statuses.models import CustomerStatus, StatusChange, StatusRecalculation
from statuses.services import StatusSpec, status_system_define, status_upgrade_for_customer
from tests.factories.attributes import CounterFactory
from tests.factories.crm import CustomerFactory, customer_token_for
from tests.factories.statuses import TEST_ACTOR, counter_set, spend_system

pytestmark = pytest.mark.django_db


def member_client(customer) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Customer {customer_token_for(customer, f'tok-{customer.pk}')}")
    return client


def test_member_sees_status_next_date_and_what_is_missing_in_plain_words():
    year = CounterFactory(code="spend_year", name="Spend this year", period=Counter.Period.YEAR, timezone="UTC")
    system = spend_system(counter=year, period="quarterly")
    customer = CustomerFactory()
    today = timezone.now().date()
    counter_set(year, customer, "1800.00", period_start=dt.date(today.year, 1, 1))
    status_upgrade_for_customer(customer_id=customer.pk)

    response = member_client(customer).get("/api/v1/me/statuses")

    assert response.status_code == 200, response.content
    [item] = response.json()
    assert item["system"] == "tier" and item["status"] == {"code": "silver", "name": "Silver", "rank": 1}
    assert item["value"] == {"counter": "spend_year", "name": "Spend this year", "value": "1800.00"}
    assert item["next_recalculation_on"] == system.next_recalculation_at.date().isoformat()
    next_status = item["next_status"]
    assert next_status["code"] == "gold"
    end_of_year = f"31.12.{today.year}"
    assert next_status["text"] == f"Spend 3,200.00 more by {end_of_year} to reach Gold."
    [req] = next_status["requirements"]
    assert (req["current"], req["required"], req["missing"], req["met"]) == ("1800.00", "5000.00", "3200.00", False)
    assert req["by"] == f"{today.year}-12-31"
    assert item["text"].startswith("You have Silver. Spend 3,200.00 more")


def test_member_words_for_counts_several_conditions_and_the_top():
    visits = CounterFactory(code="visits", name="Visits", aggregate=Counter.Aggregate.COUNT)
    spend = CounterFactory(code="spend_all", name="Spend")
    status_system_define(code="club", name="Club", actor=TEST_ACTOR, statuses=[
        StatusSpec("member", "Member", 0, ""),
        StatusSpec("friend", "Friend", 1, "visits >= 3 and spend_all >= 500"),
    ])
    customer = CustomerFactory()
    counter_set(visits, customer, 2)
    counter_set(spend, customer, 100)
    status_upgrade_for_customer(customer_id=customer.pk)
    client = member_client(customer)
    [item] = client.get("/api/v1/me/statuses").json()
    assert item["status"]["code"] == "member"
    assert item["next_status"]["text"] == "Make 1 more purchase and spend 400.00 more to reach Friend."

    counter_set(visits, customer, 3)
    counter_set(spend, customer, 500)
    status_upgrade_for_customer(customer_id=customer.pk)
    [item] = client.get("/api/v1/me/statuses").json()
    assert item["status"]["code"] == "friend" and item["next_status"] is None
    assert item["text"] == "You have Friend, the highest status."


def test_member_endpoint_refuses_operators_and_anonymous(operator_client):
    assert APIClient().get("/api/v1/me/statuses").status_code in (401, 403)
    response = operator_client.get("/api/v1/me/statuses")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_agent_assigns_by_hand_with_reason_and_hold_and_sees_history(agent):
    system = spend_system()
    customer = CustomerFactory()
    client = APIClient()
    client.force_authenticate(agent)
    hold = (timezone.now() + dt.timedelta(days=10)).date()

    refused = client.post(f"/api/v1/customers/{customer.pk}/statuses/tier", {"status": "gold", "reason": " "})
    assert refused.status_code == 400 and "reason" in refused.json()["errors"]
    unknown = client.post(f"/api/v1/customers/{customer.pk}/statuses/tier", {"status": "diamond", "reason": "x"})
    assert unknown.status_code == 400
    assert unknown.json()["errors"] == {"status": ["System 'tier' has no status 'diamond'."]}
    assert not CustomerStatus.objects.exists()

    response = client.post(f"/api/v1/customers/{customer.pk}/statuses/tier",
                           {"status": "gold", "reason": "complaint settled", "hold_until": hold.isoformat()})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["from_status"], body["to_status"], body["reason"], body["actor_label"]) == (
        None, "gold", "manual", agent.username)
    row = CustomerStatus.objects.get(system=system, customer=customer)
    assert row.manual_until == dt.datetime.combine(hold + dt.timedelta(days=1), dt.time.min, tzinfo=dt.timezone.utc)
    audit = AuditEvent.objects.get(action="status.assign_manual")
    assert audit.actor_label == agent.username and audit.comment == "complaint settled"
    assert DomainEvent.objects.filter(kind="status.changed", payload__reason="manual").count() == 1

    statuses = client.get(f"/api/v1/customers/{customer.pk}/statuses").json()
    assert statuses[0]["status"]["code"] == "gold" and statuses[0]["reason"] == "complaint settled"
    assert statuses[0]["manual_until"] is not None
    history = client.get(f"/api/v1/customers/{customer.pk}/statuses/history?system=tier").json()
    assert history["count"] == 1 and history["results"][0]["comment"] == "complaint settled"


def test_marketer_cannot_assign_by_hand_but_can_start_a_recalculation(marketer, django_capture_on_commit_callbacks):
    system = spend_system()
    customer = CustomerFactory()
    client = APIClient()
    client.force_authenticate(marketer)
    refused = client.post(f"/api/v1/customers/{customer.pk}/statuses/tier", {"status": "gold", "reason": "x"})
    assert refused.status_code == 403

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/api/v1/status-systems/tier/recalculate", {"mode": "upgrade"})
    assert response.status_code == 202, response.content
    assert response.json()["mode"] == "upgrade" and response.json()["chunks_total"] == 1
    assert len(callbacks) == 1  # the chunk tasks are queued after commit
    assert StatusRecalculation.objects.filter(system=system, mode="upgrade").count() == 1

    systems = client.get("/api/v1/status-systems").json()
    assert systems[0]["code"] == "tier"
    assert [s["conditions_text"] for s in systems[0]["statuses"]] == ["spend >= 1000", "spend >= 5000",
                                                                      "spend >= 20000"]


def test_unknown_customer_and_system_give_404(operator_client):
    spend_system()
    assert operator_client.get("/api/v1/customers/999999/statuses").status_code == 404
    customer = CustomerFactory()
    response = operator_client.post(f"/api/v1/customers/{customer.pk}/statuses/nope", {"status": "", "reason": "x"})
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert not StatusChange.objects.exists()


def test_status_attribute_filters_customers_by_status():
    from attributes.filters import attribute_condition
    from crm.models import Customer

    system = spend_system()
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()
    counter_set(system.counter, a, 1500)
    counter_set(system.counter, b, 6000)
    for x in (a, b, c):
        status_upgrade_for_customer(customer_id=x.pk)
    system.refresh_from_db()
    assert system.attribute.kind == "status" and system.attribute.code == "tier"
    assert [o["code"] for o in system.attribute.options] == ["silver", "gold", "platinum"]

    def ids(op, value=None):
        return set(Customer.objects.filter(attribute_condition("tier", op, value).q()).values_list("pk", flat=True))

    assert ids("eq", "gold") == {b.pk}
    assert ids("gte", "silver") == {a.pk, b.pk}
    assert ids("lt", "gold") == {a.pk}
    assert ids("is_not_set") == {c.pk}
    from core.errors import DomainError

    with pytest.raises(DomainError):
        ids("eq", "diamond")


def test_statuses_map_for_offers():
    from statuses.selectors import statuses_map

    system = spend_system()
    customer = CustomerFactory()
    counter_set(system.counter, customer, 25000)
    status_upgrade_for_customer(customer_id=customer.pk)
    assert statuses_map(customer_id=customer.pk) == {"tier": "platinum"}
