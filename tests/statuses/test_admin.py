"""Admin: marketers define systems and conditions (checked), agents assign by hand (audited)."""
from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from core.models import AuditEvent
from statuses.models import CustomerStatus, Status, StatusChange, StatusSystem
from tests.factories.crm import CustomerFactory
from tests.factories.statuses import spend_counter, spend_system

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def system_form(statuses: list[tuple[str, str, str, str]], **fields) -> dict:
    data = {"code": "tier", "name": "Tier", "description": "", "period": "quarterly", "grace_days": "0",
            "timezone": "Europe/Moscow", "counter": "", "next_recalculation_at_0": "", "next_recalculation_at_1": "",
            "is_active": "on", "statuses-TOTAL_FORMS": str(len(statuses)), "statuses-INITIAL_FORMS": "0",
            "statuses-MIN_NUM_FORMS": "0", "statuses-MAX_NUM_FORMS": "1000", **fields}
    for index, (code, name, rank, conditions) in enumerate(statuses):
        data.update({f"statuses-{index}-code": code, f"statuses-{index}-name": name,
                     f"statuses-{index}-rank": rank, f"statuses-{index}-conditions_text": conditions})
    return data


def test_marketer_defines_a_system_with_statuses_and_conditions(marketer):
    counter = spend_counter()
    client = logged_in(marketer)
    assert client.get("/admin/statuses/statussystem/add/").status_code == 200

    response = client.post("/admin/statuses/statussystem/add/", system_form(
        [("silver", "Silver", "1", "spend >= 1000"), ("gold", "Gold", "2", "spend >= 5000\nattribute nope is set")],
        counter=str(counter.pk)))
    assert response.status_code == 200  # the form comes back with the error
    assert "no attribute &#x27;nope&#x27;" in response.content.decode()
    assert not StatusSystem.objects.exists()

    response = client.post("/admin/statuses/statussystem/add/", system_form(
        [("silver", "Silver", "1", "spend >= 1000"), ("gold", "Gold", "2", "spend >= 5000")], counter=str(counter.pk)))
    assert response.status_code == 302, response.content.decode()[:3000]
    system = StatusSystem.objects.get(code="tier")
    assert system.next_recalculation_at is not None and system.attribute.kind == "status"
    gold = Status.objects.get(system=system, code="gold")
    assert gold.conditions == [{"type": "counter", "counter": "spend", "period": "current", "op": "gte",
                                "value": "5000"}]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"status_system.create", "status.create"} <= actions

    page = client.get(f"/admin/statuses/statussystem/{system.pk}/change/").content.decode()
    assert "spend &gt;= 5000" in page


def test_agent_assigns_a_status_in_the_admin_and_cannot_define_systems(agent):
    system = spend_system()
    customer = CustomerFactory()
    gold = Status.objects.get(system=system, code="gold")
    client = logged_in(agent)
    assert client.get("/admin/statuses/statussystem/add/").status_code == 403

    missing_reason = client.post("/admin/statuses/customerstatus/add/", {
        "customer": customer.pk, "system": system.pk, "status": gold.pk, "reason": "", "hold_until": ""})
    assert missing_reason.status_code == 200 and not CustomerStatus.objects.exists()

    hold = (timezone.now() + dt.timedelta(days=5)).date().isoformat()
    response = client.post("/admin/statuses/customerstatus/add/", {
        "customer": customer.pk, "system": system.pk, "status": gold.pk, "reason": "birthday gift", "hold_until": hold})
    assert response.status_code == 302, response.content.decode()[:2000]
    row = CustomerStatus.objects.get(customer=customer, system=system)
    assert row.status == gold and row.manual_until is not None
    change = StatusChange.objects.get(customer=customer)
    assert (change.reason, change.actor_label, change.comment) == ("manual", agent.username, "birthday gift")

    # Changing it again goes through the service too, and shows in the history on the page.
    silver = Status.objects.get(system=system, code="silver")
    response = client.post(f"/admin/statuses/customerstatus/{row.pk}/change/", {
        "status": silver.pk, "reason": "mistake corrected", "hold_until": ""})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == silver and row.manual_until is None
    page = client.get(f"/admin/statuses/customerstatus/{row.pk}/change/").content.decode()
    assert "mistake corrected" in page and "birthday gift" in page
    assert AuditEvent.objects.filter(action="status.assign_manual").count() == 2


def test_marketer_cannot_delete_a_status_customers_hold(marketer):
    system = spend_system()
    customer = CustomerFactory()
    from statuses.services import status_assign_manual
    from tests.factories.statuses import TEST_ACTOR

    status_assign_manual(customer_id=customer.pk, system=system, status="gold", reason="x", actor=TEST_ACTOR)
    statuses = list(Status.objects.filter(system=system).order_by("rank"))
    data = system_form([(s.code, s.name, str(s.rank), f"spend >= {1000 * (i + 1)}") for i, s in enumerate(statuses)],
                       counter=str(system.counter_id), period="monthly", timezone="UTC")
    data["statuses-INITIAL_FORMS"] = str(len(statuses))
    for index, status in enumerate(statuses):
        data[f"statuses-{index}-id"] = str(status.pk)
        data[f"statuses-{index}-system"] = str(system.pk)
    gold_index = [s.code for s in statuses].index("gold")
    data[f"statuses-{gold_index}-DELETE"] = "on"
    response = logged_in(marketer).post(f"/admin/statuses/statussystem/{system.pk}/change/", data)
    assert response.status_code == 200  # refused with a message, nothing deleted
    assert Status.objects.filter(system=system, code="gold").exists()
