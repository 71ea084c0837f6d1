"""The offers admin: an offer with inline rules (validated JSON), state actions, rule copy, the dry
run page, the reference page, coupon issues and their generation. Every write is audited."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from core.models import AuditEvent
from offers.models import CouponIssue, Offer, Rule
from offers.snapshot import version_current
from tests.factories.catalogue import ProductFactory, ProductGroupFactory, StoreFactory
from tests.factories.offers import OfferFactory, RuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(marketer) -> Client:
    client = Client()
    client.force_login(marketer)
    return client


def _offer_form(**extra) -> dict:
    data = {
        "name": "Weekend dairy", "description": "", "event": "purchase", "start_date": "2024-01-01", "end_date": "",
        "priority": "3", "limit_per_customer": "", "max_benefit_per_cheque": "", "budget": "",
        "rules-TOTAL_FORMS": "1", "rules-INITIAL_FORMS": "0", "rules-MIN_NUM_FORMS": "0", "rules-MAX_NUM_FORMS": "1000",
        "rules-0-name": "weekend", "rules-0-position": "0", "rules-0-is_enabled": "on",
        "rules-0-filters": json.dumps([{"type": "weekdays", "days": [6, 7]}]),
        "rules-0-actions": json.dumps([{"type": "discount", "mode": "percent", "value": "10"}]),
    }
    data.update(extra)
    return data


def test_marketer_creates_an_offer_with_a_rule_and_it_is_audited(browser, django_capture_on_commit_callbacks):
    version = version_current()
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post("/admin/offers/offer/add/", _offer_form())
    assert response.status_code == 302, response.content[:2000]
    offer = Offer.objects.get(name="Weekend dairy")
    assert offer.state == "draft" and offer.rules.get().filters == [{"type": "weekdays", "days": [6, 7]}]
    assert AuditEvent.objects.filter(action="admin.create", object_type="offers.offer").exists()
    assert AuditEvent.objects.filter(action="rule.create", object_type="offers.rule").exists()
    assert version_current() != version  # running processes will recompile


def test_a_bad_rule_shows_the_field_and_saves_nothing(browser):
    form = _offer_form(**{"rules-0-filters": json.dumps([{"type": "weekdays", "days": [9]}])})
    response = browser.post("/admin/offers/offer/add/", form)
    assert response.status_code == 200
    assert b"filters.0.days.0: must be at most 7" in response.content
    assert not Offer.objects.exists()


def test_activate_pause_and_copy_actions(browser):
    offer = OfferFactory(state="draft")
    rule = RuleFactory(offer=offer, name="base")
    empty = OfferFactory(state="draft", name="no rules")
    browser.post("/admin/offers/offer/", {"action": "activate", "_selected_action": [offer.pk, empty.pk]})
    assert Offer.objects.get(pk=offer.pk).state == "active"
    assert Offer.objects.get(pk=empty.pk).state == "draft"  # refused with a message, not a 500
    browser.post("/admin/offers/rule/", {"action": "copy", "_selected_action": [rule.pk]})
    assert Rule.objects.filter(offer=offer, name="base_Copy").exists()


def test_dry_run_page_shows_lines_and_trace(browser):
    store = StoreFactory(timezone="Asia/Novosibirsk")
    group = ProductGroupFactory(code="dairy")
    group.products.add(ProductFactory(sku="MILK", price=Decimal("79.90")))
    ProductFactory(sku="BREAD", price=Decimal("49.90"))
    offer = OfferFactory(state="draft", name="Morning dairy")
    RuleFactory(offer=offer, name="morning", filters=[{"type": "hours", "from": "08:00", "to": "11:00"},
                                                      {"type": "product_group", "groups": ["dairy"]}])
    page = browser.get(f"/admin/offers/offer/{offer.pk}/dry-run/")
    assert page.status_code == 200 and b"dry-run-form" in page.content
    # 09:30 in Novosibirsk: within the morning hours.
    response = browser.post(f"/admin/offers/offer/{offer.pk}/dry-run/", {
        "store": store.pk, "purchased_at": "2024-05-10 09:30", "event": "purchase", "lines": "MILK 2\nBREAD 1",
        "with_running": "on"})
    html = response.content.decode()
    assert response.status_code == 200 and 'id="dry-run-trace"' in html
    assert '<td class="discount">15.98</td>' in html
    late = browser.post(f"/admin/offers/offer/{offer.pk}/dry-run/", {
        "store": store.pk, "purchased_at": "2024-05-10 12:30", "event": "purchase", "lines": "MILK 2"})
    assert "store time 12:30 is outside 08:00–11:00" in late.content.decode()
    bad = browser.post(f"/admin/offers/offer/{offer.pk}/dry-run/", {"event": "purchase", "lines": "NOPRICE 1"})
    assert "lines.0.price" in bad.content.decode()


def test_reference_page_lists_every_type(browser):
    html = browser.get("/admin/offers/offer/reference/").content.decode()
    for kind in ("group_items", "purchased_group", "price_for_set", "personal_products", "bonus_cap"):
        assert kind in html


def test_coupon_issue_admin_validates_and_generates(browser, django_capture_on_commit_callbacks):
    base = {"kind": "distribution", "title": "Spring", "code_prefix": "SP", "code_length": "3", "alphabet": "safe",
            "check_digit": "none", "max_uses": "1", "timezone": "UTC", "activation_delay_days": "0",
            "activation_round": "none", "expiry_round": "none", "short_description": "", "long_description": "",
            "public_code": ""}
    refused = browser.post("/admin/offers/couponissue/add/", base)
    assert refused.status_code == 200 and b"4 to 40 characters" in refused.content
    created = browser.post("/admin/offers/couponissue/add/", {**base, "code_length": "10"})
    assert created.status_code == 302
    issue = CouponIssue.objects.get(title="Spring")
    assert AuditEvent.objects.filter(action="coupon_issue.create", object_id=str(issue.pk)).exists()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = browser.post(f"/admin/offers/couponissue/{issue.pk}/generate/", {"count": "50"})
    assert response.status_code == 302 and len(callbacks) == 1
    issue.refresh_from_db()
    assert issue.generation == "queued" and issue.requested_count == 50
    listing = browser.get("/admin/offers/couponissue/").content.decode()
    assert "<progress" in listing


def test_call_center_agent_sees_offers_but_cannot_change_them(agent):
    client = Client()
    client.force_login(agent)
    offer = OfferFactory()
    assert client.get(f"/admin/offers/offer/{offer.pk}/change/").status_code == 200
    assert client.post("/admin/offers/offer/add/", _offer_form()).status_code == 403
