"""Periodic ledger work: activation and expiry on time, set-based and chunked, expired holds released,
"expiring soon" events once per lot; the beat schedule and a real worker running the expiry."""
from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from core.models import AuditEvent, DomainEvent
from crm.models import Hold, LedgerEntry, Lot, ProgramSettings
from crm.services.ledger import ledger_hold, ledger_redeem
from crm.services.ledger_periodic import (
    EXPIRING_SOON_EVENT,
    ledger_activate_due,
    ledger_expire_due,
    ledger_notify_expiring,
    ledger_release_expired_holds,
)
from tests.crm.ledger_checks import assert_ledger_consistent
from tests.factories.crm import AccountFactory
from tests.factories.ledger import TEST_ACTOR, accrue, funded_account

D = Decimal


def _balances(account) -> tuple[Decimal, Decimal, Decimal]:
    account.refresh_from_db()
    return account.activated_balance, account.pending_balance, account.held_balance


@pytest.mark.django_db
def test_pending_lots_activate_when_due_not_before():
    account = AccountFactory()
    now = timezone.now()
    entry = accrue(account, "20", activate_at=now + dt.timedelta(days=14), expire_at=now + dt.timedelta(days=60))
    assert ledger_activate_due(now=now + dt.timedelta(days=13, hours=23)).rows == 0
    assert _balances(account) == (D("0"), D("20.00"), D("0"))
    run = ledger_activate_due(now=now + dt.timedelta(days=14))
    assert (run.rows, run.points) == (1, D("20.00"))
    assert _balances(account) == (D("20.00"), D("0.00"), D("0"))
    activation = LedgerEntry.objects.get(kind="activation")
    assert (activation.lot_id, activation.amount, activation.activated_delta, activation.pending_delta) == (
        entry.lot_id, D("0"), D("20.00"), D("-20.00"))
    assert Lot.objects.get(pk=entry.lot_id).state == Lot.State.ACTIVE
    assert ledger_activate_due(now=now + dt.timedelta(days=15)).rows == 0  # again: nothing twice
    assert AuditEvent.objects.filter(action="ledger.activate_due").count() == 1
    assert_ledger_consistent()


@pytest.mark.django_db
def test_lots_expire_when_due_one_entry_each_and_only_once():
    now = timezone.now()
    first, second = AccountFactory(), AccountFactory()
    accrue(first, "10", expire_at=now + dt.timedelta(days=1))
    partly = accrue(first, "10", expire_at=now + dt.timedelta(days=2))
    accrue(first, "10")  # never expires
    accrue(second, "7", expire_at=now + dt.timedelta(days=1))
    accrue(second, "3", activate_at=now + dt.timedelta(hours=1), expire_at=now + dt.timedelta(days=1))  # pending
    ledger_redeem(account=first, amount=D("15"), source="t", idempotency_key="r", actor=TEST_ACTOR)
    assert Lot.objects.get(pk=partly.lot_id).remaining == D("5.00")
    # not yet
    assert ledger_expire_due(now=now + dt.timedelta(hours=23)).rows == 0
    # when day 2 has passed
    run = ledger_expire_due(now=now + dt.timedelta(days=2), chunk=2)
    # then: first keeps its never-expiring 10, second keeps nothing (its pending lot expired as pending)
    assert (run.rows, run.points, run.chunks) == (3, D("15.00"), 2)  # the exhausted lot needs no expiry
    assert _balances(first) == (D("10.00"), D("0"), D("0"))
    assert _balances(second) == (D("0.00"), D("0.00"), D("0"))
    expiries = LedgerEntry.objects.filter(kind="expiry")
    assert sorted(e.amount for e in expiries) == [D("-7.00"), D("-5.00"), D("-3.00")]
    assert {e.idempotency_key for e in expiries} == {f"expiry:{e.lot_id}" for e in expiries}
    assert ledger_expire_due(now=now + dt.timedelta(days=3)).rows == 0
    assert_ledger_consistent()


@pytest.mark.django_db
def test_expiry_waits_while_a_hold_needs_the_points():
    now = timezone.now()
    account = funded_account("10", expire_at=now + dt.timedelta(days=1))
    hold = ledger_hold(account=account, amount=D("8"), source="till", idempotency_key="calc", ttl=dt.timedelta(minutes=5),
                       actor=TEST_ACTOR)
    run = ledger_expire_due(now=now + dt.timedelta(days=1))
    assert run.rows == 0 and run.postponed_accounts == {account.pk}
    assert _balances(account) == (D("10.00"), D("0"), D("8.00"))
    from crm.services.ledger import ledger_hold_confirm

    ledger_hold_confirm(hold=hold, amount=D("6"), actor=TEST_ACTOR)
    run = ledger_expire_due(now=now + dt.timedelta(days=1))
    assert (run.rows, run.points) == (1, D("4.00"))
    assert _balances(account) == (D("0.00"), D("0"), D("0.00"))
    assert_ledger_consistent()


@pytest.mark.django_db
def test_open_holds_past_their_time_are_released():
    account = funded_account("50")
    old = ledger_hold(account=account, amount=D("20"), source="till", idempotency_key="a", ttl=dt.timedelta(minutes=5),
                      actor=TEST_ACTOR)
    fresh = ledger_hold(account=account, amount=D("10"), source="till", idempotency_key="b", ttl=dt.timedelta(hours=1),
                        actor=TEST_ACTOR)
    run = ledger_release_expired_holds(now=timezone.now() + dt.timedelta(minutes=6))
    assert (run.rows, run.points) == (1, D("20.00"))
    assert Hold.objects.get(pk=old.pk).state == Hold.State.RELEASED
    assert Hold.objects.get(pk=fresh.pk).state == Hold.State.OPEN
    assert _balances(account) == (D("50.00"), D("0"), D("10.00"))
    release = LedgerEntry.objects.get(kind="release")
    assert (release.hold_id, release.held_delta, release.idempotency_key) == (old.pk, D("-20.00"), f"{old.pk}:release")
    assert ledger_release_expired_holds(now=timezone.now() + dt.timedelta(minutes=6)).rows == 0
    assert_ledger_consistent()


@pytest.mark.django_db
def test_expiring_soon_events_n_days_before_once_per_lot():
    settings_row = ProgramSettings.load()
    settings_row.expiring_soon_days = 5
    settings_row.save()
    now = timezone.now()
    account = AccountFactory()
    soon = accrue(account, "10", expire_at=now + dt.timedelta(days=4))
    accrue(account, "10", expire_at=now + dt.timedelta(days=6))  # outside the window
    accrue(account, "10")  # never expires
    accrue(account, "10", activate_at=now + dt.timedelta(days=1), expire_at=now + dt.timedelta(days=3))  # pending
    assert ledger_notify_expiring(now=now) == 1
    event = DomainEvent.objects.get(kind=EXPIRING_SOON_EVENT)
    assert event.customer_id == account.customer_id
    assert event.payload["lot_id"] == soon.lot_id and event.payload["points"] == "10.00"
    assert event.dedup_key == f"{EXPIRING_SOON_EVENT}:{soon.lot_id}"
    assert ledger_notify_expiring(now=now) == 0  # once per lot
    # day 2: the 6-day lot enters the window, and the pending lot, once activated, is in it too
    ledger_activate_due(now=now + dt.timedelta(days=2))
    assert ledger_notify_expiring(now=now + dt.timedelta(days=2)) == 2
    assert DomainEvent.objects.filter(kind=EXPIRING_SOON_EVENT).count() == 3


@pytest.mark.django_db
def test_expiring_soon_is_paged():
    now = timezone.now()
    account = AccountFactory()
    for _ in range(5):
        accrue(account, "1", expire_at=now + dt.timedelta(days=1))
    assert ledger_notify_expiring(now=now, days=2, chunk=2) == 5
    assert DomainEvent.objects.filter(kind=EXPIRING_SOON_EVENT).count() == 5


def test_periodic_tasks_are_scheduled_and_routed_to_the_periodic_queue():
    from loymax.celery import app

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name in ("crm.tasks.periodic_activate_lots", "crm.tasks.periodic_expire_lots",
                 "crm.tasks.periodic_notify_expiring", "crm.tasks.periodic_release_holds"):
        assert name in scheduled and name in app.tasks
        assert app.amqp.router.route({}, name)["queue"].name == "periodic"


@pytest.mark.celery_worker
def test_real_worker_expires_due_lots(celery_worker_real):
    from loymax.celery import app

    # given a lot that expires in a second (the service refuses an expiry in the past)
    account = funded_account("12", expire_at=timezone.now() + dt.timedelta(seconds=1))
    time.sleep(1.1)
    # when beat's task runs in a real worker
    result = app.send_task("crm.tasks.periodic_expire_lots")
    assert "expired 1 lots, 12.00 points" in result.get(timeout=30)
    # then the worker's transaction committed the expiry
    assert _balances(account)[0] == D("0.00")
    assert LedgerEntry.objects.filter(kind="expiry", account=account).count() == 1
    assert_ledger_consistent()
