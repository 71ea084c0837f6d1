"""Counters: kept current as cheques are confirmed, cancelled and refunded (incremental), rebuilt
from the purchase history (set-based, chunked by customer id range), rolled daily.

Contribution of a purchase P to a counter C (the one definition every path below uses, in SQL):
- only confirmed purchases count; a refund counts in its original sale's period and store;
- sum: amount - discount of the purchase (or of its lines in C's product group), negative for a
  refund; count: 1 per sale (with a line in the group, if C has one), refunds do not count;
- C's store, if set, must be the (original's) store; a rolling C counts days >= window_start.

Concurrency: every path takes an advisory lock per counter in namespace `LOCK_NS`:
`counter_apply_purchase` a shared one (confirms run in parallel), the roll and a recalculation
chunk an exclusive one, so a recalculation never overwrites an increment it did not see and a
roll never misses a purchase confirmed while it ran. `CountedPurchase` makes
`counter_apply_purchase` idempotent: call it as often as you like after each state change.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from attributes.models import Counter
from attributes.models.counters import ALL_TIME
from attributes.periods import counter_today, period_start, rolling_window_start
from core.actors import Actor
from core.db import prepared_cursor
from core.errors import NotFound
from core.rows import instance_from
from core.services import audit_record

logger = logging.getLogger(__name__)

LOCK_NS = 774411  # first key of the counters' advisory locks; the second is the counter id
RECALC_CHUNK = 1000  # customers per recalculation task (keyset ranges over crm_customer.id)

_EFF_AT = "COALESCE(o.purchased_at, p.purchased_at)"


def _period_sql(counter: Counter) -> str:
    local = f"({_EFF_AT} AT TIME ZONE %(tz)s)"
    unit = {Counter.Period.MONTH: "month", Counter.Period.QUARTER: "quarter", Counter.Period.YEAR: "year"}.get(counter.period)
    return f"date_trunc('{unit}', {local})::date" if unit else f"DATE '{ALL_TIME.isoformat()}'"


def _contributions_sql(counter: Counter, where: str, *, confirmed_only: bool = True) -> str:
    """SELECT customer_id, period_start, delta over confirmed purchases matching `where`.

    Named params: tz, store, group, window_start, cutoff (+ those of `where`). `confirmed_only`
    is dropped only to take back what a purchase added once it is no longer confirmed."""
    group = counter.product_group_id is not None
    paid = "(l.amount - l.discount)" if group else "(p.amount - p.discount)"
    if counter.aggregate == Counter.Aggregate.SUM:
        delta = f"sum(CASE WHEN p.kind = 'refund' THEN -{paid} ELSE {paid} END)"
    else:
        delta = "count(DISTINCT p.id) FILTER (WHERE p.kind = 'sale')" if group else "count(*) FILTER (WHERE p.kind = 'sale')"
    joins = ("JOIN crm_purchaseline l ON l.purchase_id = p.id "
             "JOIN catalogue_productgroupmembership m ON m.product_id = l.product_id AND m.group_id = %(group)s") if group else ""
    filters = (["p.state = 'confirmed'"] if confirmed_only else []) + ["p.customer_id IS NOT NULL", where]
    if counter.store_id is not None:
        filters.append("COALESCE(o.store_id, p.store_id) = %(store)s")
    if counter.period == Counter.Period.ROLLING:
        filters.append(f"({_EFF_AT} AT TIME ZONE %(tz)s)::date >= %(window_start)s")
    elif counter.calendar:
        filters.append(f"{_period_sql(counter)} >= %(cutoff)s")  # periods older than keep_periods are dropped
    return (
        f"SELECT p.customer_id, {_period_sql(counter)} AS period_start, {delta} AS delta "
        f"FROM crm_purchase p LEFT JOIN crm_purchase o ON o.id = p.original_id {joins} "
        f"WHERE {' AND '.join(filters)} GROUP BY 1, 2"
    )


def oldest_kept_period(counter: Counter, today: dt.date) -> dt.date:
    """Calendar counters keep the current period and `keep_periods` before it."""
    start = period_start(counter.period, today)
    for _ in range(counter.keep_periods if counter.calendar else 0):
        start = period_start(counter.period, start - dt.timedelta(days=1))
    return start


def _params(subject: Counter, window_start: dt.date | None, **extra: Any) -> dict[str, Any]:
    return {"tz": subject.timezone, "store": subject.store_id, "group": subject.product_group_id,
            "window_start": window_start or ALL_TIME, "cutoff": oldest_kept_period(subject, counter_today(subject)),
            **extra}


def _lock(counter_ids: Sequence[int], *, shared: bool) -> None:
    if not counter_ids:
        return
    fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {fn}(%s, id) FROM unnest(%s::int[]) AS id ORDER BY id", [LOCK_NS, sorted(counter_ids)])


def _window_start(counter_id: int) -> dt.date | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT window_start FROM attributes_counter WHERE id = %s", [counter_id])
        row = cursor.fetchone()
    return row[0] if row else None


def _current_window(counter: Counter) -> dt.date:
    """The rolling window's first day as stored (read under the counter's lock), or, before the
    first roll, the one of today."""
    return _window_start(counter.pk) or rolling_window_start(counter, counter_today(counter))


_ADD = """
INSERT INTO attributes_countervalue (counter_id, customer_id, period_start, value, imported, updated_at)
SELECT %(counter)s, customer_id, period_start, %(sign)s * delta, 0, now() FROM ({contributions}) AS c WHERE delta <> 0
ON CONFLICT (counter_id, customer_id, period_start)
DO UPDATE SET value = attributes_countervalue.value + EXCLUDED.value, updated_at = now()
"""


@dataclass(frozen=True)
class ApplyResult:
    purchase_id: int
    sign: int  # +1 counted now, -1 no longer counted, 0 nothing to do
    counters: int


def counter_apply_purchase(*, purchase_id: int, known: tuple[str, int | None] | None = None) -> ApplyResult:
    """Bring the counters in line with the purchase's current state (confirmed counts, anything
    else does not). Idempotent. Call it in the transaction that changes the purchase's state.

    `known`: the purchase's (state, customer_id) as the caller just wrote them with the purchase's
    row locked (the till's confirm): saves reading them back."""
    # No savepoint: nothing in here is caught and retried, so an error ends the caller's transaction
    # anyway; a savepoint would only cost the till's confirm two more round trips.
    with transaction.atomic(savepoint=False):
        with prepared_cursor() as cursor:
            if known is not None:
                row = known
            else:
                cursor.execute("SELECT state, customer_id FROM crm_purchase WHERE id = %s", [purchase_id])
                row = cursor.fetchone()
            if row is None:
                raise NotFound("not_found", f"No purchase {purchase_id}.")
            state, customer_id = row
            counters = _active_locked()
            if state == "confirmed" and customer_id is not None and known is not None:
                # The till's confirm: count it and feed every counter in one statement.
                sign = _count_merged(cursor, counters, purchase_id=purchase_id, customer_id=customer_id)
                return ApplyResult(purchase_id=purchase_id, sign=sign, counters=len(counters))
            if state == "confirmed" and customer_id is not None:
                cursor.execute(
                    "INSERT INTO attributes_countedpurchase (purchase_id, customer_id, counted_at) VALUES (%s, %s, now()) "
                    "ON CONFLICT DO NOTHING RETURNING purchase_id", [purchase_id, customer_id])
                sign = 1 if cursor.fetchone() else 0
            else:
                cursor.execute("DELETE FROM attributes_countedpurchase WHERE purchase_id = %s RETURNING purchase_id",
                               [purchase_id])
                sign = -1 if cursor.fetchone() else 0
            if sign:
                for counter in counters:
                    window = _current_window(counter) if counter.period == Counter.Period.ROLLING else None
                    # Subtracting uses the same definition as adding, minus the state test: the
                    # purchase is no longer confirmed, but its contribution is what was added.
                    sql = _contributions_sql(counter, "p.id = %(purchase)s", confirmed_only=sign > 0)
                    cursor.execute(_ADD.format(contributions=sql),
                                   _params(counter, window, purchase=purchase_id, counter=counter.pk, sign=sign))
    return ApplyResult(purchase_id=purchase_id, sign=sign, counters=len(counters))


def _active_locked() -> list[Counter]:
    """The active counters, each under its shared advisory lock, taken in id order (as `_lock`
    does): one statement instead of a query and a lock."""
    fields = Counter._meta.concrete_fields
    with prepared_cursor() as cursor:
        cursor.execute(f"SELECT {', '.join('c.' + f.column for f in fields)}, pg_advisory_xact_lock_shared(%s, c.id::int) "
                       "FROM (SELECT * FROM attributes_counter WHERE is_active ORDER BY id) c", [LOCK_NS])
        rows = cursor.fetchall()
    # Built as the ORM would load them, without a query to compile on every confirm.
    return [instance_from(Counter, {f.attname: value for f, value in zip(fields, row)}) for row in rows]


def _count_merged(cursor, counters: list[Counter], *, purchase_id: int, customer_id: int) -> int:
    """Mark the purchase counted and add it to every counter, in one statement (the counters'
    statements of the general path, as CTEs, each run only when the mark is new): 1 counted now,
    0 already counted."""
    ctes = ["counted AS (INSERT INTO attributes_countedpurchase (purchase_id, customer_id, counted_at) "
            "VALUES (%(purchase)s, %(customer)s, now()) ON CONFLICT DO NOTHING RETURNING purchase_id)"]
    params: dict[str, Any] = {"purchase": purchase_id, "customer": customer_id}
    for index, counter in enumerate(counters):
        window = _current_window(counter) if counter.period == Counter.Period.ROLLING else None
        prefix = f"c{index}_"
        add = _ADD.format(contributions=_contributions_sql(counter, "p.id = %(purchase)s", confirmed_only=True))
        add = add.replace("WHERE delta <> 0", "WHERE delta <> 0 AND EXISTS (SELECT 1 FROM counted)")
        ctes.append(f"{prefix}add AS ({add.replace('%(', '%(' + prefix)})")
        params.update({prefix + k: v for k, v in _params(counter, window, purchase=purchase_id, counter=counter.pk,
                                                            sign=1).items()})
    cursor.execute(f"WITH {', '.join(ctes)} SELECT count(*) FROM counted", params)
    return cursor.fetchone()[0]


def counter_roll(*, counter: Counter, now: dt.datetime | None = None) -> int:
    """Daily: a rolling counter forgets the days that left its window; a calendar counter drops
    periods older than `keep_periods`. Returns the rows touched. Safe to run any number of times."""
    today = counter_today(counter, now)
    touched = 0
    with transaction.atomic(), connection.cursor() as cursor:
        _lock([counter.pk], shared=False)
        if counter.period == Counter.Period.ROLLING:
            old = _window_start(counter.pk)
            new = rolling_window_start(counter, today)
            if old is not None and new > old:
                sql = _contributions_sql(counter, f"({_EFF_AT} AT TIME ZONE %(tz)s)::date < %(new_start)s")
                cursor.execute(_ADD.format(contributions=sql),
                               _params(counter, old, new_start=new, counter=counter.pk, sign=-1))
                touched = cursor.rowcount
            if old is None or new > old:
                cursor.execute("UPDATE attributes_counter SET window_start = %s WHERE id = %s", [new, counter.pk])
        elif counter.calendar:
            cursor.execute("DELETE FROM attributes_countervalue WHERE counter_id = %s AND period_start < %s",
                           [counter.pk, oldest_kept_period(counter, today)])
            touched = cursor.rowcount
    return touched


def counters_roll_all(*, now: dt.datetime | None = None) -> dict[str, int]:
    return {c.code: counter_roll(counter=c, now=now) for c in Counter.objects.filter(is_active=True).order_by("id")}


def _window_reset(counter: Counter) -> None:
    """Before a full recalculation: the window is today's, whatever it was (the period may have
    changed); the recalculation then rebuilds every value against it."""
    if counter.period != Counter.Period.ROLLING:
        return
    with transaction.atomic():
        _lock([counter.pk], shared=False)
        Counter.objects.filter(pk=counter.pk).update(window_start=rolling_window_start(counter, counter_today(counter)))


def counter_recalculate_range(*, counter_id: int, first_id: int, last_id: int, chunk_of_run: bool = True) -> int:
    """Rebuild the counter's values of customers first_id..last_id from their purchases (keeping
    imported parts). One transaction; returns rows written."""
    with transaction.atomic(), connection.cursor() as cursor:
        counter = Counter.objects.filter(pk=counter_id).first()
        if counter is None:
            return 0
        _lock([counter.pk], shared=False)
        window = _current_window(counter) if counter.period == Counter.Period.ROLLING else None
        params = _params(counter, window, first=first_id, last=last_id, counter=counter.pk)
        agg = _contributions_sql(counter, "p.customer_id BETWEEN %(first)s AND %(last)s")
        cursor.execute(f"""
            WITH agg AS ({agg}),
            upsert AS (
              INSERT INTO attributes_countervalue (counter_id, customer_id, period_start, value, imported, updated_at)
              SELECT %(counter)s, customer_id, period_start, delta, 0, now() FROM agg
              ON CONFLICT (counter_id, customer_id, period_start) DO UPDATE
                SET value = attributes_countervalue.imported + EXCLUDED.value, updated_at = now()
                WHERE attributes_countervalue.value <> attributes_countervalue.imported + EXCLUDED.value
              RETURNING 1
            ),
            reset AS (
              UPDATE attributes_countervalue v SET value = v.imported, updated_at = now()
              WHERE v.counter_id = %(counter)s AND v.customer_id BETWEEN %(first)s AND %(last)s AND v.value <> v.imported
                AND NOT EXISTS (SELECT 1 FROM agg WHERE agg.customer_id = v.customer_id AND agg.period_start = v.period_start)
              RETURNING 1
            )
            SELECT (SELECT count(*) FROM upsert) + (SELECT count(*) FROM reset)
        """, params)
        written = cursor.fetchone()[0]
        cursor.execute(
            "DELETE FROM attributes_countervalue WHERE counter_id = %s AND customer_id BETWEEN %s AND %s "
            "AND value = 0 AND imported = 0", [counter.pk, first_id, last_id])
        if chunk_of_run:
            cursor.execute(
                "UPDATE attributes_counter SET recalc_pending = GREATEST(recalc_pending - 1, 0), "
                "recalculated_at = CASE WHEN recalc_pending <= 1 THEN now() ELSE recalculated_at END WHERE id = %s",
                [counter.pk])
    return written


def customer_id_ranges(*, chunk: int = RECALC_CHUNK) -> list[tuple[int, int]]:
    """Keyset ranges of `chunk` customer ids each, covering every customer, in one index scan."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(id), max(id) FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / %s AS bucket "
            "FROM crm_customer) AS numbered GROUP BY bucket ORDER BY 1", [chunk])
        return [(first, last) for first, last in cursor.fetchall()]


def counter_recalculate_request(*, counter_id: int, actor: Actor, chunk: int = RECALC_CHUNK) -> int:
    """Queue a full recalculation: roll the window first, then one task per range of customers.
    Returns the number of chunks queued (after commit)."""
    from attributes.tasks import counter_recalculate_chunk

    with transaction.atomic():
        counter = Counter.objects.select_for_update().filter(pk=counter_id).first()
        if counter is None:
            raise NotFound("not_found", f"No counter {counter_id}.")
        _window_reset(counter)
        counter_roll(counter=counter)  # calendar counters: drop periods past keep_periods
        ranges = customer_id_ranges(chunk=chunk)
        Counter.objects.filter(pk=counter.pk).update(recalc_pending=len(ranges),
                                                     recalculated_at=None if ranges else timezone.now())
        audit_record(actor=actor, action="counter.recalculate", target=counter, after={"chunks": len(ranges)})

        def enqueue() -> None:
            for first, last in ranges:
                counter_recalculate_chunk.delay(counter.pk, first, last)

        transaction.on_commit(enqueue)
    return len(ranges)


def counter_recalculate_now(*, counter_id: int, chunk: int = 50_000) -> int:
    """The whole recalculation in this process (tests, the demo, small bases)."""
    counter = Counter.objects.get(pk=counter_id)
    _window_reset(counter)
    counter_roll(counter=counter)
    written = 0
    for first, last in customer_id_ranges(chunk=chunk):
        written += counter_recalculate_range(counter_id=counter_id, first_id=first, last_id=last, chunk_of_run=False)
    Counter.objects.filter(pk=counter_id).update(recalc_pending=0, recalculated_at=timezone.now())
    return written
