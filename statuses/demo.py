"""Demo status systems, recalculated for the demo customers. Idempotent.

What `make run` shows (admin: Status systems; API: GET /api/v1/me/statuses with a customer token):
- "Tier" (code `tier`, quarterly, 30 grace days): Silver >= 5,000, Gold >= 20,000,
  Platinum >= 50,000 spent in the last 365 days (counter `spend-365` of the attributes demo);
- "Frequency" (code `frequency`, monthly): Newcomer (everyone), Regular >= 3 and Frequent >= 8
  purchases in the previous calendar month (counter `visits-month`);
- both recalculated over all customers; customer demo-005 holds Platinum by hand ("VIP guest",
  kept from automatic changes for 90 days), so the history shows a manual change.
When the counters have (almost) no values yet, a few demo customers get imported historical
values (the counters' `imported` part, as a CSV import of past spend would give), so the tiers
are not all empty.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from attributes.models import Counter, CounterValue
from attributes.models.counters import ALL_TIME
from core.actors import Actor
from crm.models import Customer
from statuses.engine import counter_period_start
from statuses.models import StatusChange, StatusRecalculation, StatusSystem
from statuses.services import StatusSpec, status_assign_manual, status_recalculate_now, status_system_define

ACTOR = Actor.system("demo")
# Imported history for demo customers 1..8 (spend in 365 days, purchases last month).
HISTORY = {1: ("62000", 11), 2: ("27500", 6), 3: ("8200", 4), 4: ("4100", 2), 5: ("1200", 1),
           6: ("21000", 9), 7: ("5600", 3), 8: ("300", 1)}


def _counter(*, code: str, name: str, aggregate: str, period: str, period_days: int | None = None) -> Counter:
    """The attributes demo's counter (made before this demo runs); made here if it is missing."""
    found = Counter.objects.filter(code=code).first()
    if found is not None:
        return found
    return Counter.objects.create(code=code, name=name, aggregate=aggregate, period=period, period_days=period_days,
                                  timezone="Europe/Moscow")


def _seed_history(counter: Counter, index: int, period_start: dt.date = ALL_TIME) -> int:
    """Imported values for demo customers when the counter is (nearly) empty."""
    if CounterValue.objects.filter(counter=counter, period_start=period_start, value__gt=0).count() >= 3:
        return 0
    customers = {c.external_uid: c.pk for c in Customer.objects.filter(external_uid__startswith="demo-")}
    written = 0
    for number, values in HISTORY.items():
        customer_id = customers.get(f"demo-{number:03d}")
        if customer_id is None:
            continue
        amount = Decimal(values[index])
        row, created = CounterValue.objects.get_or_create(
            counter=counter, customer_id=customer_id, period_start=period_start,
            defaults={"value": amount, "imported": amount})
        if not created and row.imported == 0:
            CounterValue.objects.filter(counter=counter, customer_id=customer_id, period_start=period_start).update(
                value=row.value + amount, imported=amount, updated_at=timezone.now())
        written += 1
    return written


def load() -> str:
    spend = _counter(code="spend-365", name="Spend in the last 365 days", aggregate=Counter.Aggregate.SUM,
                     period=Counter.Period.ROLLING, period_days=365)
    visits = _counter(code="visits-month", name="Purchases this month", aggregate=Counter.Aggregate.COUNT,
                      period=Counter.Period.MONTH)
    last_month = counter_period_start(visits, "previous", timezone.now())
    seeded = _seed_history(spend, 0) + _seed_history(visits, 1, last_month)

    tier = status_system_define(
        code="tier", name="Tier", actor=ACTOR, period="quarterly", grace_days=30, counter_code=spend.code,
        description="Silver, Gold and Platinum by spend in the last 365 days.",
        statuses=[StatusSpec("silver", "Silver", 1, f"{spend.code} >= 5000"),
                  StatusSpec("gold", "Gold", 2, f"{spend.code} >= 20000"),
                  StatusSpec("platinum", "Platinum", 3, f"{spend.code} >= 50000")])
    frequency = status_system_define(
        code="frequency", name="Frequency", actor=ACTOR, period="monthly", counter_code=visits.code,
        description="How often the customer shops (purchases in the previous month).",
        statuses=[StatusSpec("newcomer", "Newcomer", 0, ""),
                  StatusSpec("regular", "Regular", 1, f"{visits.code} (previous) >= 3"),
                  StatusSpec("frequent", "Frequent", 2, f"{visits.code} (previous) >= 8")])
    vip = Customer.objects.filter(external_uid="demo-005").first()
    if vip is not None and not StatusChange.objects.filter(system=tier, customer=vip, reason="manual").exists():
        status_assign_manual(customer_id=vip.pk, system=tier, status="platinum", reason="VIP guest", actor=ACTOR,
                             hold_until=(timezone.now() + dt.timedelta(days=90)).date())
    return f"2 status systems, {seeded} customers with imported history"


def finish() -> str:
    """Recalculate once every demo has written its cheques (later apps' demos feed the counters)."""
    changes = 0
    for system in StatusSystem.objects.filter(code__in=("tier", "frequency")).order_by("pk"):
        run = status_recalculate_now(system_id=system.pk, mode=StatusRecalculation.Mode.SCHEDULED, actor=ACTOR)
        changes += run.changes
    return f"{changes} status changes"
