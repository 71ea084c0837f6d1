"""In a real Chromium: a marketer defines a status system with two statuses and their conditions."""
from __future__ import annotations

import pytest

from core.models import AuditEvent
from statuses.models import Status, StatusSystem
from tests.factories.statuses import spend_counter
from tests.conftest import admin_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_marketer_defines_a_system_with_two_statuses(live_server, page, marketer):
    counter = spend_counter()

    admin_login(page, live_server.url, marketer.username, "pass-12345")

    page.goto(f"{live_server.url}/admin/statuses/statussystem/add/")
    assert "spend" in page.locator(".field-condition_help").inner_text()  # the counters one may name
    page.fill("#id_code", "club")
    page.fill("#id_name", "Club")
    page.select_option("#id_period", "quarterly")
    page.fill("#id_grace_days", "14")
    page.select_option("#id_counter", str(counter.pk))
    page.fill("#id_statuses-0-code", "silver")
    page.fill("#id_statuses-0-name", "Silver")
    page.fill("#id_statuses-0-rank", "1")
    page.fill("#id_statuses-0-conditions_text", "spend >= 1000")
    page.fill("#id_statuses-1-code", "gold")
    page.fill("#id_statuses-1-name", "Gold")
    page.fill("#id_statuses-1-rank", "2")
    page.fill("#id_statuses-1-conditions_text", "spend >= 5 000")  # a typo: refused with a reason
    page.click("input[name=_save]")

    page.wait_for_selector(".errorlist")
    assert "unexpected" in page.locator(".errorlist").first.inner_text()
    assert not StatusSystem.objects.exists()
    page.fill("#id_statuses-1-conditions_text", "spend >= 5000")
    page.click("input[name=_save]")

    page.wait_for_selector(".messagelist .success")
    assert "Silver < Gold" in page.locator("#result_list").inner_text()
    system = StatusSystem.objects.get(code="club")
    assert (system.period, system.grace_days, system.counter_id) == ("quarterly", 14, counter.pk)
    assert list(Status.objects.filter(system=system).order_by("rank").values_list("code", "conditions")) == [
        ("silver", [{"type": "counter", "counter": "spend", "period": "current", "op": "gte", "value": "1000"}]),
        ("gold", [{"type": "counter", "counter": "spend", "period": "current", "op": "gte", "value": "5000"}]),
    ]
    assert AuditEvent.objects.filter(action="status.create", actor_label=marketer.username).count() == 2
