"""Benchmark: one cheque of 30 lines against 200 active offers, in process.

Target (issue 7): p50 <= 2 ms, p99 <= 10 ms per evaluation, measured as processing calls it
(`offers.snapshot.cheque_evaluate`: one Redis version check, then the pure engine); the pure
engine alone is shown beside it. Baseline, in the same run: a trivial loop over the same lines
that sums their amounts.

Two offer mixes (bench/datagen.py OFFER_MIXES): "realistic" (most offers are promotions on narrow
product groups; the target applies to it) and "stress" (broad groups everywhere: most offers
compete for most lines; reported for information).

    .venv/bin/python bench/engine/run.py [--offers 200] [--lines 30] [--iterations 3000] [--db bench_offers]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import datagen  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def build_cheques(skus: list[str], count: int, lines: int, seed: int = 3) -> list:
    from offers.engine import CardFacts, Cheque, CustomerFacts, Line, PresentedCoupon

    rng = random.Random(seed)
    member = CustomerFacts(
        id=42, birth_date=dt.date(1988, 5, 17), registered_on=dt.date(2021, 3, 1), statuses={"tier": "gold"},
        segment_ids=frozenset({3, 7, 11}), attributes={"favourite": "coffee"},
        groups={"children": ({"sex": "male", "birth_date": "2016-04-02"},)})
    cheques = []
    for n in range(count):
        rows = []
        for position in range(1, lines + 1):
            qty = Decimal(rng.choice(["1", "1", "2", "3", "0.750"]))
            price = Decimal(f"{rng.randint(30, 3000)}.{rng.randint(0, 99):02d}")
            rows.append(Line(position, rng.choice(skus), qty, price, (price * qty).quantize(Decimal("0.01"))))
        cheques.append(Cheque(
            purchased_at=dt.datetime(2024, 5, 17, 9, 30, tzinfo=dt.timezone.utc) + dt.timedelta(hours=n % 12),
            lines=tuple(rows), timezone="Europe/Moscow", store_id=1, partner_id=1,
            customer=member if n % 4 else None, card=CardFacts(category="gold", kind="physical"),
            coupons=(PresentedCoupon("BENCH", rng.randint(1, 50)),) if n % 3 == 0 else ()))
    return cheques


def measure(args, data: dict, mix: str) -> dict:
    from offers.engine import evaluate
    from offers.snapshot import cheque_evaluate, snapshot_forget, snapshot_get, version_bump

    datagen.offers(count=args.offers, categories=data["categories"], promo_groups=data["promo_groups"], mix=mix)
    snapshot_forget()
    version_bump()  # outside a transaction: at once
    started = time.perf_counter()
    snapshot = snapshot_get()
    compile_ms = (time.perf_counter() - started) * 1000
    assert len(snapshot.offers) == args.offers, len(snapshot.offers)
    cheques = build_cheques(data["skus"], args.cheques, args.lines)

    def timed(fn) -> list[float]:
        out = []
        for i in range(args.iterations):
            cheque = cheques[i % len(cheques)]
            t0 = time.perf_counter_ns()
            fn(cheque)
            out.append((time.perf_counter_ns() - t0) / 1e6)
        return out

    def baseline(cheque) -> Decimal:
        total = Decimal("0")
        for line in cheque.lines:
            total += line.amount
        return total

    for cheque in cheques:  # warm up
        cheque_evaluate(cheque)
    cpu0 = time.process_time()
    full = timed(cheque_evaluate)
    cpu_ms = (time.process_time() - cpu0) * 1000 / args.iterations
    pure = timed(lambda c: evaluate(snapshot, c))
    base = timed(baseline)
    applied = statistics.fmean(sum(1 for e in cheque_evaluate(c).trace if e.applied) for c in cheques)
    return {"mix": mix, "compile_ms": compile_ms, "applied": applied, "p50": percentile(full, 50),
            "p99": percentile(full, 99), "cpu": cpu_ms, "pure50": percentile(pure, 50), "pure99": percentile(pure, 99),
            "b50": percentile(base, 50), "b99": percentile(base, 99)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="bench_offers")
    parser.add_argument("--offers", type=int, default=200)
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--cheques", type=int, default=50, help="distinct cheques cycled through")
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--mix", choices=["realistic", "stress", "both"], default="both")
    args = parser.parse_args()

    datagen.django_setup(args.db)
    data = datagen.catalogue(products=args.products)
    mixes = ["realistic", "stress"] if args.mix == "both" else [args.mix]
    results = [measure(args, data, mix) for mix in mixes]

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"engine benchmark: {args.offers} active offers, {args.lines}-line cheques ({args.cheques} distinct), "
          f"{args.iterations} evaluations; {args.products} products; load average {load:.1f} on {os.cpu_count()} CPUs")
    ok = True
    for r in results:
        print(f"[{r['mix']}] compile {r['compile_ms']:.0f} ms; {r['applied']:.1f} offers applied per cheque on average")
        print(f"  cheque_evaluate (Redis check + engine): p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  "
              f"(CPU {r['cpu']:.3f} ms per evaluation)")
        print(f"  engine alone:                          p50 {r['pure50']:.3f} ms  p99 {r['pure99']:.3f} ms")
        print(f"  baseline (sum of 30 amounts):          p50 {r['b50'] * 1000:.1f} us  p99 {r['b99'] * 1000:.1f} us  "
              f"-> p50 ratio {r['p50'] / r['b50']:.0f}x")
        if r["mix"] == "realistic":
            ok = r["p50"] <= 2.0 and r["p99"] <= 10.0
            print(f"  target p50 <= 2 ms, p99 <= 10 ms: {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
