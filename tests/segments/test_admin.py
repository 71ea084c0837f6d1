"""Admin pages: the builder form (errors by path), refresh and upload buttons, the RFM matrix; roles."""
from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core.actors import Actor
from core.models import AuditEvent, ImportJob
from segments import services
from segments.models import Segment
from tests.factories.crm import CustomerFactory, NotifierFactory, PurchaseFactory
from tests.factories.segments import SegmentFactory, StaticSegmentFactory

pytestmark = pytest.mark.django_db
PHONE = {"kind": "notifier", "channel": "phone", "verified": True}


@pytest.fixture
def browser(marketer) -> Client:
    client = Client()
    client.force_login(marketer)
    return client


def form(name: str, definition, kind: str = "dynamic") -> dict:
    return {"name": name, "description": "", "kind": kind, "definition": json.dumps(definition), "auto_refresh": "on",
            "is_active": "on"}


def test_add_page_has_the_builder_and_saves_through_the_service(browser):
    page = browser.get("/admin/segments/segment/add/")
    assert page.status_code == 200
    assert b'class="seg-editor"' in page.content and b"segments/builder.js" in page.content
    response = browser.post("/admin/segments/segment/add/", form("Phones", PHONE))
    assert response.status_code == 302, response.content[:2000]
    segment = Segment.objects.get(name="Phones")
    assert segment.definition == PHONE
    assert AuditEvent.objects.filter(action="segment.create", object_id=str(segment.pk)).exists()


def test_definition_errors_are_shown_with_their_path(browser):
    bad = {"op": "or", "children": [PHONE, {"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "x"}]}
    response = browser.post("/admin/segments/segment/add/", form("Bad", bad))
    assert response.status_code == 200
    assert "definition.children.1.value: &#x27;x&#x27; is not a number." in response.content.decode()
    assert not Segment.objects.exists()


def test_change_page_refresh_button_and_history(browser):
    NotifierFactory(verified=True)
    segment = SegmentFactory(definition=PHONE)
    page = browser.get(f"/admin/segments/segment/{segment.pk}/change/").content.decode()
    assert 'id="seg-refresh-form"' in page and "Refresh now" in page and "Export CSV" in page
    response = browser.post(f"/admin/segments/segment/{segment.pk}/refresh/", follow=True)
    assert "1 members (+1 joined, -0 left)" in response.content.decode()
    assert "<table class=\"seg-history\">" in browser.get(f"/admin/segments/segment/{segment.pk}/change/").content.decode()
    changed = browser.post(f"/admin/segments/segment/{segment.pk}/change/",
                           {**form(segment.name, {"kind": "notifier", "channel": "email"}), "kind": ""})
    assert changed.status_code == 302
    segment.refresh_from_db()
    assert segment.definition == {"kind": "notifier", "channel": "email"}
    assert AuditEvent.objects.filter(action="segment.update", object_id=str(segment.pk)).exists()


def test_upload_page_creates_an_import_job(browser):
    segment = StaticSegmentFactory()
    page = browser.get(f"/admin/segments/segment/{segment.pk}/change/").content.decode()
    assert "Upload members" in page
    upload = SimpleUploadedFile("m.csv", b"identifier_type;identifier\nexternal_uid;x\n")
    response = browser.post(f"/admin/segments/segment/{segment.pk}/upload/", {"file": upload, "replace": "on"})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/admin/core/importjob/{job.pk}/change/")
    assert job.options == {"segment_id": segment.pk, "replace": True}


def test_rfm_matrix_page_draws_the_chart(browser):
    for _ in range(3):
        PurchaseFactory(customer=CustomerFactory())
    services.rfm_recompute(actor=Actor.system("t"))
    page = browser.get("/admin/segments/rfmsettings/").content.decode()
    assert '<svg class="rfm-grid"' in page and 'data-cell="champions"' in page
    assert "3 customers scored over the last 365 days" in page
    assert browser.get("/admin/segments/rfmsettings/1/change/").status_code == 200
    response = browser.post("/admin/segments/rfmsettings/recompute/", {"now": "1"}, follow=True)
    assert "RFM recomputed: 3 customers scored." in response.content.decode()


def test_call_center_views_but_cannot_add(agent):
    client = Client()
    client.force_login(agent)
    segment = SegmentFactory()
    assert client.get(f"/admin/segments/segment/{segment.pk}/change/").status_code == 200
    assert client.get("/admin/segments/segment/add/").status_code == 403
    assert client.post(f"/admin/segments/segment/{segment.pk}/refresh/").status_code == 403
    assert client.get("/admin/segments/rfmsettings/").status_code == 200
