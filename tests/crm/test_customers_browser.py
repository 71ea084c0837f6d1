"""In a real Chromium: an agent finds a customer by phone in the admin search and blocks a card."""
from __future__ import annotations

import pytest

from core.models import AuditEvent
from crm.models import Card
from tests.factories.crm import CardFactory, CustomerFactory, NotifierFactory
from tests.conftest import admin_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_finds_customer_by_phone_and_blocks_a_card(live_server, page, agent):
    customer = CustomerFactory(first_name="Anna", last_name="Petrova")
    NotifierFactory(customer=customer, value="+79161234567", verified=True)
    card = CardFactory(customer=customer, number="7000123456")
    CustomerFactory(first_name="Boris", last_name="Other")

    admin_login(page, live_server.url, agent.username, "pass-12345")

    page.goto(f"{live_server.url}/admin/crm/customer/")
    page.fill("#searchbar", "8 916 123-45-67")  # the way a caller dictates it
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "Petrova" in rows.first.inner_text()

    rows.first.locator("a", has_text="Petrova").click()
    page.wait_for_selector("table.crm-cards")
    page.locator("tr[data-card='7000123456'] a.card-block").click()
    page.fill("#id_reason", "lost by the customer")
    page.click("#service-form input[type=submit]")

    page.wait_for_selector("table.crm-cards")
    assert "blocked" in page.locator("tr[data-card='7000123456'] .card-state").inner_text().lower()
    assert page.locator("tr[data-card='7000123456'] a.card-unblock").count() == 1
    card.refresh_from_db()
    assert card.state == Card.State.BLOCKED and card.state_reason == "lost by the customer"
    assert AuditEvent.objects.filter(action="card.block", object_id=str(card.pk), actor_label=agent.username).exists()
