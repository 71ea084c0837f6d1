"""Ledger in the admin: read-only accounts and entries, and the adjustment form (identifier, amount,
reason) that goes through the service, is audited, and books once per submitted form."""
from __future__ import annotations

from decimal import Decimal

import pytest

from core.models import AuditEvent
from crm.models import LedgerEntry, Notifier
from tests.factories.ledger import funded_account

pytestmark = pytest.mark.django_db
D = Decimal
ADJUST_URL = "/admin/crm/ledgerentry/adjust/"


@pytest.fixture
def member():
    account = funded_account("10")
    Notifier.objects.create(customer=account.customer, kind="email", value="ivan@example.com", verified=True)
    return account


def _form(**values) -> dict:
    return {"identifier_type": "email", "identifier": "Ivan@Example.com", "amount": "5.00", "reason": "goodwill",
            "currency": "", "idempotency_key": "form-1", **values}


def test_agent_adjusts_by_email_through_the_service_and_it_is_audited(client, agent, member):
    client.force_login(agent)
    page = client.get(ADJUST_URL)
    assert page.status_code == 200 and b'name="idempotency_key"' in page.content
    response = client.post(ADJUST_URL, _form())
    assert response.status_code == 302 and response["Location"] == f"/admin/crm/account/{member.pk}/change/"
    member.refresh_from_db()
    assert member.activated_balance == D("15.00")
    entry = LedgerEntry.objects.get(kind="adjustment")
    assert (entry.description, entry.actor_kind, entry.actor_id) == ("goodwill", "operator", str(agent.pk))
    event = AuditEvent.objects.get(action="ledger.adjust")
    assert (event.actor_label, event.comment, event.object_id) == (agent.username, "goodwill", str(entry.pk))
    # the same form submitted again books nothing
    again = client.post(ADJUST_URL, _form(), follow=True)
    assert LedgerEntry.objects.filter(kind="adjustment").count() == 1
    assert b"already submitted" in again.content


def test_refused_adjustment_shows_the_reason_on_the_form(client, agent, member):
    client.force_login(agent)
    response = client.post(ADJUST_URL, _form(amount="-10.01", idempotency_key="form-2"))
    assert response.status_code == 200
    assert b"Not enough points: 10.00 available" in response.content
    unknown = client.post(ADJUST_URL, _form(identifier="nobody@example.com", idempotency_key="form-3"))
    assert b"no customer with email" in unknown.content
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()


def test_adjust_from_the_account_page(client, agent, member):
    client.force_login(agent)
    page = client.get(f"/admin/crm/account/{member.pk}/change/")
    assert page.status_code == 200
    link = f"{ADJUST_URL}?identifier_type=account&amp;identifier={member.pk}".encode()
    assert link in page.content and b"10.00" in page.content
    prefilled = client.get(f"{ADJUST_URL}?identifier_type=account&identifier={member.pk}")
    assert f'value="{member.pk}"'.encode() in prefilled.content
    client.post(ADJUST_URL, _form(identifier_type="account", identifier=str(member.pk), amount="-3", reason="typo"))
    member.refresh_from_db()
    assert member.activated_balance == D("7.00")


def test_marketer_sees_the_ledger_but_may_not_adjust(client, marketer, member):
    client.force_login(marketer)
    assert client.get(ADJUST_URL).status_code == 403
    assert client.post(ADJUST_URL, _form()).status_code == 403
    listing = client.get("/admin/crm/ledgerentry/")
    assert listing.status_code == 200 and b"Adjust points" not in listing.content
    assert client.get(f"/admin/crm/account/{member.pk}/change/").status_code == 200
    member.refresh_from_db()
    assert member.activated_balance == D("10.00")


def test_entries_are_read_only_in_the_admin(client, admin_operator, member):
    client.force_login(admin_operator)
    entry = LedgerEntry.objects.get(account=member)
    assert client.get("/admin/crm/ledgerentry/add/").status_code == 403
    assert client.post(f"/admin/crm/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    listing = client.get("/admin/crm/ledgerentry/")
    assert b"Adjust points" in listing.content
    for url in ("/admin/crm/lot/", "/admin/crm/hold/", "/admin/crm/account/", "/admin/crm/currency/"):
        assert client.get(url).status_code == 200, url
