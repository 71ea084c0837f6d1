"""Admin pages for marketers and the call center: designer pages render, saves are audited and
keep the questionnaire's attributes in step, counters are recalculated when their definition changes."""
from __future__ import annotations

import pytest
from django.test import Client

from attributes.models import Attribute, Counter, Question
from core.models import AuditEvent
from tests.factories.attributes import CounterFactory, family_questionnaire
from tests.factories.crm import CustomerFactory

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_marketer_sees_and_may_change_every_designer_page(marketer):
    questionnaire = family_questionnaire()
    children = questionnaire.groups.get(code="children")
    counter = CounterFactory()
    client = logged_in(marketer)
    for url in ("/admin/attributes/attribute/", "/admin/attributes/attribute/add/", "/admin/attributes/questionnaire/",
                f"/admin/attributes/questionnaire/{questionnaire.pk}/change/", f"/admin/attributes/questiongroup/{children.pk}/change/",
                "/admin/attributes/question/add/", "/admin/attributes/counter/", f"/admin/attributes/counter/{counter.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(f"/admin/attributes/questionnaire/{questionnaire.pk}/change/").content.decode()
    assert "Validation rules" in page and "birth_date" in page


def test_call_center_may_look_but_not_design(agent):
    questionnaire = family_questionnaire()
    client = logged_in(agent)
    assert client.get("/admin/attributes/attribute/").status_code == 200
    page = client.get(f"/admin/attributes/questionnaire/{questionnaire.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content  # read-only view
    assert client.get("/admin/attributes/question/add/").status_code == 403
    assert client.get("/admin/attributes/counter/add/").status_code == 403


def test_adding_a_question_creates_its_attribute_and_is_audited(marketer):
    questionnaire = family_questionnaire()
    client = logged_in(marketer)
    response = client.post("/admin/attributes/question/add/", {
        "questionnaire": questionnaire.pk, "group": "", "position": 20, "code": "pet_name", "label": "Pet's name",
        "help_text": "", "type": "text", "required": "", "editable_by_customer": "on", "options": "[]",
        "pattern": "", "pattern_message": "", "decimal_places": 0,
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    question = Question.objects.get(code="pet_name")
    assert question.attribute.kind == "questionnaire" and question.attribute.value_type == "string"
    assert AuditEvent.objects.filter(action="admin.create", object_type="attributes.question").exists()
    # a code already used by a generic attribute is refused with a clear message
    Attribute.objects.create(code="shoe_size", name="Shoe size", kind="generic", value_type="integer")
    clash = client.post("/admin/attributes/question/add/", {
        "questionnaire": questionnaire.pk, "group": "", "position": 21, "code": "shoe_size", "label": "Shoe size",
        "help_text": "", "type": "number", "options": "[]", "pattern": "", "pattern_message": "", "decimal_places": 0,
        "editable_by_customer": "on"})
    assert clash.status_code == 200 and "already has the code" in clash.content.decode()


def test_changing_a_counter_definition_queues_a_recalculation(marketer, django_capture_on_commit_callbacks):
    counter = CounterFactory(code="spend", name="Spend", period="all_time")
    CustomerFactory()
    client = logged_in(marketer)
    form = {"code": "spend", "name": "Spend", "aggregate": "sum", "period": "rolling", "period_days": 30,
            "product_group": "", "store": "", "timezone": "UTC", "keep_periods": 24, "is_active": "on"}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/admin/attributes/counter/{counter.pk}/change/", form)
    assert response.status_code == 302
    counter.refresh_from_db()
    assert counter.period == "rolling" and counter.window_start is not None
    assert counter.recalc_pending == 1 and len(callbacks) == 1
    assert AuditEvent.objects.filter(action="counter.recalculate", object_id=str(counter.pk)).exists()
    bad = client.post(f"/admin/attributes/counter/{counter.pk}/change/", {**form, "period_days": ""})
    assert bad.status_code == 200 and "needs its number of days" in bad.content.decode()
    assert Counter.objects.get(pk=counter.pk).period_days == 30
