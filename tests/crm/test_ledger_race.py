"""Races with real threads, each on its own database connection: concurrent redemptions never
overspend, concurrent retries of one key book once, and a periodic run beside bookings stays exact."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from core.errors import DomainError
from crm.models import Account, Hold, LedgerEntry, Lot
from crm.services.ledger import ledger_accrue, ledger_hold, ledger_redeem
from crm.services.ledger_periodic import ledger_expire_due
from tests.conftest import run_in_threads
from tests.crm.ledger_checks import assert_ledger_consistent
from tests.factories.crm import AccountFactory
from tests.factories.ledger import TEST_ACTOR, accrue, funded_account

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal
THREADS = 8


def test_concurrent_redemptions_never_overspend():
    # given 50 points in several lots, and 8 tills each spending 10 at the same moment
    account = AccountFactory()
    for amount in ("20", "20", "10"):
        accrue(account, amount, expire_at=timezone.now() + dt.timedelta(days=30))

    def spend(i: int):
        return ledger_redeem(account=Account(pk=account.pk), amount=D("10"), source="till",
                             idempotency_key=f"cheque-{i}", actor=TEST_ACTOR)

    results = run_in_threads(spend, THREADS)
    # then exactly five succeed, three are refused with not_enough_points, nothing else happens
    booked = [r for r in results if isinstance(r, LedgerEntry)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(booked) == 5, results
    assert len(refused) == 3 and {r.code for r in refused} == {"not_enough_points"}
    account.refresh_from_db()
    assert account.activated_balance == D("0.00")
    assert set(Lot.objects.filter(account=account).values_list("state", flat=True)) == {"exhausted"}
    assert_ledger_consistent()


def test_concurrent_retries_of_one_key_book_once():
    account = AccountFactory()

    def retry(i: int):
        return ledger_accrue(account=Account(pk=account.pk), amount=D("15"), source="purchase",
                             idempotency_key="till-7:cheque-42", actor=TEST_ACTOR)

    results = run_in_threads(retry, THREADS)
    assert all(isinstance(r, LedgerEntry) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert sum(1 for r in results if getattr(r, "replayed", False)) == THREADS - 1
    assert LedgerEntry.objects.count() == 1 and Lot.objects.count() == 1
    account.refresh_from_db()
    assert account.activated_balance == D("15.00")
    assert_ledger_consistent()


def test_concurrent_redemption_retries_spend_once():
    account = funded_account("100")

    def retry(i: int):
        return ledger_redeem(account=Account(pk=account.pk), amount=D("30"), source="purchase",
                             idempotency_key="pay-1", actor=TEST_ACTOR)

    results = run_in_threads(retry, THREADS)
    assert len({r.pk for r in results if isinstance(r, LedgerEntry)}) == 1, results
    account.refresh_from_db()
    assert account.activated_balance == D("70.00")
    assert_ledger_consistent()


def test_one_key_on_two_accounts_at_once_books_one_and_refuses_the_other():
    # the check after the lock cannot see a booking on another account: the unique constraint does
    first, second = AccountFactory(), AccountFactory()

    def book(i: int):
        target = first if i % 2 == 0 else second
        return ledger_accrue(account=Account(pk=target.pk), amount=D("5"), source="purchase",
                             idempotency_key="shared-key", actor=TEST_ACTOR)

    results = run_in_threads(book, 2)
    assert LedgerEntry.objects.count() == 1
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "LedgerEntry"], results
    assert_ledger_consistent()


def test_concurrent_holds_never_reserve_more_than_there_is():
    account = funded_account("35")

    def calculate(i: int):
        return ledger_hold(account=Account(pk=account.pk), amount=D("10"), source="till", idempotency_key=f"calc-{i}",
                           ttl=dt.timedelta(minutes=5), actor=TEST_ACTOR)

    results = run_in_threads(calculate, THREADS)
    assert sum(isinstance(r, Hold) for r in results) == 3, results
    account.refresh_from_db()
    assert account.held_balance == D("30.00")
    assert_ledger_consistent()


def test_expiry_run_beside_redemptions_stays_exact():
    # given accounts whose lots expire now-ish, and tills spending from them while the run goes
    expire_at = timezone.now() + dt.timedelta(seconds=1)
    accounts = [funded_account("10", expire_at=expire_at) for _ in range(6)]
    for account in accounts:
        accrue(account, "10")  # never expires

    def work(i: int):
        if i == 0:
            return ledger_expire_due(now=expire_at, chunk=2)
        return ledger_redeem(account=Account(pk=accounts[i % 6].pk), amount=D("5"), source="till",
                             idempotency_key=f"r-{i}", actor=TEST_ACTOR)

    results = run_in_threads(work, 7)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert_ledger_consistent()
    ledger_expire_due(now=expire_at)
    for account in accounts:
        account.refresh_from_db()
    expired = -sum(e.amount for e in LedgerEntry.objects.filter(kind="expiry"))
    # 120 accrued, 30 spent, the rest of the expiring lots expired: nothing lost, nothing counted twice
    assert sum(a.activated_balance for a in accounts) == D("90.00") - expired
    assert D("30.00") <= expired <= D("60.00")
    assert not Lot.objects.filter(expire_at=expire_at, state="active").exists()
    assert_ledger_consistent()
