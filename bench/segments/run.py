"""Segments benchmark: preview counts of 10 canned definitions, each against hand-written SQL for the
same question in the same run; materialising a ~500k-member segment; RFM and purchase totals
against a raw GROUP BY.

    python bench/segments/run.py                      # 1,000,000 customers, 10,000,000 cheques
    python bench/segments/run.py --customers 20000 --purchases 200000 --repeat 5   # a quick look

The data (bench/datagen.py; cheques made inside PostgreSQL) is generated once into the database
bench_segments and reused while its size matches. The cheques span 2024-01-01 + 600 days, so every
moment-dependent part (windows, RFM, totals) is evaluated as of the end of the data (AS_OF).

Targets (issue 6): count p50 <= 300 ms, p95 <= 1 s, at most 1.5x the hand-written SQL; a 500k
segment materialised in <= 5 s; full RFM recomputation <= 2x a raw GROUP BY.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import bench_setup, percentile, report  # noqa: E402

AS_OF = dt.datetime(2025, 8, 23, tzinfo=dt.timezone.utc)
SETTINGS = "SET LOCAL statement_timeout = 600000; SET LOCAL jit = off; SET LOCAL work_mem = '256MB'; "


def ago(days: int) -> str:
    return (AS_OF - dt.timedelta(days=days)).isoformat()


# name -> (definition, hand-written SQL counting the same customers)
CANNED: list[tuple[str, dict, str]] = [
    ("verified phone", {"kind": "notifier", "channel": "phone", "verified": True},
     "SELECT count(*) FROM crm_customer c WHERE c.state <> 'merged' AND EXISTS (SELECT 1 FROM crm_notifier n "
     "WHERE n.customer_id = c.id AND n.kind = 'phone' AND n.verified)"),
    ("spent > 1000 in 365 d", {"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "1000", "window_days": 365},
     "SELECT count(*) FROM crm_customer c JOIN segments_customerstats s ON s.customer_id = c.id "
     "WHERE c.state <> 'merged' AND s.amount_365 > 1000"),
    ("10+ purchases ever", {"kind": "purchases", "aggregate": "count", "op": "gte", "value": 10},
     "SELECT count(*) FROM crm_customer c JOIN segments_customerstats s ON s.customer_id = c.id "
     "WHERE c.state <> 'merged' AND s.purchase_count >= 10"),
    ("lapsed 90 d", {"kind": "purchases", "aggregate": "last_date", "op": "more_than_days_ago", "value": 90},
     "SELECT count(*) FROM crm_customer c JOIN segments_customerstats s ON s.customer_id = c.id "
     f"WHERE c.state <> 'merged' AND s.last_purchase_at < '{ago(90)}'"),
    ("female, avg cheque > 800 in 180 d", {"op": "and", "children": [
        {"kind": "profile", "field": "gender", "op": "eq", "value": "female"},
        {"kind": "purchases", "aggregate": "avg", "op": "gt", "value": "800", "window_days": 180}]},
     "SELECT count(*) FROM crm_customer c JOIN segments_customerstats s ON s.customer_id = c.id "
     "WHERE c.state <> 'merged' AND c.gender = 'female' AND s.count_180 > 0 AND s.amount_180 / s.count_180 > 800"),
    ("RFM champions or loyal", {"kind": "rfm", "cells": ["champions", "loyal"]},
     "SELECT count(*) FROM crm_customer c JOIN segments_rfm r ON r.customer_id = c.id "
     "WHERE c.state <> 'merged' AND r.cell IN ('champions', 'loyal')"),
    ("age 25-35 OR birthday in 7 d", {"op": "or", "children": [
        {"kind": "profile", "field": "age", "op": "between", "value": [25, 35]},
        {"kind": "profile", "field": "birthday", "op": "within_next_days", "value": 7}]},
     "SELECT count(*) FROM crm_customer c WHERE c.state <> 'merged' AND ((c.birth_date <= '"
     f"{(AS_OF.date().replace(year=AS_OF.year - 25))}' AND c.birth_date > '{AS_OF.date().replace(year=AS_OF.year - 36)}') "
     "OR to_char(c.birth_date, 'MM-DD') IN ("
     + ", ".join(f"'{(AS_OF.date() + dt.timedelta(days=n)):%m-%d}'" for n in range(8)) + "))"),
    ("registered 365 d, NOT bought in 30 d", {"op": "and", "children": [
        {"kind": "profile", "field": "registered_at", "op": "within_last_days", "value": 365},
        {"op": "not", "children": [{"kind": "purchases", "aggregate": "count", "op": "gte", "value": 1,
                                    "window_days": 30}]}]},
     f"SELECT count(*) FROM crm_customer c WHERE c.state <> 'merged' AND c.registered_at >= '{ago(365)}' "
     "AND NOT EXISTS (SELECT 1 FROM segments_customerstats s WHERE s.customer_id = c.id AND s.count_30 >= 1)"),
    ("bought dairy in 90 d", {"kind": "purchases", "aggregate": "count", "op": "gte", "value": 1,
                              "product_groups": ["bench-dairy"], "window_days": 90},
     "SELECT count(*) FROM crm_customer c JOIN segments_scopestats s ON s.customer_id = c.id "
     "JOIN catalogue_productgroup g ON g.id = s.scope_id WHERE c.state <> 'merged' AND s.scope = 'group' "
     "AND g.code = 'bench-dairy' AND s.count_90 > 0"),
    ("spent > 500 in store, 30 d", {"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "500",
                                    "stores": ["bench-1"], "window_days": 30},
     "SELECT count(*) FROM crm_customer c JOIN segments_scopestats s ON s.customer_id = c.id "
     "JOIN catalogue_store st ON st.id = s.scope_id WHERE c.state <> 'merged' AND s.scope = 'store' "
     "AND st.code = 'bench-1' AND s.amount_30 > 500"),
]


def raw(conn, sql: str, params=()) -> tuple[float, object]:
    """Run hand-written SQL with the same session settings the segments queries use."""
    import psycopg

    started = time.perf_counter()
    with conn.transaction():
        cur = psycopg.ClientCursor(conn)  # client-side binding: several statements in one string
        cur.execute(SETTINGS + sql, params or None)
        while cur.description is None and cur.nextset():
            pass
        value = cur.fetchone()[0] if cur.description else cur.rowcount
    return time.perf_counter() - started, value


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def ensure_data(url: str, customers: int, purchases: int, regen: bool) -> None:
    import psycopg

    from bench.datagen import Sizes, generate, generate_purchases_sql, indexes_dropped

    with psycopg.connect(url, autocommit=True) as conn:
        have = conn.execute("select (select count(*) from crm_customer), (select count(*) from crm_purchase)").fetchone()
        if tuple(have) == (customers, purchases) and not regen:
            print(f"data: {customers} customers, {purchases} cheques (reused)")
            return
        started = time.perf_counter()
        conn.execute("set jit = off")
        conn.execute("set synchronous_commit = off")
        conn.execute("set maintenance_work_mem = '512MB'")
        conn.execute("truncate segments_membership, segments_membershipchange, segments_customerstats, segments_rfm, "
                     "segments_segmentrefresh, segments_segment cascade")
        ref = generate(conn, Sizes(customers=customers, purchases=0))
        with indexes_dropped(conn, ["crm_purchase", "crm_purchaseline"]):
            generate_purchases_sql(conn, Sizes(customers=customers, purchases=purchases), ref,
                                   progress=lambda n: print(f"  {n} cheques", flush=True))
        conn.execute("vacuum analyze")
        print(f"data: generated in {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per definition (after one warm-up)")
    parser.add_argument("--regen", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated parts: counts,materialise,rfm,stats")
    args = parser.parse_args()
    parts = set((args.only or "stats,counts,materialise,rfm").split(","))

    url = bench_setup("segments")
    ensure_data(url, args.customers, args.purchases, args.regen)

    import psycopg
    from django.db import connection

    from core.actors import Actor
    from segments.compiler import compile_tree
    from segments.definition import definition_validate
    from segments.models import Segment
    from segments.selectors import compiled_count
    from segments.services import rfm_recompute, segment_create, segment_refresh
    from segments.services.rfm import AGGREGATE

    actor = Actor.system("bench")
    conn = psycopg.connect(url, autocommit=True)
    print(f"as of {AS_OF:%Y-%m-%d}; load average {open('/proc/loadavg').read().split()[0]} on 2 cores (shared)")

    # --- purchase totals ------------------------------------------------------------------------
    if "stats" in parts or "counts" in parts:
        from django.db import transaction

        from segments.services.stats import COLUMNS, SCOPES, _rebuild, totals_sql

        connection.cursor().execute("TRUNCATE segments_customerstats, segments_scopestats")
        rows_out = []
        for scope in SCOPES:
            # count(x.*) makes PostgreSQL compute every aggregate (with count(*) it would drop unused ones)
            base, groups = raw(conn, f"SELECT count(x.*) FROM ({totals_sql(scope)}) x (customer_id, scope_id, "
                                     f"{', '.join(COLUMNS)})", [AS_OF])
            timings = []
            for _ in range(2):  # into the empty table, then again with nothing changed
                started = time.perf_counter()
                with transaction.atomic():
                    _rebuild(scope, now=AS_OF)
                timings.append(time.perf_counter() - started)
            rows_out.append((f"{scope.name}: raw GROUP BY / rebuild empty / rebuild unchanged",
                             f"{ms(base)} / {ms(timings[0])} ({timings[0] / base:.2f}x) / {ms(timings[1])} "
                             f"({timings[1] / base:.2f}x), {groups} rows"))
        report("purchase totals (segments_customerstats, segments_scopestats)", rows_out)

    # --- RFM --------------------------------------------------------------------------------------
    if "rfm" in parts or "counts" in parts:
        start = AS_OF - dt.timedelta(days=365)
        base, scored_raw = raw(conn, f"SELECT count(x.*) FROM ({AGGREGATE}) x", [start, AS_OF])
        connection.cursor().execute("TRUNCATE segments_rfm")
        started = time.perf_counter()
        scored = rfm_recompute(actor=actor, now=AS_OF)
        first = time.perf_counter() - started
        started = time.perf_counter()
        rfm_recompute(actor=actor, now=AS_OF)
        again = time.perf_counter() - started
        report("RFM recomputation (365-day window, quintiles)", [
            ("raw GROUP BY (customer: last, count, sum)", f"{ms(base)} ({scored_raw} groups)"),
            ("full recomputation, empty table", f"{ms(first)} = {first / base:.2f}x of the GROUP BY ({scored} scored)"),
            ("recomputation, unchanged data", f"{ms(again)} = {again / base:.2f}x"),
        ])

    # --- preview counts -----------------------------------------------------------------------------
    if "counts" in parts:
        rows_out = []
        summary = []
        counts_seen: list[tuple[str, int]] = []
        from django.conf import settings

        settings.SEGMENTS_PREVIEW_TIMEOUT_MS = 600_000  # measure, do not stop
        for name, definition, sql in CANNED:
            ours_t, theirs_t = [], []
            for attempt in range(args.repeat + 1):
                started = time.perf_counter()
                compiled = compile_tree(definition_validate(definition), as_of=AS_OF)
                count = compiled_count(compiled)
                ours = time.perf_counter() - started
                theirs, expected = raw(conn, sql)
                if attempt:
                    ours_t.append(ours)
                    theirs_t.append(theirs)
            assert count == expected, (name, count, expected)
            counts_seen.append((name, count))
            print(f"  {name}: ours p50 {ms(statistics.median(ours_t))}, SQL p50 {ms(statistics.median(theirs_t))}",
                  flush=True)
            p50, p95 = statistics.median(ours_t), percentile(ours_t, 95)
            h50, h95 = statistics.median(theirs_t), percentile(theirs_t, 95)
            summary.append((p50, p95, p50 / h50))
            rows_out.append((f"{name} [{count}]", f"p50 {ms(p50)} p95 {ms(p95)} | SQL p50 {ms(h50)} p95 {ms(h95)} "
                                                  f"| {p50 / h50:.2f}x"))
        ok = sum(1 for p50, p95, r in summary if p50 <= 0.3 and p95 <= 1.0 and r <= 1.5)
        rows_out.append(("within all three targets", f"{ok} of {len(summary)}"))
        report(f"preview count, {args.repeat} runs each (ours includes validation + compile)", rows_out)

        # the plan over cheques, for the definitions the totals answer: why segments_customerstats exists
        from segments.definition import definition_parse
        from segments.purchases import _from_purchases
        from segments.conditions import Context

        rows_out = []
        for name, definition, _ in [CANNED[i] for i in (1, 2, 8, 9)]:
            pred = _from_purchases(definition_parse(definition).params, Context(as_of=AS_OF))
            took, count = raw(conn, f"SELECT count(*) FROM crm_customer c WHERE c.state <> 'merged' AND {pred.sql}",
                              pred.params)
            rows_out.append((name, f"{ms(took)} aggregating the cheques instead of the totals [{count}]"))
            if count is not None:
                assert count == next(c for n, c in counts_seen if n == name), name
        report("the same questions without segments_customerstats", rows_out)

    # --- materialisation ----------------------------------------------------------------------------
    if "materialise" in parts:
        Segment.objects.filter(name="bench 10+ purchases").delete()
        connection.cursor().execute("TRUNCATE segments_membership, segments_membershipchange, segments_segmentrefresh")
        segment = segment_create(name="bench 10+ purchases", definition=CANNED[2][1], actor=actor)
        compiled = compile_tree(definition_validate(segment.definition), as_of=AS_OF)
        started = time.perf_counter()
        expected = compiled_count(compiled)
        count_t = time.perf_counter() - started
        ids_sql, ids_params = compiled.ids_sql()
        base, inserted = raw(conn, "CREATE TEMP TABLE bench_ids AS " + ids_sql, ids_params)
        conn.execute("DROP TABLE IF EXISTS bench_ids")
        started = time.perf_counter()
        first = segment_refresh(segment_id=segment.pk, actor=actor)
        first_t = time.perf_counter() - started
        started = time.perf_counter()
        again = segment_refresh(segment_id=segment.pk, actor=actor)
        again_t = time.perf_counter() - started
        report(f"materialising '{segment.name}'", [
            ("members", f"{first.members} (count said {expected}, {ms(count_t)})"),
            ("first refresh (all join, history opened)", f"{ms(first_t)} (target 5000 ms)"),
            ("second refresh (nothing changed)", f"{ms(again_t)}, joined {again.joined}, left {again.left}"),
            ("baseline: CREATE TABLE AS of the same ids", f"{ms(base)} ({inserted} rows)"),
        ])
    conn.close()


if __name__ == "__main__":
    main()
