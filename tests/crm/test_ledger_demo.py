"""The ledger's demo data: points on the demo customers' accounts, idempotent."""
from __future__ import annotations

from decimal import Decimal

import pytest

from core.models import DomainEvent
from crm import demo_ledger
from crm.models import LedgerEntry
from tests.crm.ledger_checks import assert_ledger_consistent
from tests.factories.crm import AccountFactory

pytestmark = pytest.mark.django_db


def test_demo_points_load_twice_book_once():
    accounts = [AccountFactory() for _ in range(2)]
    first = demo_ledger.load()
    count = LedgerEntry.objects.count()
    second = demo_ledger.load()
    assert first == "points on 2 accounts, 2 expiring-soon events"
    assert second == "points on 2 accounts, 0 expiring-soon events"
    assert LedgerEntry.objects.count() == count == 2 * 5
    for account in accounts:
        account.refresh_from_db()
        assert (account.activated_balance, account.pending_balance) == (Decimal("570.00"), Decimal("80.00"))
    assert DomainEvent.objects.filter(kind="crm.points_expiring_soon").count() == 2
    assert_ledger_consistent()


def test_demo_without_accounts_says_so():
    assert "no default currency" in demo_ledger.load()
