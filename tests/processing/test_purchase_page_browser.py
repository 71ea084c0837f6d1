"""In a real Chromium, end to end: a till calculates and confirms a cheque over HTTP on the live
server, then a call-center agent finds it in the admin by its number and sees the lines, the offers
that gave each discount or bonus, and the engine's trace kept for support."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from crm.models import Purchase
from tests.conftest import admin_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TILL = "Till demo-till-msk-01:demo-secret-msk-01"


def test_agent_sees_a_till_cheque_with_its_offers_and_trace(live_server, page, settings):
    # given: the demo program and a cheque sent by the demo till through the API
    call_command("load_demo")
    headers = {"Authorization": TILL, "Content-Type": "application/json"}
    cheque = {"number": "BROWSER-1", "identifier": {"kind": "card", "value": "7000000000000001"},
              "lines": [{"position": 1, "sku": "MILK-1L", "quantity": "2", "price": "79.90"}]}
    calculated = page.request.post(f"{live_server.url}/api/v1/pos/calculate", headers=headers, data=cheque)
    assert calculated.status == 200, calculated.text()
    confirmed = page.request.post(f"{live_server.url}/api/v1/pos/confirm", headers=headers,
                                  data={"number": "BROWSER-1"})
    assert confirmed.status == 200, confirmed.text()
    assert confirmed.json()["state"] == "confirmed"
    purchase = Purchase.objects.get(number="BROWSER-1")

    # when: the agent searches the purchases by the cheque number and opens it
    admin_login(page, live_server.url, "agent", settings.LOYALTY["DEMO_PASSWORD"])
    page.goto(f"{live_server.url}/admin/crm/purchase/?q=BROWSER-1")
    page.click(f"a[href^='/admin/crm/purchase/{purchase.pk}/change/']")
    page.wait_for_selector("#purchase_form, form")

    # then: the line shows the dairy discount's offer, and the trace explains the offers
    body = page.locator("#content").inner_text()
    assert "BROWSER-1" in body
    assert "confirmed" in body
    assert "10% off dairy" in body  # the line's offer and the trace entry
    assert "15.98" in body  # 10% of 2 x 79.90
    assert "Double points in your birthday month" in body  # in the trace even though it did not apply
