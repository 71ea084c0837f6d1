"""Status systems for tests: a spend system (Silver/Gold/Platinum) on an all-time sum counter."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from attributes.models import Counter, CounterValue
from attributes.models.counters import ALL_TIME
from core.actors import Actor
from statuses.models import StatusSystem
from statuses.services import StatusSpec, status_system_define
from tests.factories.attributes import CounterFactory

TEST_ACTOR = Actor.system("test")


def spend_counter(code: str = "spend", **kwargs) -> Counter:
    return Counter.objects.filter(code=code).first() or CounterFactory(code=code, name=kwargs.pop("name", "Spend"),
                                                                       **kwargs)


def spend_system(*, code: str = "tier", counter: Counter | None = None, grace_days: int = 0,
                 period: str = StatusSystem.Period.MONTHLY, entry_level: bool = False,
                 thresholds: tuple[int, int, int] = (1000, 5000, 20000)) -> StatusSystem:
    """Silver >= 1000, Gold >= 5000, Platinum >= 20000 of `counter` (optionally Basic with no condition)."""
    counter = counter or spend_counter()
    specs = [StatusSpec("basic", "Basic", 0, [])] if entry_level else []
    specs += [StatusSpec(code_, name, rank, f"{counter.code} >= {limit}")
              for (code_, name, rank), limit in zip((("silver", "Silver", 1), ("gold", "Gold", 2),
                                                     ("platinum", "Platinum", 3)), thresholds)]
    return status_system_define(code=code, name=code.title(), statuses=specs, actor=TEST_ACTOR, period=period,
                                grace_days=grace_days, counter_code=counter.code, timezone="UTC")


def counter_set(counter: Counter, customer, value: str | int | Decimal, *, period_start: dt.date = ALL_TIME) -> None:
    """Put a counter value straight in the table (as the counters service or an import would)."""
    customer_id = getattr(customer, "pk", customer)
    CounterValue.objects.update_or_create(counter=counter, customer_id=customer_id, period_start=period_start,
                                          defaults={"value": Decimal(value), "updated_at": timezone.now()})
