"""Upgrades at once, downgrades only at the scheduled recalculation, grace, manual holds, history,
events, idempotent second runs, several systems."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from attributes.models import Counter
from core.models import DomainEvent
from statuses.models import CustomerStatus, StatusChange, StatusRecalculation
from statuses.services import (
    StatusSpec,
    status_assign_manual,
    status_recalculate_now,
    status_system_define,
    status_upgrade_for_customer,
)
from tests.factories.attributes import AttributeFactory, CounterFactory
from tests.factories.crm import CustomerFactory
from tests.factories.statuses import TEST_ACTOR, counter_set, spend_counter, spend_system

pytestmark = pytest.mark.django_db
SCHEDULED = StatusRecalculation.Mode.SCHEDULED


def status_of(system, customer) -> str | None:
    row = CustomerStatus.objects.filter(system=system, customer=customer).select_related("status").first()
    return row.status.code if row and row.status else None


def run(system, *, as_of=None, mode=SCHEDULED, chunk=None) -> StatusRecalculation:
    return status_recalculate_now(system_id=system.pk, mode=mode, actor=TEST_ACTOR, as_of=as_of, chunk=chunk)


def test_upgrade_at_once_with_history_and_event():
    system = spend_system()
    customer = CustomerFactory()
    counter_set(system.counter, customer, 6000)

    changes = status_upgrade_for_customer(customer_id=customer.pk)

    assert changes == [{"system": "tier", "from": None, "to": "gold", "reason": "upgrade",
                        "change_id": changes[0]["change_id"]}]
    assert status_of(system, customer) == "gold"
    change = StatusChange.objects.get(customer=customer)
    assert (change.from_status, change.to_status.code, change.reason) == (None, "gold", "upgrade")
    assert change.actor_kind == "system"
    event = DomainEvent.objects.get(kind="status.changed", customer_id=customer.pk)
    assert event.payload["to"] == "gold" and event.payload["direction"] == "up" and event.payload["system"] == "tier"
    assert event.payload["change_id"] == change.pk

    # Nothing new to qualify for: a second call writes nothing.
    assert status_upgrade_for_customer(customer_id=customer.pk) == []
    assert StatusChange.objects.count() == 1 and DomainEvent.objects.filter(kind="status.changed").count() == 1


def test_upgrade_never_downgrades_recalculation_does():
    system = spend_system()
    customer = CustomerFactory()
    counter_set(system.counter, customer, 25000)
    status_upgrade_for_customer(customer_id=customer.pk)
    assert status_of(system, customer) == "platinum"

    counter_set(system.counter, customer, 1500)
    assert status_upgrade_for_customer(customer_id=customer.pk) == []
    assert status_of(system, customer) == "platinum"

    result = run(system)
    assert (result.state, result.changes, result.rows_written) == ("done", 1, 1)
    assert status_of(system, customer) == "silver"
    down = StatusChange.objects.filter(customer=customer).first()
    assert (down.from_status.code, down.to_status.code, down.reason, down.run_id) == ("platinum", "silver",
                                                                                    "downgrade", result.pk)
    event = DomainEvent.objects.filter(kind="status.changed", customer_id=customer.pk).order_by("-id").first()
    assert event.payload["direction"] == "down" and event.payload["from"] == "platinum"


def test_recalculation_assigns_many_and_second_run_writes_nothing():
    system = spend_system(entry_level=True)
    customers = [CustomerFactory() for _ in range(7)]
    for customer, value in zip(customers, (0, 999, 1000, 4999, 5000, 19999, 20000)):
        if value:
            counter_set(system.counter, customer, value)

    first = run(system, chunk=3)
    assert first.chunks_total == 3 and first.chunks_done == 3
    assert [status_of(system, c) for c in customers] == ["basic", "basic", "silver", "silver", "gold", "gold",
                                                         "platinum"]
    assert first.changes == 7 and first.rows_written == 7
    assert StatusChange.objects.filter(reason="recalculation").count() == 7

    updated = list(CustomerStatus.objects.order_by("pk").values_list("pk", "updated_at"))
    second = run(system, chunk=3)
    assert (second.rows_written, second.changes) == (0, 0)
    assert list(CustomerStatus.objects.order_by("pk").values_list("pk", "updated_at")) == updated
    assert StatusChange.objects.count() == 7
    assert DomainEvent.objects.filter(kind="status.changed").count() == 7


def test_customer_who_qualifies_for_nothing_keeps_no_status_and_no_row():
    system = spend_system()
    customer = CustomerFactory()
    run(system)
    assert not CustomerStatus.objects.filter(customer=customer).exists()

    counter_set(system.counter, customer, 1200)
    status_upgrade_for_customer(customer_id=customer.pk)
    counter_set(system.counter, customer, 10)
    run(system)
    row = CustomerStatus.objects.get(customer=customer)
    assert row.status is None
    assert StatusChange.objects.filter(customer=customer, to_status=None, reason="downgrade").exists()
    assert run(system).rows_written == 0


def test_grace_period_keeps_the_status_then_downgrades():
    system = spend_system(grace_days=10)
    customer, back = CustomerFactory(), CustomerFactory()
    for c in (customer, back):
        counter_set(system.counter, c, 6000)
        status_upgrade_for_customer(customer_id=c.pk)
        counter_set(system.counter, c, 100)
    t0 = timezone.now()

    first = run(system, as_of=t0)
    assert status_of(system, customer) == "gold" and first.changes == 0 and first.rows_written == 2
    row = CustomerStatus.objects.get(system=system, customer=customer)
    assert row.grace_until == t0 + dt.timedelta(days=10)
    # A second run (even a later scheduled one) neither extends nor rewrites the grace period.
    assert run(system, as_of=t0).rows_written == 0
    assert run(system, as_of=t0 + dt.timedelta(days=3)).rows_written == 0

    # One qualifies again during the grace: the downgrade is called off.
    counter_set(system.counter, back, 5000)
    assert status_upgrade_for_customer(customer_id=back.pk) == []
    assert CustomerStatus.objects.get(system=system, customer=back).grace_until is None

    # The grace run after the end downgrades the other one only.
    graced = run(system, as_of=t0 + dt.timedelta(days=10, minutes=1), mode=StatusRecalculation.Mode.GRACE)
    assert graced.changes == 1
    assert status_of(system, customer) is None and status_of(system, back) == "gold"
    assert CustomerStatus.objects.get(system=system, customer=customer).grace_until is None


def test_grace_not_started_by_upgrade_runs():
    system = spend_system(grace_days=10)
    customer = CustomerFactory()
    counter_set(system.counter, customer, 6000)
    status_upgrade_for_customer(customer_id=customer.pk)
    counter_set(system.counter, customer, 100)
    assert run(system, mode=StatusRecalculation.Mode.UPGRADE).rows_written == 0
    assert CustomerStatus.objects.get(customer=customer).grace_until is None


def test_manual_assignment_is_respected_until_its_date():
    system = spend_system()
    customer = CustomerFactory()
    counter_set(system.counter, customer, 1500)
    hold = timezone.now().date() + dt.timedelta(days=30)
    change = status_assign_manual(customer_id=customer.pk, system="tier", status="platinum",
                                  reason="VIP by the director", actor=TEST_ACTOR, hold_until=hold)
    assert (change.reason, change.to_status.code, change.comment) == ("manual", "platinum", "VIP by the director")
    assert status_of(system, customer) == "platinum"

    assert run(system).rows_written == 0
    assert status_of(system, customer) == "platinum"

    # A manual lower status is not upgraded by purchases during the hold either.
    status_assign_manual(customer_id=customer.pk, system="tier", status=None, reason="fraud check",
                         actor=TEST_ACTOR, hold_until=hold)
    counter_set(system.counter, customer, 30000)
    assert status_upgrade_for_customer(customer_id=customer.pk) == []
    assert status_of(system, customer) is None

    after = timezone.now() + dt.timedelta(days=32)
    result = run(system, as_of=after)
    assert result.changes == 1 and status_of(system, customer) == "platinum"
    reasons = list(StatusChange.objects.filter(customer=customer).order_by("id").values_list("reason", flat=True))
    assert reasons == ["manual", "manual", "recalculation"]


def test_manual_without_hold_is_moved_by_the_next_recalculation():
    system = spend_system()
    customer = CustomerFactory()
    status_assign_manual(customer_id=customer.pk, system="tier", status="gold", reason="goodwill", actor=TEST_ACTOR)
    run(system)
    assert status_of(system, customer) is None


def test_several_systems_at_once_with_previous_period_and_attribute_conditions():
    spend = spend_system()
    visits = CounterFactory(code="visits_month", name="Visits this month", aggregate=Counter.Aggregate.COUNT,
                            period=Counter.Period.MONTH)
    city = AttributeFactory(code="city", name="City")
    regular = status_system_define(code="frequency", name="Frequency", actor=TEST_ACTOR, statuses=[
        StatusSpec("regular", "Regular", 1, "visits_month (previous) >= 4"),
        StatusSpec("local_hero", "Local hero", 2, "visits_month (previous) >= 8 and attribute city = moscow"),
    ])
    customer = CustomerFactory()
    other = CustomerFactory()
    today = timezone.now().date()
    previous_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    counter_set(spend.counter, customer, 7000)
    counter_set(visits, customer, 9, period_start=previous_month)
    counter_set(visits, other, 9, period_start=previous_month)
    counter_set(visits, other, 50, period_start=today.replace(day=1))  # this month does not count
    from attributes.services import attribute_values_set

    attribute_values_set(customer_id=customer.pk, values={"city": "moscow"}, actor=TEST_ACTOR)

    changes = status_upgrade_for_customer(customer_id=customer.pk)
    assert sorted((c["system"], c["to"]) for c in changes) == [("frequency", "local_hero"), ("tier", "gold")]
    status_upgrade_for_customer(customer_id=other.pk)
    assert status_of(regular, other) == "regular"
    assert city.pk and status_of(spend, other) is None


def test_counter_rename_leaves_system_unrun_rather_than_downgrading():
    system = spend_system()
    customer = CustomerFactory()
    counter_set(system.counter, customer, 6000)
    status_upgrade_for_customer(customer_id=customer.pk)
    Counter.objects.filter(pk=system.counter_id).update(code="renamed")
    result = run(system)
    assert result.state == "failed" and "unknown counters: spend" in result.error
    assert status_of(system, customer) == "gold"
    assert status_upgrade_for_customer(customer_id=customer.pk) == []  # skipped, not an error at the till


def test_merged_customers_are_left_alone():
    system = spend_system(entry_level=True)
    target = CustomerFactory()
    merged = CustomerFactory(state="merged", merged_into=target)
    run(system)
    assert status_of(system, target) == "basic" and status_of(system, merged) is None


def test_upgrade_hook_query_count(django_assert_max_num_queries):
    spend_system()
    customer = CustomerFactory()
    counter_set(spend_counter(), customer, 6000)
    # systems + statuses + counters, then one statement per system, inside one savepoint.
    with django_assert_max_num_queries(6):
        status_upgrade_for_customer(customer_id=customer.pk)


def test_merge_keeps_the_better_status_and_moves_history():
    from crm.services.merge import customer_merge

    system = spend_system()
    other_system = spend_system(code="other")
    source, target = CustomerFactory(), CustomerFactory()
    status_assign_manual(customer_id=source.pk, system="tier", status="gold", reason="r", actor=TEST_ACTOR)
    status_assign_manual(customer_id=target.pk, system="tier", status="silver", reason="r", actor=TEST_ACTOR)
    status_assign_manual(customer_id=source.pk, system="other", status="silver", reason="r", actor=TEST_ACTOR)

    customer_merge(source=source, target=target, actor=TEST_ACTOR)

    assert status_of(system, target) == "gold" and status_of(other_system, target) == "silver"
    assert not CustomerStatus.objects.filter(customer=source).exists()
    assert StatusChange.objects.filter(customer=source).count() == 0
    assert StatusChange.objects.filter(customer=target).count() == 4  # 3 moved/kept + 1 for the merge
    merge = StatusChange.objects.get(customer=target, reason="merge")
    assert (merge.from_status.code, merge.to_status.code) == ("silver", "gold")
