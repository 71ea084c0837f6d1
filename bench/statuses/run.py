"""Status recalculation over N customers (default 1,000,000) where ~1% change, against one
hand-written set-based SQL statement doing the same update, in the same run.

    .venv/bin/python bench/statuses/run.py [--customers 1000000] [--repeat 3] [--chunk 20000] [--reuse]

1. datagen: N customers, a spend counter with values for 80% of them (COPY);
2. a system Basic (no condition) < Silver >= 1,000 < Gold >= 5,000 < Platinum >= 20,000;
   our recalculation assigns everyone (timed: "initial");
3. shift 1% of the values across the thresholds (datagen.shift_counter_values);
4. `repeat` times, each inside a transaction that is rolled back, then VACUUM: the baseline
   statement, then our recalculation (the same code the Celery chunks run, chunk after chunk);
5. our recalculation for real, then an immediate second run: rows written must be 0 (also checked
   in pg_stat_user_tables).
Prints medians, the ratio (ours / baseline; the target is <= 1.5) and the second run's writes.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.common import bench_setup, ratio, report, timed  # noqa: E402

TABLES = ("statuses_customerstatus", "statuses_statuschange", "core_domainevent")

BASELINE = """
WITH target AS (
  SELECT c.id AS customer_id,
         CASE WHEN COALESCE(v.value, 0) >= 20000 THEN %(platinum)s
              WHEN COALESCE(v.value, 0) >= 5000 THEN %(gold)s
              WHEN COALESCE(v.value, 0) >= 1000 THEN %(silver)s
              ELSE %(basic)s END AS status_id
  FROM crm_customer c
  LEFT JOIN attributes_countervalue v
    ON v.counter_id = %(counter)s AND v.customer_id = c.id AND v.period_start = DATE '1970-01-01'
  WHERE c.state <> 'merged'
),
diff AS (
  SELECT cs.id AS cs_id, t.customer_id, cs.status_id AS from_id, t.status_id AS to_id
  FROM target t JOIN statuses_customerstatus cs ON cs.system_id = %(system)s AND cs.customer_id = t.customer_id
  WHERE cs.status_id IS DISTINCT FROM t.status_id AND (cs.manual_until IS NULL OR cs.manual_until <= now())
),
upd AS (
  UPDATE statuses_customerstatus cs SET status_id = d.to_id, since = now(), reason = 'baseline', updated_at = now()
  FROM diff d WHERE cs.id = d.cs_id
  RETURNING d.customer_id, d.from_id, d.to_id
),
hist AS (
  INSERT INTO statuses_statuschange (system_id, customer_id, from_status_id, to_status_id, reason, created_at,
                                     actor_kind, actor_id, actor_label, comment)
  SELECT %(system)s, customer_id, from_id, to_id, 'recalculation', now(), 'system', '', 'baseline', '' FROM upd
  RETURNING id, customer_id, from_status_id, to_status_id
)
INSERT INTO core_domainevent (kind, customer_id, payload, created_at)
SELECT 'status.changed', h.customer_id,
       jsonb_build_object('system', 'bench', 'from', f.code, 'to', t.code, 'change_id', h.id), now()
FROM hist h LEFT JOIN statuses_status f ON f.id = h.from_status_id LEFT JOIN statuses_status t ON t.id = h.to_status_id
"""


def table_writes(cursor) -> int:
    cursor.execute("SELECT pg_stat_force_next_flush()")
    cursor.execute("SELECT COALESCE(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables "
                   "WHERE relname = ANY(%s)", [list(TABLES)])
    return int(cursor.fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=None, help="customers per chunk (default: the service's)")
    parser.add_argument("--reuse", action="store_true", help="keep the generated customers of a previous run")
    args = parser.parse_args()

    url = bench_setup("statuses")
    import psycopg
    from django.db import connection, transaction

    from attributes.models import Counter
    from bench.datagen import Sizes, generate, generate_counter_values, shift_counter_values
    from core.actors import Actor
    from statuses.models import CustomerStatus, Status, StatusChange, StatusRecalculation
    from statuses.services import StatusSpec, status_recalculate_now, status_system_define
    from statuses.services.recalculation import CHUNK

    chunk = args.chunk or CHUNK
    actor = Actor.system("bench")
    sizes = Sizes(customers=args.customers, seed=42)
    with psycopg.connect(url, autocommit=True) as conn:
        have = conn.execute("select count(*) from crm_customer").fetchone()[0]
        if not (args.reuse and have == args.customers):
            with timed() as t_gen:
                conn.execute("truncate statuses_statuschange, statuses_customerstatus, statuses_statusrecalculation, "
                             "core_domainevent")
                generate(conn, sizes)
            print(f"generated {args.customers:,} customers in {t_gen[0]:.1f} s")
    counter, _ = Counter.objects.get_or_create(code="bench_spend", defaults={
        "name": "Spend (bench)", "aggregate": "sum", "period": "all_time", "timezone": "UTC"})
    system = status_system_define(code="bench", name="Bench tiers", actor=actor, timezone="UTC", statuses=[
        StatusSpec("basic", "Basic", 0, ""),
        StatusSpec("silver", "Silver", 1, "bench_spend >= 1000"),
        StatusSpec("gold", "Gold", 2, "bench_spend >= 5000"),
        StatusSpec("platinum", "Platinum", 3, "bench_spend >= 20000"),
    ])
    ids = {s.code: s.pk for s in Status.objects.filter(system=system)}
    settled = CustomerStatus.objects.filter(system=system).count() == args.customers
    values, initial, t_initial = 0, None, [0.0]
    if not (args.reuse and settled):
        with connection.cursor() as cursor:
            cursor.execute("truncate statuses_statuschange, statuses_customerstatus, core_domainevent")
        connection.ensure_connection()
        with timed() as t_values:
            values = generate_counter_values(connection.connection, sizes, counter_id=counter.pk)
        print(f"wrote {values:,} counter values in {t_values[0]:.1f} s")
        with timed() as t_initial:
            initial = status_recalculate_now(system_id=system.pk, mode="scheduled", actor=actor, chunk=chunk)
        assert initial.state == "done", initial.error
    else:
        from attributes.models import CounterValue

        values = CounterValue.objects.filter(counter=counter).count()
        print("reusing the customers, values and statuses of the previous run")

    def vacuum() -> None:
        with connection.cursor() as cursor:
            for table in ("statuses_customerstatus", "statuses_statuschange", "core_domainevent",
                          "attributes_countervalue", "crm_customer"):
                cursor.execute(f"VACUUM ANALYZE {table}")

    vacuum()
    shifted = shift_counter_values(connection.connection, counter_id=counter.pk)
    vacuum()

    class Rollback(Exception):
        pass

    baseline_times: list[float] = []
    ours_times: list[float] = []
    baseline_rows = ours_rows = 0
    params = {**ids, "counter": counter.pk, "system": system.pk}
    for _ in range(args.repeat):
        try:
            with transaction.atomic():
                with timed() as t_base, connection.cursor() as cursor:
                    cursor.execute(BASELINE, params)
                    baseline_rows = cursor.rowcount
                raise Rollback
        except Rollback:
            pass
        baseline_times.append(t_base[0])
        vacuum()
        try:
            with transaction.atomic():
                with timed() as t_ours:
                    run = status_recalculate_now(system_id=system.pk, mode="scheduled", actor=actor, chunk=chunk)
                ours_rows = run.changes
                raise Rollback
        except Rollback:
            pass
        ours_times.append(t_ours[0])
        vacuum()

    with timed() as t_final:
        final = status_recalculate_now(system_id=system.pk, mode="scheduled", actor=actor, chunk=chunk)
    with connection.cursor() as cursor:
        writes_before = table_writes(cursor)
    history_before = StatusChange.objects.count()
    with timed() as t_second:
        second = status_recalculate_now(system_id=system.pk, mode="scheduled", actor=actor, chunk=chunk)
    with connection.cursor() as cursor:
        writes_after = table_writes(cursor)
    # The run bookkeeping row (statuses_statusrecalculation) is not among TABLES: customers' rows,
    # history and events must not move.
    assert StatusChange.objects.count() == history_before

    base, ours = statistics.median(baseline_times), statistics.median(ours_times)
    report(f"statuses: recalculation of {args.customers:,} customers, ~1% change", [
        ("customers with a counter value", f"{values:,}"),
        ("customers shifted across thresholds", f"{shifted:,}"),
        ("initial assignment (all rows inserted)",
         f"{t_initial[0]:.2f} s, {initial.changes:,} rows" if initial else "skipped (--reuse)"),
        ("baseline: one hand-written statement", f"{base:.2f} s (runs: {', '.join(f'{t:.2f}' for t in baseline_times)})"
                                                   f", {baseline_rows:,} changes"),
        (f"ours: {final.chunks_total} chunks of {chunk:,}",
         f"{ours:.2f} s (runs: {', '.join(f'{t:.2f}' for t in ours_times)})"
                                                 f", {ours_rows:,} changes"),
        ("ratio ours / baseline", ratio(ours, base) + (" (target <= 1.5)")),
        ("committed run", f"{t_final[0]:.2f} s, {final.changes:,} changes, {final.rows_written:,} rows written"),
        ("immediate second run", f"{t_second[0]:.2f} s, rows written {second.rows_written}, "
                                 f"table writes {writes_after - writes_before}"),
        ("status rows", f"{CustomerStatus.objects.filter(system=system).count():,}"),
        ("runs recorded", f"{StatusRecalculation.objects.filter(system=system).count()}"),
    ])
    ok = (ours <= 1.5 * base and second.rows_written == 0 and writes_after == writes_before
          and ours_rows == baseline_rows)
    print("\nPASS" if ok else "\nFAIL")


if __name__ == "__main__":
    main()
