"""Ledger throughput: accrue-and-redeem transactions per second at 8 concurrent workers, through the
services, against the same row writes in raw SQL (psycopg) in the same run. Target: >= 50% of raw.

    python bench/ledger/run.py --customers 100000 --seconds 20 --workers 8

Each worker is a process with its own connection; each iteration picks a random account, accrues a
random amount (a new lot expiring in 30 days) and then redeems half of it (soonest-expiring lots
first): two transactions. Both phases write the same rows per transaction:

  accrue: lock the account row; insert the lot; insert the entry; update the cached balance;
          insert the audit event
  redeem: lock the account row; read the active lots in spend order; insert the entry; insert the
          lot consumptions; update the lots; update the cached balance; insert the audit event

The services send fewer, larger statements (the lock reads the idempotency key too; one statement of
data-modifying CTEs writes the rest) through Django. A third phase sends exactly the services'
statements through psycopg alone, which isolates what Django and the service code cost.
The database is `bench_ledger` (created by bench.common.bench_setup); data from bench/datagen.py.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# A benchmark measures production settings: no query log kept in memory (DEBUG off).
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-secret")

CENT = Decimal("0.01")


def _amounts(rng: random.Random) -> tuple[Decimal, Decimal]:
    accrue = Decimal(rng.randint(1000, 10000)) / 100
    return accrue, (accrue / 2).quantize(CENT)


# --- our services -------------------------------------------------------------------------------

def _ours(index: int, url: str, customers: int, seconds: float, barrier, results, tag: str = "") -> None:
    os.environ["DATABASE_URL"] = url.replace("postgresql://", "postgres://", 1)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loymax.settings")
    import datetime as dt

    import django

    django.setup()
    from django.db import connection

    from core.actors import Actor
    from crm.models import Account
    from crm.services.ledger import ledger_accrue, ledger_redeem

    actor = Actor.system("bench")
    rng = random.Random(index)
    connection.ensure_connection()
    barrier.wait()
    deadline = time.perf_counter() + seconds
    done, n = 0, 0
    latencies: list[float] = []
    while time.perf_counter() < deadline:
        n += 1
        account = Account(pk=rng.randint(1, customers))
        accrue, redeem = _amounts(rng)
        started = time.perf_counter()
        ledger_accrue(account=account, amount=accrue, source="bench", idempotency_key=f"{tag}o{index}:{n}:a",
                      expire_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30), actor=actor)
        ledger_redeem(account=account, amount=redeem, source="bench", idempotency_key=f"{tag}o{index}:{n}:r", actor=actor)
        latencies.append(time.perf_counter() - started)
        done += 2
    connection.close()
    results.put((done, latencies))


# --- the same writes in raw SQL -----------------------------------------------------------------

def _raw(index: int, url: str, customers: int, seconds: float, barrier, results, tag: str = "") -> None:
    import datetime as dt
    import json

    import psycopg

    rng = random.Random(index)
    conn = psycopg.connect(url)
    cur = conn.cursor()
    audit = ("INSERT INTO core_auditevent (created_at, actor_kind, actor_id, actor_label, action, object_type, object_id, "
             "object_repr, before, after, comment) VALUES (%s, 'system', '', 'bench', %s, 'crm.ledgerentry', %s, '', "
             "NULL, %s, '')")
    entry = ("INSERT INTO crm_ledgerentry (account_id, kind, amount, activated_delta, pending_delta, held_delta, source, "
             "idempotency_key, lot_id, actor_kind, actor_id, description, created_at) "
             "VALUES (%s, %s, %s, %s, 0, 0, 'raw', %s, %s, 'system', '', '', %s) RETURNING id")
    barrier.wait()
    deadline = time.perf_counter() + seconds
    done, n = 0, 0
    latencies: list[float] = []
    while time.perf_counter() < deadline:
        n += 1
        account_id = rng.randint(1, customers)
        accrue, redeem = _amounts(rng)
        started = time.perf_counter()
        now = dt.datetime.now(dt.timezone.utc)
        # accrue
        cur.execute("SELECT id FROM crm_account WHERE id = %s FOR UPDATE", (account_id,))
        cur.execute("INSERT INTO crm_lot (account_id, amount, remaining, state, expire_at, expiring_notified, created_at) "
                    "VALUES (%s, %s, %s, 'active', %s, false, %s) RETURNING id",
                    (account_id, accrue, accrue, now + dt.timedelta(days=30), now))
        lot_id = cur.fetchone()[0]
        cur.execute(entry, (account_id, "accrual", accrue, accrue, f"{tag}r{index}:{n}:a", lot_id, now))
        entry_id = cur.fetchone()[0]
        cur.execute("UPDATE crm_account SET activated_balance = activated_balance + %s, updated_at = %s WHERE id = %s",
                    (accrue, now, account_id))
        cur.execute(audit, (now, "ledger.accrue", str(entry_id), json.dumps({"amount": str(accrue)})))
        conn.commit()
        # redeem
        now = dt.datetime.now(dt.timezone.utc)
        cur.execute("SELECT activated_balance, held_balance FROM crm_account WHERE id = %s FOR UPDATE", (account_id,))
        cur.execute("SELECT id, remaining FROM crm_lot WHERE account_id = %s AND state = 'active' "
                    "ORDER BY expire_at ASC NULLS LAST, id", (account_id,))
        takes, rest = [], redeem
        for lot, remaining in cur.fetchall():
            take = min(rest, remaining)
            takes.append((lot, take, remaining - take))
            rest -= take
            if rest <= 0:
                break
        cur.execute(entry, (account_id, "redemption", -redeem, -redeem, f"{tag}r{index}:{n}:r", None, now))
        entry_id = cur.fetchone()[0]
        cur.execute("INSERT INTO crm_lotconsumption (entry_id, lot_id, amount) VALUES "
                    + ", ".join(["(%s, %s, %s)"] * len(takes)),
                    [v for lot, take, _ in takes for v in (entry_id, lot, take)])
        cur.execute("UPDATE crm_lot AS l SET remaining = v.remaining, state = v.state FROM (VALUES "
                    + ", ".join(["(%s::bigint, %s::numeric, %s::varchar)"] * len(takes))
                    + ") AS v(id, remaining, state) WHERE l.id = v.id",
                    [v for lot, _, left in takes for v in (lot, left, "exhausted" if left == 0 else "active")])
        cur.execute("UPDATE crm_account SET activated_balance = activated_balance - %s, updated_at = %s WHERE id = %s",
                    (redeem, now, account_id))
        cur.execute(audit, (now, "ledger.redeem", str(entry_id), json.dumps({"amount": str(-redeem)})))
        conn.commit()
        latencies.append(time.perf_counter() - started)
        done += 2
    conn.close()
    results.put((done, latencies))


# --- the services' own statements, through psycopg alone -----------------------------------------

def _raw_same_sql(index: int, url: str, customers: int, seconds: float, barrier, results, tag: str = "") -> None:
    """What the services send (lock with key check, one CTE statement per booking), minus Django and
    the service code: the floor of what our approach can cost."""
    os.environ["DATABASE_URL"] = url.replace("postgresql://", "postgres://", 1)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loymax.settings")
    import datetime as dt

    import django

    django.setup()
    import psycopg

    from crm.services.ledger_base import _CREDIT_SQL, _DEBIT_SQL, _LOCK_SQL

    rng = random.Random(index)
    conn = psycopg.connect(url)
    cur = psycopg.ClientCursor(conn)  # as Django's backend does
    common = {"actor_kind": "system", "actor_id": "", "actor_label": "bench", "comment": "", "description": "",
              "purchase": None, "source": "bench"}
    barrier.wait()
    deadline = time.perf_counter() + seconds
    done, n = 0, 0
    latencies: list[float] = []
    while time.perf_counter() < deadline:
        n += 1
        account_id = rng.randint(1, customers)
        accrue, redeem = _amounts(rng)
        started = time.perf_counter()
        now = dt.datetime.now(dt.timezone.utc)
        key = f"{tag}s{index}:{n}:a"
        cur.execute(_LOCK_SQL, ["bench", key, account_id])
        cur.fetchone()
        cur.execute(_CREDIT_SQL, {**common, "account": account_id, "amount": accrue, "state": "active", "activate_at": None,
                                  "expire_at": now + dt.timedelta(days=30), "now": now, "kind": "accrual",
                                  "activated": accrue, "pending": Decimal(0), "key": key, "signed": accrue,
                                  "action": "ledger.accrue"})
        conn.commit()
        now = dt.datetime.now(dt.timezone.utc)
        key = f"{tag}s{index}:{n}:r"
        cur.execute(_LOCK_SQL, ["bench", key, account_id])
        cur.fetchone()
        cur.execute(_DEBIT_SQL, {**common, "account": account_id, "amount": redeem, "held": Decimal(0), "kind": "redemption",
                                 "key": key, "hold": None, "now": now, "signed": -redeem, "action": "ledger.redeem"})
        conn.commit()
        latencies.append(time.perf_counter() - started)
        done += 2
    conn.close()
    results.put((done, latencies))


def _phase(target, *, url: str, workers: int, customers: int, seconds: float) -> tuple[float, list[float]]:
    ctx = mp.get_context("spawn")  # fresh interpreters: no connection inherited across a fork
    barrier = ctx.Barrier(workers + 1)
    results = ctx.Queue()
    tag = f"{time.time_ns()}:"  # idempotency keys unique across runs and rounds
    procs = [ctx.Process(target=target, args=(i, url, customers, seconds, barrier, results, tag)) for i in range(workers)]
    for proc in procs:
        proc.start()
    barrier.wait()  # every worker is set up and connected: the clock starts now
    started = time.perf_counter()
    collected = [results.get(timeout=seconds + 120) for _ in procs]
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join()
    total = sum(done for done, _ in collected)
    return total / elapsed, [lat for _, lats in collected for lat in lats]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the phases this many times (noisy machines)")
    parser.add_argument("--keep-data", action="store_true", help="reuse the generated customers of an earlier run")
    args = parser.parse_args()

    import psycopg

    from bench.common import bench_setup, percentile, ratio, report, timed
    from bench.datagen import Sizes, generate

    url = bench_setup("ledger")
    with psycopg.connect(url, autocommit=True) as conn:
        have = conn.execute("select count(*) from crm_account").fetchone()[0]
        if not args.keep_data or have < args.customers:
            with timed() as took:
                generate(conn, Sizes(customers=args.customers))
            print(f"generated {args.customers} customers with accounts in {took[0]:.1f} s")
    phases = {"services": _ours, "raw": _raw, "raw_same_sql": _raw_same_sql}
    rates: dict[str, list[float]] = {name: [] for name in phases}
    lats: dict[str, list[float]] = {name: [] for name in phases}
    for round_ in range(args.rounds):  # phases alternate, so a noisy neighbour hurts each alike
        for name, target in phases.items():
            rate, lat = _phase(target, url=url, workers=args.workers, customers=args.customers, seconds=args.seconds)
            rates[name].append(rate)
            lats[name] += lat
        print(f"round {round_ + 1}: " + ", ".join(f"{name} {values[-1]:.0f} tx/s" for name, values in rates.items()))
    ours, raw, same = (sum(rates[k]) / len(rates[k]) for k in ("services", "raw", "raw_same_sql"))
    ours_lat, raw_lat = lats["services"], lats["raw"]
    with psycopg.connect(url, autocommit=True) as conn:
        problems = conn.execute(
            "select count(*) from crm_account a left join (select account_id, sum(activated_delta) s from crm_ledgerentry "
            "group by account_id) e on e.account_id = a.id where a.activated_balance <> coalesce(e.s, 0)").fetchone()[0]
    report(
        f"ledger: accrue + redeem, {args.workers} workers, {args.customers} accounts, {args.seconds:.0f} s x {args.rounds}",
        [
            ("services (tx/s)", f"{ours:.0f}"),
            ("raw SQL (tx/s)", f"{raw:.0f}"),
            ("ratio", f"{ratio(ours, raw)} (target >= 0.50x)"),
            ("raw SQL, the services' statements (tx/s)", f"{same:.0f} (services = {ratio(ours, same)})"),
            ("services pair p50/p95 (ms)", f"{percentile(ours_lat, 50) * 1000:.1f} / {percentile(ours_lat, 95) * 1000:.1f}"),
            ("raw pair p50/p95 (ms)", f"{percentile(raw_lat, 50) * 1000:.1f} / {percentile(raw_lat, 95) * 1000:.1f}"),
            ("accounts whose balance != entries", str(problems)),
        ],
    )


if __name__ == "__main__":
    main()
