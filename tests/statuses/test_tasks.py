"""Background work: the beat starts due runs, a real worker applies the chunks; races at the till."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from django.conf import settings
from django.utils import timezone

from statuses.models import CustomerStatus, StatusChange, StatusRecalculation, StatusSystem
from statuses.services import recalculation, status_recalculations_start_due, status_upgrade_for_customer
from tests.conftest import run_in_threads
from tests.factories.crm import CustomerFactory
from tests.factories.statuses import counter_set, spend_system


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_beat_schedule_has_the_periodic_task_on_the_periodic_queue():
    from loymax.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["statuses-recalculate-due"]
    assert entry["task"] == "statuses.tasks.periodic_recalculate_due"
    assert app.amqp.router.route({}, entry["task"])["queue"].name == "periodic"


@pytest.mark.celery_worker
def test_real_worker_runs_the_scheduled_recalculation_in_chunks(celery_worker_real, monkeypatch):
    from statuses.tasks import periodic_recalculate_due

    monkeypatch.setattr(recalculation, "CHUNK", 2)
    system = spend_system(entry_level=True)
    customers = [CustomerFactory() for _ in range(5)]
    for customer, value in zip(customers, (0, 1500, 6000, 25000, 10)):
        counter_set(system.counter, customer, value)
    due = timezone.now() - dt.timedelta(minutes=5)
    StatusSystem.objects.filter(pk=system.pk).update(next_recalculation_at=due)

    [run_id] = periodic_recalculate_due.delay().get(timeout=30)

    wait_for(lambda: StatusRecalculation.objects.get(pk=run_id).state != "running")
    run = StatusRecalculation.objects.get(pk=run_id)
    assert (run.state, run.mode, run.chunks_total, run.chunks_done, run.changes) == ("done", "scheduled", 3, 3, 5)
    assert run.as_of == due
    codes = dict(CustomerStatus.objects.values_list("customer_id", "status__code"))
    assert [codes[c.pk] for c in customers] == ["basic", "silver", "gold", "platinum", "basic"]
    system.refresh_from_db()
    assert system.next_recalculation_at > timezone.now() and system.last_recalculated_at is not None
    # The schedule moved on: the beat does not start it again.
    assert periodic_recalculate_due.delay().get(timeout=30) == []


@pytest.mark.django_db
def test_due_systems_start_once_and_graces_get_their_run():
    system = spend_system(grace_days=3)
    other = spend_system(code="other")
    customer = CustomerFactory()
    counter_set(system.counter, customer, 6000)
    status_upgrade_for_customer(customer_id=customer.pk)
    now = timezone.now()
    StatusSystem.objects.filter(pk=system.pk).update(next_recalculation_at=now - dt.timedelta(hours=1))
    StatusSystem.objects.filter(pk=other.pk).update(next_recalculation_at=now + dt.timedelta(days=3))
    counter_set(system.counter, customer, 10)

    started = status_recalculations_start_due(now=now)
    assert StatusRecalculation.objects.filter(pk__in=started, system=system, mode="scheduled").count() == 1
    assert StatusRecalculation.objects.filter(system=other).count() == 0
    assert status_recalculations_start_due(now=now) == []  # moved to the next period

    run = StatusRecalculation.objects.get(pk=started[0])
    for first, last in recalculation.customer_ranges():
        recalculation.status_recalculate_chunk(run_id=run.pk, first_id=first, last_id=last)
    # Redelivered chunk: counted once, writes nothing.
    first, last = recalculation.customer_ranges()[0]
    assert recalculation.status_recalculate_chunk(run_id=run.pk, first_id=first, last_id=last) is None
    row = CustomerStatus.objects.get(customer=customer, system=system)
    assert row.status.code == "gold" and row.grace_until is not None

    later = row.grace_until + dt.timedelta(minutes=1)
    [grace_run_id] = status_recalculations_start_due(now=later)
    grace_run = StatusRecalculation.objects.get(pk=grace_run_id)
    assert grace_run.mode == "grace" and grace_run.chunks_total == 1
    for first, last in recalculation.grace_ranges(system_id=system.pk, as_of=later):
        recalculation.status_recalculate_chunk(run_id=grace_run.pk, first_id=first, last_id=last)
    row.refresh_from_db()
    assert row.status is None and row.grace_until is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("had_status", [False, True])
def test_concurrent_upgrades_of_one_customer_write_one_change(had_status):
    system = spend_system()
    customer = CustomerFactory()
    if had_status:
        counter_set(system.counter, customer, 1500)
        status_upgrade_for_customer(customer_id=customer.pk)
    counter_set(system.counter, customer, 6000)
    before = StatusChange.objects.count()

    results = run_in_threads(lambda _i: status_upgrade_for_customer(customer_id=customer.pk), 4)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(len(r) for r in results) == 1
    assert StatusChange.objects.count() == before + 1
    assert CustomerStatus.objects.get(customer=customer).status.code == "gold"
