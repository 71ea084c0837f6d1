"""In a real browser: a marketer adds a question to the questionnaire in the admin designer, and
the customer app sees it at once."""
from __future__ import annotations

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from attributes.models import Question
from crm.models import Customer
from tests.factories.crm import customer_token_for
from tests.conftest import admin_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_marketer_adds_a_question_in_the_designer(live_server, page, settings):
    call_command("load_demo")
    admin_login(page, live_server.url, "marketer", settings.LOYALTY["DEMO_PASSWORD"])
    page.click("a:has-text('Questionnaires')")
    page.click("a:has-text('About you')")
    index = int(page.input_value("#id_questions-TOTAL_FORMS"))
    page.click("#questions-group .add-row a")
    prefix = f"#id_questions-{index}"
    page.fill(f"{prefix}-position", "5")
    page.fill(f"{prefix}-code", "height_cm")
    page.fill(f"{prefix}-label", "Your height, cm")
    page.select_option(f"{prefix}-type", "number")
    page.click(f"#questions-{index} summary:has-text('Validation rules')")  # a collapsed fieldset
    page.fill(f"{prefix}-min_value", "100")
    page.fill(f"{prefix}-max_value", "250")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist, .errornote")
    assert page.locator(".errornote").count() == 0, [e.inner_text() for e in page.locator(".errorlist").all()] + [page.locator(".errors").first.evaluate("e => e.closest('.inline-related')?.id || ''")]
    assert "was changed successfully" in page.inner_text(".messagelist")

    question = Question.objects.select_related("attribute").get(code="height_cm")
    assert question.attribute.kind == "questionnaire" and question.attribute.value_type == "decimal"
    client = APIClient()
    customer = Customer.objects.get(external_uid="demo-001")
    client.credentials(HTTP_AUTHORIZATION=f"Customer {customer_token_for(customer)}")
    height = next(q for q in client.get("/api/v1/me/questionnaire").json()["questionnaire"]["questions"] if q["code"] == "height_cm")
    assert height["rules"] == {"min_value": "100", "max_value": "250", "decimal_places": 0}
    refused = client.patch("/api/v1/me/questionnaire", {"answers": {"height_cm": "300"}}, format="json")
    assert refused.json()["errors"] == {"answers.height_cm": ["At most 250."]}
