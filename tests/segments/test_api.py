"""The operator API: CRUD, preview with errors by path, refresh, members on a date, export, history,
static uploads, a customer's segments, RFM; roles; the schema documents it all."""
from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from core.actors import Actor
from core.imports import import_job_run
from core.models import AuditEvent
from crm.models import Notifier
from segments import services
from segments.models import Membership, Segment
from tests.factories.crm import CustomerFactory, NotifierFactory, PurchaseFactory
from tests.factories.segments import SegmentFactory, StaticSegmentFactory

pytestmark = pytest.mark.django_db
PHONE = {"kind": "notifier", "channel": "phone", "verified": True}


@pytest.fixture
def marketer_client(marketer) -> APIClient:
    client = APIClient()
    client.force_authenticate(marketer)
    return client


@pytest.fixture
def agent_client(agent) -> APIClient:
    client = APIClient()
    client.force_authenticate(agent)
    return client


def test_create_read_update_delete(marketer_client):
    created = marketer_client.post("/api/v1/segments", {"name": "Phones", "definition": PHONE})
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["kind"] == "dynamic" and created.json()["member_count"] is None
    assert marketer_client.get(f"/api/v1/segments/{pk}").json()["definition"] == PHONE
    assert marketer_client.get("/api/v1/segments").json()["count"] == 1
    changed = marketer_client.patch(f"/api/v1/segments/{pk}", {"auto_refresh": False, "description": "sms"})
    assert changed.status_code == 200 and changed.json()["auto_refresh"] is False
    assert marketer_client.delete(f"/api/v1/segments/{pk}").status_code == 204
    assert not Segment.objects.filter(pk=pk).exists()
    assert set(AuditEvent.objects.filter(object_id=str(pk)).values_list("action", flat=True)) == {
        "segment.create", "segment.update", "segment.delete"}


def test_validation_errors_name_the_path(marketer_client):
    response = marketer_client.post("/api/v1/segments", {"name": "Bad", "definition": {"op": "and", "children": [
        PHONE, {"kind": "profile", "field": "gender", "op": "eq", "value": "female"},
        {"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "a lot"}]}})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "definition_invalid"
    assert body["errors"] == {"definition.children.2.value": ["'a lot' is not a number."]}
    assert "definition.children.2.value" in body["message"]
    assert not Segment.objects.exists()
    unknown = marketer_client.post("/api/v1/segments", {"name": "X", "definiton": PHONE})
    assert unknown.status_code == 400 and "definiton" in unknown.json()["errors"]


def test_preview_of_an_unsaved_definition(marketer_client):
    for n in range(3):
        NotifierFactory(customer=CustomerFactory(first_name=f"P{n}"), verified=True)
    CustomerFactory()
    response = marketer_client.post("/api/v1/segments/preview", {"definition": PHONE, "limit": 2})
    assert response.status_code == 200, response.json()
    assert response.json()["count"] == 3 and len(response.json()["members"]) == 2
    assert set(response.json()["members"][0]) == {"id", "external_uid", "first_name", "last_name", "state", "phone",
                                                  "email"}
    bad = marketer_client.post("/api/v1/segments/preview", {"definition": {"op": "or", "children": [
        PHONE, {"kind": "rfm", "cells": ["heroes"]}]}})
    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["definition.children.1.cells"]


def test_refresh_now_members_on_a_date_history_and_customer_segments(marketer_client):
    a, b = NotifierFactory(verified=True).customer, NotifierFactory(verified=True).customer
    segment = SegmentFactory(definition=PHONE)
    first = marketer_client.post(f"/api/v1/segments/{segment.pk}/refresh", {"wait": True})
    assert first.status_code == 200 and first.json()["joined"] == 2
    Notifier.objects.filter(customer=b).update(verified=False)
    second = marketer_client.post(f"/api/v1/segments/{segment.pk}/refresh", {"wait": True}).json()
    assert (second["joined"], second["left"], second["members"]) == (0, 1, 1)

    now = marketer_client.get(f"/api/v1/segments/{segment.pk}/members").json()
    assert now == {"count": 1, "on": None, "ids": [a.pk], "next_after": None}
    then = marketer_client.get(f"/api/v1/segments/{segment.pk}/members", {"on": first.json()["at"], "limit": 1}).json()
    assert then["count"] == 2 and then["ids"] == [min(a.pk, b.pk)] and then["next_after"] == min(a.pk, b.pk)

    history = marketer_client.get(f"/api/v1/segments/{segment.pk}/refreshes").json()["results"]
    assert [(h["joined"], h["left"]) for h in history] == [(0, 1), (2, 0)]
    detail = marketer_client.get(f"/api/v1/segments/{segment.pk}/refreshes/{history[0]['id']}").json()
    assert detail["left_ids"] == [b.pk] and detail["joined_ids"] == []

    assert marketer_client.get(f"/api/v1/customers/{a.pk}/segments").json() == {"customer_id": a.pk,
                                                                               "segment_ids": [segment.pk]}


def test_refresh_is_queued_after_commit(marketer_client, django_capture_on_commit_callbacks, monkeypatch):
    from segments import tasks

    sent = []
    monkeypatch.setattr(tasks.segment_refresh, "delay", lambda *args: sent.append(args))
    segment = SegmentFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer_client.post(f"/api/v1/segments/{segment.pk}/refresh", {})
    assert response.status_code == 202 and sent == [(segment.pk, "marketer-user")]


def test_export_is_streamed_csv(marketer_client):
    people = [NotifierFactory(verified=True).customer for _ in range(3)]
    segment = SegmentFactory(definition=PHONE)
    services.segment_refresh(segment_id=segment.pk, actor=Actor.system("t"))
    response = marketer_client.get(f"/api/v1/segments/{segment.pk}/export")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "id" and [int(r[0]) for r in rows[1:]] == sorted(p.pk for p in people)


def test_static_upload_add_and_remove(marketer_client, django_capture_on_commit_callbacks):
    kept = CustomerFactory(external_uid="e-1")
    segment = StaticSegmentFactory()
    upload = SimpleUploadedFile("m.csv", b"identifier_type;identifier\nexternal_uid;e-1\nexternal_uid;nobody\n")
    with django_capture_on_commit_callbacks(execute=False):
        response = marketer_client.post(f"/api/v1/segments/{segment.pk}/members/upload", {"file": upload},
                                        format="multipart")
    assert response.status_code == 202, response.json()
    job = import_job_run(job_id=response.json()["id"])
    assert (job.rows_ok, job.rows_failed) == (1, 1)
    assert list(Membership.objects.filter(segment=segment).values_list("customer_id", flat=True)) == [kept.pk]
    other = CustomerFactory()
    added = marketer_client.post(f"/api/v1/segments/{segment.pk}/members/add", {"customer_ids": [other.pk]})
    assert added.json()["members"] == 2
    removed = marketer_client.post(f"/api/v1/segments/{segment.pk}/members/remove", {"customer_ids": [kept.pk]})
    assert removed.json()["members"] == 1
    dynamic = SegmentFactory()
    refused = marketer_client.post(f"/api/v1/segments/{dynamic.pk}/members/upload",
                                   {"file": SimpleUploadedFile("m.csv", b"identifier_type;identifier\n")},
                                   format="multipart")
    assert refused.status_code == 400 and refused.json()["code"] == "segment_dynamic"


def test_call_center_sees_but_does_not_change(agent_client):
    segment = SegmentFactory()
    assert agent_client.get(f"/api/v1/segments/{segment.pk}").status_code == 200
    assert agent_client.post("/api/v1/segments/preview", {"definition": PHONE}).status_code == 200
    assert agent_client.get("/api/v1/segments/rfm").status_code == 200
    assert agent_client.post("/api/v1/segments", {"name": "N", "definition": PHONE}).status_code == 403
    assert agent_client.patch(f"/api/v1/segments/{segment.pk}", {"name": "N"}).status_code == 403
    assert agent_client.post(f"/api/v1/segments/{segment.pk}/refresh", {"wait": True}).status_code == 403
    assert agent_client.patch("/api/v1/segments/rfm/settings", {"window_days": 90}).status_code == 403
    assert APIClient().get("/api/v1/segments").status_code == 401


def test_rfm_matrix_settings_and_recompute(marketer_client, monkeypatch, django_capture_on_commit_callbacks):
    from segments import tasks

    customer = CustomerFactory()
    PurchaseFactory(customer=customer)
    services.rfm_recompute(actor=Actor.system("t"))
    matrix = marketer_client.get("/api/v1/segments/rfm").json()
    assert matrix["total"] == 1 and len(matrix["cells"]) == 11 and len(matrix["grid"]) == 5
    changed = marketer_client.patch("/api/v1/segments/rfm/settings", {"window_days": 90})
    assert changed.status_code == 200 and changed.json()["window_days"] == 90
    bad = marketer_client.patch("/api/v1/segments/rfm/settings", {"method": "thresholds"})
    assert bad.status_code == 400 and bad.json()["code"] == "rfm_settings_invalid"
    typo = marketer_client.patch("/api/v1/segments/rfm/settings", {"windows": 3})
    assert typo.status_code == 400 and "windows" in typo.json()["errors"]
    sent = []
    monkeypatch.setattr(tasks.rfm_recompute, "delay", lambda *a: sent.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        assert marketer_client.post("/api/v1/segments/rfm/recompute").status_code == 202
    assert sent == [("marketer-user",)]


def test_condition_kinds_and_schema(marketer_client):
    kinds = {k["kind"] for k in marketer_client.get("/api/v1/segments/condition-kinds").json()}
    assert {"profile", "notifier", "card", "balance", "purchases", "rfm", "segment"} <= kinds
    schema = APIClient().get("/api/schema/").content.decode()
    for path in ("/api/v1/segments/preview", "/api/v1/segments/{id}/members", "/api/v1/segments/{id}/export",
                 "/api/v1/segments/rfm", "/api/v1/segments/{id}/members/upload", "/api/v1/customers/{customer_id}/segments"):
        assert path in schema, path


def test_missing_segment_is_404(marketer_client):
    response = marketer_client.get("/api/v1/segments/9999")
    assert response.status_code == 404 and response.json()["code"] == "segment_not_found"
