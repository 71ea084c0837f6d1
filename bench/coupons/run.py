"""Benchmark: generate 1,000,000 unique coupon codes of one issue (target: at most 30 s).

Measured: the batch task's body (`offers.services.coupons.coupon_generate_run`): random codes drawn
with `secrets`, COPY into a staging table, INSERT ... ON CONFLICT DO NOTHING into offers_coupon
(unique index on code), topping up collisions, then the whole batch turned from created to issued.
Baseline, in the same run: a raw COPY of 1,000,000 pre-generated random strings into a plain table.

    .venv/bin/python bench/coupons/run.py [--count 1000000] [--db bench_offers]
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import datagen  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="bench_offers")
    parser.add_argument("--count", type=int, default=1_000_000)
    args = parser.parse_args()

    datagen.django_setup(args.db)
    from django.db import connection

    from core.actors import Actor
    from offers.models import Coupon, CouponIssue
    from offers.services.coupons import coupon_generate_run, coupon_issue_create

    datagen.truncate("offers_couponredemption", "offers_coupon", "offers_coupongrant", "offers_couponissue")

    # Baseline: raw COPY of pre-generated strings (generation not timed).
    raw = "\n".join(secrets.token_hex(6) for _ in range(args.count)) + "\n"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw_codes")
        cursor.execute("CREATE TABLE bench_raw_codes (code text)")
        started = time.perf_counter()
        with cursor.copy("COPY bench_raw_codes (code) FROM STDIN") as copy:
            copy.write(raw)
        baseline = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_raw_codes")
    del raw

    issue = coupon_issue_create(actor=Actor.system("bench"), title="bench batch", kind="distribution",
                                code_prefix="B", code_length=12, alphabet="safe", lifetime_days=90)
    CouponIssue.objects.filter(pk=issue.pk).update(requested_count=args.count, generation="queued")
    started = time.perf_counter()
    issue = coupon_generate_run(issue_id=issue.pk, actor=Actor.system("bench"))
    elapsed = time.perf_counter() - started

    total = Coupon.objects.filter(issue=issue).count()
    issued = Coupon.objects.filter(issue=issue, state="issued").count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT code) FROM offers_coupon WHERE issue_id = %s", [issue.pk])
        distinct = cursor.fetchone()[0]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"coupon benchmark: {args.count:,} codes (prefix B + 12 of 32 characters), load average {load:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"  generated {total:,} ({distinct:,} distinct, {issued:,} issued) in {elapsed:.1f} s "
          f"= {total / elapsed:,.0f} codes/s")
    print(f"  baseline raw COPY of {args.count:,} strings: {baseline:.1f} s = {args.count / baseline:,.0f} rows/s "
          f"-> ratio {elapsed / baseline:.1f}x")
    ok = total == args.count == distinct == issued and elapsed <= 30.0 * args.count / 1_000_000
    print(f"  target 1,000,000 codes in <= 30 s: {'PASS' if ok else 'FAIL'}")
    datagen.truncate("offers_coupon")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
