"""In a real Chromium: a marketer builds a segment with the builder, previews it live, saves it,
refreshes it, and looks at the RFM chart."""
from __future__ import annotations

import pytest

from core.actors import Actor
from segments import services
from segments.models import Membership, Segment
from tests.factories.crm import CustomerFactory, NotifierFactory, PurchaseFactory
from tests.conftest import admin_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_marketer_builds_previews_saves_and_refreshes_a_segment(live_server, page, marketer):
    for _ in range(3):
        NotifierFactory(verified=True)
    NotifierFactory(verified=False)
    for _ in range(2):
        PurchaseFactory(customer=CustomerFactory())
    services.rfm_recompute(actor=Actor.system("test"))

    admin_login(page, live_server.url, marketer.username, "pass-12345")

    page.goto(f"{live_server.url}/admin/segments/segment/add/")
    page.fill("#id_name", "Texting list")
    page.select_option(".seg-group .seg-kind", "notifier")
    page.click(".seg-group .seg-add")
    page.select_option(".seg-leaf select[data-param=channel]", "phone")
    page.select_option(".seg-leaf select[data-param=verified]", "true")
    page.click("#seg-preview-btn")
    page.wait_for_selector("#seg-preview-count[data-count]")
    assert page.get_attribute("#seg-preview-count", "data-count") == "3"
    assert page.locator("#seg-preview-members tr").count() == 4  # header + 3

    # a mistake is pointed at: the leaf gets marked and the error names its path
    page.select_option(".seg-group .seg-kind", "purchases")
    page.click(".seg-group .seg-add")
    page.click("#seg-preview-btn")
    page.wait_for_selector("#seg-preview-errors li")
    assert "definition.children.1.aggregate" in page.inner_text("#seg-preview-errors")
    assert page.locator('.seg-leaf.seg-error[data-path="definition.children.1"]').count() == 1
    page.locator('[data-path="definition.children.1"] .seg-remove').click()

    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist")
    segment = Segment.objects.get(name="Texting list")
    assert segment.definition == {"op": "and", "children": [{"kind": "notifier", "channel": "phone", "verified": True}]}

    with page.expect_navigation():
        page.click("button.seg-refresh")
    page.wait_for_selector(".messagelist .success")
    assert "3 members" in page.inner_text(".messagelist")
    assert Membership.objects.filter(segment=segment).count() == 3

    page.goto(f"{live_server.url}/admin/segments/rfmsettings/")
    page.wait_for_selector("#rfm-grid")
    assert page.locator("#rfm-grid .rfm-square").count() == 25
    assert page.inner_text("#rfm-summary").startswith("2 customers scored")
    counts = [int(page.inner_text(f"#rfm-cells tr:nth-child({n}) .rfm-count")) for n in range(2, 13)]
    assert sum(counts) == 2
