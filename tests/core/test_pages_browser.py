"""Pages in a real headless Chromium: the admin login with a role's account, the health page."""
from __future__ import annotations

import pytest
from django.core.management import call_command
from tests.conftest import admin_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_login_and_health_page(live_server, page, settings):
    call_command("load_demo")
    admin_login(page, live_server.url, "marketer", settings.LOYALTY["DEMO_PASSWORD"])
    assert "Site administration" in page.title() or "Administration" in page.content()
    assert page.locator("a", has_text="Products").count() >= 1  # marketer may manage products

    page.goto(f"{live_server.url}/health")
    assert page.locator("tr[data-check=database] .ok").count() == 1
    assert page.locator("tr[data-check=redis] .ok").count() == 1
