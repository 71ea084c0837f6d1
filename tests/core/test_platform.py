"""Schema, docs, health, roles, the audit trail and demo data."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from core.actors import Actor
from core.models import AuditEvent
from core.services import audit_record, snapshot
from tests.factories.catalogue import StoreFactory

pytestmark = pytest.mark.django_db


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    body = schema.json()
    assert body["info"]["title"] == "Loyalty platform API"
    assert {"tillAuth", "customerAuth"} <= set(body["components"]["securitySchemes"])
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_unknown_api_path_answers_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_health_reports_database_and_redis(client):
    response = client.get("/health", HTTP_ACCEPT="application/json")
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["redis"]["ok"] is True
    # No worker runs in this test: the page must say so rather than pretend.
    assert checks["workers"]["ok"] is False
    assert response.status_code == 503


def test_roles_have_the_permissions_their_apps_declare():
    from core.roles import sync_roles

    sync_roles()
    marketer = Group.objects.get(name="marketer")
    agent = Group.objects.get(name="call_center")
    assert marketer.permissions.filter(codename="change_product").exists()
    assert not agent.permissions.filter(codename="change_product").exists()
    assert agent.permissions.filter(codename="view_product").exists()
    assert Group.objects.get(name="administrator").permissions.count() > marketer.permissions.count()


def test_create_operator_command_assigns_role_and_audits():
    call_command("create_operator", "anna", role="call_center", password="s3cret-pass")
    from django.contrib.auth import get_user_model

    anna = get_user_model().objects.get(username="anna")
    assert anna.is_staff and not anna.is_superuser
    assert list(anna.groups.values_list("name", flat=True)) == ["call_center"]
    assert anna.check_password("s3cret-pass")
    assert AuditEvent.objects.filter(action="operator.create", object_id=str(anna.pk)).exists()


def test_audit_records_only_what_changed():
    store = StoreFactory(name="Old name")
    before = snapshot(store)
    store.name = "New name"
    store.save()
    event = audit_record(actor=Actor.system("test"), action="store.rename", target=store, before=before, after=snapshot(store))
    event.refresh_from_db()
    assert event.object_type == "catalogue.store"
    assert event.object_id == str(store.pk)
    assert event.before == {"name": "Old name"}
    assert event.after == {"name": "New name"}


def test_demo_data_is_idempotent():
    call_command("load_demo")
    counts = {model: model.objects.count() for model in _demo_models()}
    call_command("load_demo")
    assert {model: model.objects.count() for model in _demo_models()} == counts
    assert all(count > 0 for count in counts.values())


def _demo_models():
    from django.contrib.auth import get_user_model

    from catalogue.models import Product, Store, Till

    return [get_user_model(), Store, Till, Product]
