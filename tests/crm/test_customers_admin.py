"""The admin for customers, contacts, cards and program settings: roles, search, writes through services."""
from __future__ import annotations

import pytest

from core.models import AuditEvent
from crm.models import Card, Customer, Notifier, ProgramSettings
from tests.crm.otp_outbox import otp_outbox  # noqa: F401  (fixture)
from tests.factories.crm import CardFactory, CustomerFactory, NotifierFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna():
    customer = CustomerFactory(first_name="Anna", last_name="Petrova")
    NotifierFactory(customer=customer, value="+79161234567", verified=True)
    CardFactory(customer=customer, number="7000111")
    return customer


def test_agent_finds_a_customer_by_phone_in_any_format(client, agent, anna):
    CustomerFactory(last_name="Someone-else")
    client.force_login(agent)
    page = client.get("/admin/crm/customer/", {"q": "8 (916) 123-45-67"}).content.decode()
    assert "Petrova" in page and "Someone-else" not in page
    page = client.get("/admin/crm/customer/", {"q": "7000111"}).content.decode()
    assert "Petrova" in page
    page = client.get("/admin/crm/customer/").content.decode()
    assert "+79161234567" in page  # the primary phone column


def test_customer_page_shows_contacts_cards_and_accounts(client, agent, anna):
    client.force_login(agent)
    page = client.get(f"/admin/crm/customer/{anna.pk}/change/").content.decode()
    assert "+79161234567" in page and "7000111" in page
    assert f"/admin/crm/card/{anna.cards.get().pk}/block/" in page


def test_admin_create_and_update_go_through_services(client, agent):
    client.force_login(agent)
    bad = client.post("/admin/crm/customer/add/", {"first_name": "Ivan", "phone": "12", "timezone": "UTC"})
    assert bad.status_code == 200 and "is not a" in bad.content.decode()
    assert not Customer.objects.exists()
    response = client.post("/admin/crm/customer/add/", {"first_name": "Ivan", "last_name": "Sidorov", "timezone": "UTC",
                                                        "phone": "8 916 555 00 11", "gender": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    customer = Customer.objects.get()
    assert customer.registration_channel == "admin"
    assert customer.notifiers.get().value == "+79165550011"
    assert customer.accounts.count() == 1
    response = client.post(f"/admin/crm/customer/{customer.pk}/change/", {
        "first_name": "Ivan", "last_name": "Sidorov", "middle_name": "Petrovich", "timezone": "UTC", "gender": "male"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="customer.update", actor_kind="operator")
    assert event.after == {"middle_name": "Petrovich", "gender": "male"}


def test_agent_blocks_and_replaces_a_card_through_its_pages(client, agent, anna):
    card = anna.cards.get()
    client.force_login(agent)
    refused = client.post(f"/admin/crm/card/{card.pk}/block/", {"reason": ""})
    assert "Say why" in refused.content.decode()
    response = client.post(f"/admin/crm/card/{card.pk}/block/", {"reason": "lost"})
    assert response.status_code == 302
    card.refresh_from_db()
    assert card.state == Card.State.BLOCKED
    response = client.post(f"/admin/crm/card/{card.pk}/replace/", {"new_number": "7000222", "reason": "lost"})
    assert response.status_code == 302
    card.refresh_from_db()
    assert card.state == Card.State.REPLACED and card.replaced_by.number == "7000222"
    assert AuditEvent.objects.filter(action="card.replace", actor_label=agent.username).exists()


def test_bulk_block_action_takes_the_reason(client, agent):
    cards = [CardFactory(), CardFactory()]
    client.force_login(agent)
    response = client.post("/admin/crm/card/", {
        "action": "block_cards", "_selected_action": [c.pk for c in cards], "reason": "fraud ring", "index": 0})
    assert response.status_code == 302
    assert set(Card.objects.values_list("state", "state_reason")) == {("blocked", "fraud ring")}


def test_merge_page(client, agent, anna):
    duplicate = CustomerFactory()
    NotifierFactory(customer=duplicate, kind="email", value="dup@example.com")
    client.force_login(agent)
    url = f"/admin/crm/customer/{anna.pk}/merge/"
    assert client.get(url).status_code == 200
    unconfirmed = client.post(url, {"source": f"#{duplicate.pk}"})
    assert unconfirmed.status_code == 200
    response = client.post(url, {"source": "dup@example.com", "confirm": "on", "comment": "same person"})
    assert response.status_code == 302
    duplicate.refresh_from_db()
    assert duplicate.state == Customer.State.MERGED and duplicate.merged_into_id == anna.pk
    itself = client.post(url, {"source": f"#{anna.pk}", "confirm": "on"})
    assert "cannot be merged into itself" in itself.content.decode()


def test_contact_verified_with_the_code_in_the_admin(client, agent, otp_outbox, django_capture_on_commit_callbacks):
    notifier = NotifierFactory(value="+79160001234")
    client.force_login(agent)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/crm/notifier/", {"action": "send_code", "_selected_action": [notifier.pk], "index": 0})
    code = otp_outbox.last_code("+79160001234")
    response = client.post(f"/admin/crm/notifier/{notifier.pk}/change/", {"is_primary": "on", "code": "000000" if code != "000000" else "111111"})
    assert response.status_code == 302  # the refusal is shown as a message on the same page
    assert not Notifier.objects.get(pk=notifier.pk).verified
    client.post(f"/admin/crm/notifier/{notifier.pk}/change/", {"is_primary": "on", "code": code})
    assert Notifier.objects.get(pk=notifier.pk).verified


def test_marketer_only_views(client, marketer, anna):
    client.force_login(marketer)
    assert client.get(f"/admin/crm/customer/{anna.pk}/change/").status_code == 200
    card = anna.cards.get()
    assert client.post(f"/admin/crm/card/{card.pk}/block/", {"reason": "x"}).status_code == 403
    assert client.get("/admin/crm/programsettings/").status_code == 403


def test_program_settings_validate_regions(admin_client):
    page = admin_client.get("/admin/crm/programsettings/", follow=True)
    assert page.status_code == 200 and ProgramSettings.objects.filter(pk=1).exists()
    base = {"default_phone_region": "RU", "otp_ttl_seconds": 300, "otp_max_attempts": 5, "otp_requests_per_hour": 5,
            "expiring_soon_days": 7}
    bad = admin_client.post("/admin/crm/programsettings/1/change/", {**base, "allowed_phone_regions": '["XX"]'})
    assert "not a known region" in bad.content.decode()
    ok = admin_client.post("/admin/crm/programsettings/1/change/", {**base, "allowed_phone_regions": '["ru", "KZ"]'})
    assert ok.status_code == 302
    assert ProgramSettings.load().allowed_phone_regions == ["RU", "KZ"]
    assert AuditEvent.objects.filter(object_type="crm.programsettings", action="admin.change").exists()
