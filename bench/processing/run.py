"""The till API under load: calculate then confirm over HTTP through gunicorn, against a raw-SQL floor.

    .venv/bin/python bench/processing/run.py [--customers 200000] [--offers 200] [--tills 8,32]
        [--seconds 60] [--workers N] [--worker-class sync|gthread] [--threads T] [--reuse-data] [--smoke]

Issue 8. Data (bench/datagen.py, COPY): `customers` customers with a card and an account each, every
second account with activated points (one lot + its accrual entry), a 20,000-product catalogue,
`offers` active offers of the realistic mix, one till per concurrent client (known secrets), two
counters a confirm feeds. The database is `bench_processing` (bench.common.bench_setup).

For each concurrency level (number of tills), in the same run:

1. floor: the database writes one cheque makes, by psycopg alone (one connection per till thread,
   the services' own ledger statements): calculate = insert the purchase, its lines and line
   offers, and for a bonus payment lock the account and open a hold (hold, entry, held balance,
   audit); confirm = lock the purchase, spend the hold (redemption from lots, consumptions, balance,
   audit) and close it, accrue the bonus (pending lot, entry, balance, audit), mark the purchase
   confirmed, feed the counters (counted purchase, counter value upserts under the shared advisory
   locks). No reads beyond the locks, no offer evaluation, no HTTP: what the API cannot go below.
2. HTTP: as many till threads, each with one persistent connection (http.client), calculating and
   confirming cheques of 5 to 30 lines in a loop with unique numbers; 20% of them pay 10.00 points
   from a customer who has them. Latency of a cheque = calculate + confirm, as the till waits.

The figure is HTTP cheques/s as a ratio of the floor's, with p50/p95/p99 (per cheque and per
request), error counts by endpoint/status/code, and the targets of the issue with PASS/MISS:
8 tills: cheque p50 <= 20 ms, p99 <= 60 ms, >= 300 cheques/s; 32 tills: cheque p99 <= 250 ms.
Results also go to bench/out/processing.json. Exit status: 0 all ran (and, full size, all targets
met); 1 a target missed; 2 the API is missing or answered errors.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# A benchmark measures production settings: no query log kept in memory (DEBUG off).
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-secret")

OUT = ROOT / "bench" / "out"
CENT = Decimal("0.01")
CALCULATE, CONFIRM = "/api/v1/pos/calculate", "/api/v1/pos/confirm"
ANSWER_KEYS = ("purchase_id", "number", "state", "totals", "lines", "balance")
BONUS_SHARE, BONUS_PAYMENT = 0.2, Decimal("10.00")
# Issue 8: per cheque (calculate + confirm) at 8 tills, p99 at 32.
TARGETS = {8: {"p50_ms": 20.0, "p99_ms": 60.0, "cheques_s": 300.0}, 32: {"p99_ms": 250.0}}
SMOKE = {"customers": 2_000, "offers": 20, "tills": "2", "seconds": 3.0, "products": 2_000}


# --- the workload: the same cheques for the floor and for HTTP ----------------------------------------

@dataclass(frozen=True)
class TillInfo:
    id: int
    store_id: int
    api_key: str
    secret: str
    tz: zoneinfo.ZoneInfo


@dataclass(frozen=True)
class Workload:
    products: list[tuple[int, str, Decimal]]  # (id, sku, price)
    customers: int
    balance_every: int
    tills: list[TillInfo]
    counters: list[tuple[int, str, str]]  # (id, aggregate, period)


@dataclass
class ChequeSpec:
    customer: int
    lines: list[tuple[int, int, str, int, Decimal, Decimal]]  # (position, product id, sku, qty, price, amount)
    bonus_payment: Decimal

    @property
    def card(self) -> str:
        return f"2{self.customer:011d}"  # datagen.generate_customers: card of customer i


def cheque_make(rng: random.Random, work: Workload) -> ChequeSpec:
    lines = []
    for position in range(1, rng.randint(5, 30) + 1):
        product_id, sku, price = rng.choice(work.products)
        qty = rng.choice((1, 1, 1, 2, 3))
        lines.append((position, product_id, sku, qty, price, price * qty))
    if rng.random() < BONUS_SHARE:  # a customer with points (datagen.balances funds every n-th account)
        customer = work.balance_every * rng.randint(1, work.customers // work.balance_every)
        return ChequeSpec(customer, lines, BONUS_PAYMENT)
    return ChequeSpec(rng.randint(1, work.customers), lines, Decimal(0))


def workload_load(conn, *, customers: int, till_count: int, balance_every: int) -> Workload:
    from bench.datagen import BENCH_COUNTERS, till_credentials

    products = [(pid, sku, price) for pid, sku, price in conn.execute(
        "select id, sku, price from catalogue_product where is_active and price > 0 order by id")]
    tills = []
    for n in range(1, till_count + 1):
        key, secret = till_credentials(n)
        row = conn.execute("select t.id, t.store_id, s.timezone from catalogue_till t join catalogue_store s "
                           "on s.id = t.store_id where t.api_key = %s", (key,)).fetchone()
        tills.append(TillInfo(row[0], row[1], key, secret, zoneinfo.ZoneInfo(row[2])))
    codes = [c[0] for c in BENCH_COUNTERS]
    counters = [tuple(r) for r in conn.execute(
        "select id, aggregate, period from attributes_counter where code = any(%s) and is_active order by id", (codes,))]
    return Workload(products, customers, balance_every, tills, counters)


# --- results of one phase ---------------------------------------------------------------------------

@dataclass
class Tally:
    cheques: int = 0
    cheque_ms: list[float] = field(default_factory=list)
    calculate_ms: list[float] = field(default_factory=list)
    confirm_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    finished: float = 0.0

    def merge(self, other: Tally) -> None:
        self.cheques += other.cheques
        self.cheque_ms += other.cheque_ms
        self.calculate_ms += other.calculate_ms
        self.confirm_ms += other.confirm_ms
        self.errors.update(other.errors)
        self.finished = max(self.finished, other.finished)


def summary(tally: Tally, elapsed: float) -> dict[str, Any]:
    from bench.common import percentile

    def pcts(values: list[float]) -> dict[str, float | None]:
        return {f"p{p}_ms": round(percentile(values, p), 2) if values else None for p in (50, 95, 99)}

    return {"cheques": tally.cheques, "seconds": round(elapsed, 2),
            "cheques_s": round(tally.cheques / elapsed, 1) if elapsed else 0.0,
            "cheque": pcts(tally.cheque_ms), "calculate": pcts(tally.calculate_ms), "confirm": pcts(tally.confirm_ms),
            "errors": sum(tally.errors.values()),
            "errors_by_kind": {" ".join(map(str, k)): v for k, v in tally.errors.most_common()}}


def run_threads(count: int, seconds: float, body) -> tuple[Tally, float, float]:
    """`count` threads run `body(index, deadline, start_event) -> Tally`; returns the merged tally, the
    elapsed wall time (start to the last thread's end) and this process's CPU seconds meanwhile."""
    results: list[Tally | None] = [None] * count
    ready = threading.Barrier(count + 1)
    box: dict[str, float] = {}

    def target(index: int) -> None:
        tally = Tally()
        try:
            ready.wait()
            results[index] = body(index, box["deadline"], tally)
        except Exception as exc:  # a broken thread is an error of the run, never a crash of the driver
            tally.errors[("thread", "exception", type(exc).__name__)] += 1
            tally.finished = time.perf_counter()
            results[index] = tally

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    cpu = time.process_time()
    started = time.perf_counter()
    box["deadline"] = started + seconds
    ready.wait()
    for thread in threads:
        thread.join(seconds + 120)
    merged = Tally()
    for tally in results:
        if tally is not None:
            merged.merge(tally)
    return merged, max(merged.finished, started + 1e-9) - started, time.process_time() - cpu


# --- the floor: the same writes through psycopg --------------------------------------------------


PURCHASE_SQL = (
    "INSERT INTO crm_purchase (till_id, store_id, number, kind, original_id, customer_id, card_id, state, purchased_at, "
    "offline, amount, discount, bonus_accrued, bonus_paid, trace, answer, created_at, confirmed_at) "
    "VALUES (%s, %s, %s, 'sale', NULL, %s, %s, 'calculated', %s, false, %s, %s, %s, %s, %s, %s, %s, NULL) RETURNING id")
LOCK_NS = 774411  # attributes.services.counters.LOCK_NS


def cheque_figures(spec: ChequeSpec) -> dict[str, Any]:
    """What the API would decide for the floor's cheque: 10% off a third of the lines, 3% bonus on
    what is paid, the bonus payment taken from the first line. (The floor writes; it does not judge.)"""
    rows = []
    for position, product_id, sku, qty, price, amount in spec.lines:
        discount = (amount * Decimal("0.10")).quantize(CENT) if position % 3 == 0 else Decimal(0)
        paid = spec.bonus_payment if position == 1 else Decimal(0)
        accrued = ((amount - discount - paid) * Decimal("0.03")).quantize(CENT)
        rows.append((position, product_id, sku, qty, price, amount, discount, max(accrued, Decimal(0)), paid))
    return {"lines": rows, "amount": sum(r[5] for r in rows), "discount": sum(r[6] for r in rows),
            "accrued": sum(r[7] for r in rows), "paid": spec.bonus_payment}


def floor_cheque(conn, cur, till: TillInfo, spec: ChequeSpec, number: str, work: Workload) -> tuple[float, float]:
    """One cheque's writes, calculate then confirm, each its own transaction. Returns both latencies (s)."""
    from crm.services.ledger_base import _CREDIT_SQL, _DEBIT_SQL, _HOLD_SQL, _LOCK_SQL

    account = spec.customer  # datagen: customer i owns card i and account i
    figures = cheque_figures(spec)
    actor = f"till:{till.id}"
    common = {"actor_kind": "till", "actor_id": actor, "actor_label": actor, "comment": "", "description": ""}
    t0 = time.perf_counter()
    now = dt.datetime.now(dt.timezone.utc)
    answer_lines = [{"position": r[0], "discount": str(r[6]), "bonus_accrued": str(r[7]), "bonus_paid": str(r[8]),
                     "offers": [7] if r[6] else []} for r in figures["lines"]]
    answer = {"number": number, "state": "calculated", "lines": answer_lines,
              "totals": {"amount": str(figures["amount"]), "discount": str(figures["discount"]),
                         "bonus_accrued": str(figures["accrued"]), "bonus_paid": str(figures["paid"])}}
    trace = [{"offer": n, "name": f"offer {n}", "applied": n in (3, 7), "reason": "product group"} for n in range(1, 9)]
    cur.execute(PURCHASE_SQL, (till.id, till.store_id, number, spec.customer, spec.customer, now, figures["amount"],
                               figures["discount"], figures["accrued"], figures["paid"], json.dumps(trace),
                               json.dumps(answer), now))
    purchase_id = cur.fetchone()[0]
    values = ", ".join(["(%s, %s, %s, %s, '', %s, %s, %s, %s, %s, %s, 0)"] * len(figures["lines"]))
    cur.execute(
        "INSERT INTO crm_purchaseline (purchase_id, position, product_id, sku, name, quantity, price, amount, discount, "
        f"bonus_accrued, bonus_paid, refunded_quantity) VALUES {values} RETURNING id, position",
        [v for r in figures["lines"] for v in (purchase_id, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8])])
    line_ids = dict((position, line_id) for line_id, position in cur.fetchall())
    offers = []
    for r in figures["lines"]:
        offers.append((line_ids[r[0]], 3, "bonus 3", "bonus", r[7]))
        if r[6]:
            offers.append((line_ids[r[0]], 7, "promo 7", "discount", r[6]))
    cur.execute("INSERT INTO crm_purchaselineoffer (line_id, offer_id, offer_name, effect, value) VALUES "
                + ", ".join(["(%s, %s, %s, %s, %s)"] * len(offers)), [v for o in offers for v in o])
    hold_id = None
    if spec.bonus_payment:
        cur.execute("SELECT activated_balance - held_balance FROM crm_account WHERE id = %s FOR UPDATE", (account,))
        available = cur.fetchone()[0]
        if available >= spec.bonus_payment:
            cur.execute(_HOLD_SQL, {"account": account, "amount": spec.bonus_payment, "source": "purchase",
                                    "key": f"{purchase_id}", "expires_at": now + dt.timedelta(minutes=15), "now": now,
                                    "kind": "hold", "entry_source": "hold", "description": "", "actor_kind": "till",
                                    "actor_id": actor, "actor_label": actor, "action": "ledger.hold", "comment": ""})
            hold_id = cur.fetchone()[0]
    conn.commit()
    t1 = time.perf_counter()

    now = dt.datetime.now(dt.timezone.utc)
    cur.execute("SELECT id, state FROM crm_purchase WHERE till_id = %s AND kind = 'sale' AND number = %s FOR UPDATE",
                (till.id, number))
    cur.fetchone()
    if hold_id is not None:
        key = f"{hold_id}:confirm"
        cur.execute(_LOCK_SQL, ["hold", key, account])
        cur.fetchone()
        cur.execute(_DEBIT_SQL, {**common, "account": account, "amount": spec.bonus_payment, "held": spec.bonus_payment,
                                 "kind": "redemption", "source": "hold", "key": key, "purchase": purchase_id,
                                 "hold": hold_id, "now": now, "signed": -spec.bonus_payment,
                                 "action": "ledger.hold_confirm"})
        cur.fetchone()
        cur.execute("UPDATE crm_hold SET state = 'confirmed', closed_at = %s WHERE id = %s", (now, hold_id))
    if figures["accrued"] > 0:
        key = f"{purchase_id}:accrual"
        if hold_id is None:
            cur.execute(_LOCK_SQL, ["purchase", key, account])
            cur.fetchone()
        tomorrow = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        cur.execute(_CREDIT_SQL, {**common, "account": account, "amount": figures["accrued"], "state": "pending",
                                  "activate_at": tomorrow, "expire_at": tomorrow + dt.timedelta(days=365), "now": now,
                                  "kind": "accrual", "activated": Decimal(0), "pending": figures["accrued"],
                                  "key": key, "purchase": purchase_id, "source": "purchase",
                                  "signed": figures["accrued"], "action": "ledger.accrue"})
        cur.fetchone()
    answer["state"] = "confirmed"
    cur.execute("UPDATE crm_purchase SET state = 'confirmed', confirmed_at = %s, answer = %s WHERE id = %s",
                (now, json.dumps(answer), purchase_id))
    if work.counters:
        cur.execute("SELECT pg_advisory_xact_lock_shared(%s, id) FROM unnest(%s::int[]) AS id ORDER BY id",
                    [LOCK_NS, [c[0] for c in work.counters]])
        cur.execute("INSERT INTO attributes_countedpurchase (purchase_id, customer_id, counted_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING", (purchase_id, spec.customer, now))
        local = now.astimezone(zoneinfo.ZoneInfo("Europe/Moscow")).date()
        rows = []
        for counter_id, aggregate, period in work.counters:
            start = local.replace(day=1) if period == "month" else dt.date(1970, 1, 1)
            delta = figures["amount"] - figures["discount"] if aggregate == "sum" else Decimal(1)
            rows.append((counter_id, spec.customer, start, delta))
        cur.execute(
            "INSERT INTO attributes_countervalue (counter_id, customer_id, period_start, value, imported, updated_at) "
            "VALUES " + ", ".join(["(%s, %s, %s, %s, 0, now())"] * len(rows))
            + " ON CONFLICT (counter_id, customer_id, period_start) "
              "DO UPDATE SET value = attributes_countervalue.value + EXCLUDED.value, updated_at = now()",
            [v for row in rows for v in row])
    conn.commit()
    return t1 - t0, time.perf_counter() - t1


def phase_floor(url: str, work: Workload, tills: int, seconds: float, tag: str) -> tuple[Tally, float, float]:
    import psycopg

    def body(index: int, deadline: float, tally: Tally) -> Tally:
        till = work.tills[index]
        rng = random.Random(f"floor-{tag}-{index}")
        with psycopg.connect(url) as conn:
            cur = psycopg.ClientCursor(conn)  # as Django's backend binds
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                spec = cheque_make(rng, work)
                try:
                    calc, conf = floor_cheque(conn, cur, till, spec, f"F{tag}-{tills}-{index}-{n}", work)
                except psycopg.Error as exc:
                    conn.rollback()
                    tally.errors[("floor", "sql", type(exc).__name__)] += 1
                    continue
                tally.cheques += 1
                tally.calculate_ms.append(calc * 1000)
                tally.confirm_ms.append(conf * 1000)
                tally.cheque_ms.append((calc + conf) * 1000)
        tally.finished = time.perf_counter()
        return tally

    return run_threads(tills, seconds, body)


# --- HTTP: tills over persistent connections -----------------------------------------------------

class TillClient:
    """One till: one keep-alive connection (reopened by http.client when the server closes it)."""

    def __init__(self, port: int, till: TillInfo, timeout: float = 30.0) -> None:
        self.port, self.timeout = port, timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.headers = {"Authorization": f"Till {till.api_key}:{till.secret}", "Content-Type": "application/json",
                        "Accept": "application/json"}

    def post(self, path: str, body: dict[str, Any]) -> tuple[int | str, Any, float]:
        """(status or exception name, parsed JSON or raw text, seconds)."""
        data = json.dumps(body).encode()
        started = time.perf_counter()
        try:
            self.conn.request("POST", path, body=data, headers=self.headers)
            response = self.conn.getresponse()
            raw = response.read()
            status = response.status
            if response.will_close:
                self.conn.close()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            return type(exc).__name__, None, time.perf_counter() - started
        elapsed = time.perf_counter() - started
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw[:200].decode("utf-8", "replace")
        return status, payload, elapsed

    def close(self) -> None:
        self.conn.close()


def cheque_body(spec: ChequeSpec, number: str, till: TillInfo) -> dict[str, Any]:
    local = dt.datetime.now(till.tz).replace(tzinfo=None, microsecond=0)
    return {"number": number, "purchased_at": local.isoformat(), "identifier": {"kind": "card", "value": spec.card},
            "lines": [{"position": position, "sku": sku, "quantity": str(qty), "price": str(price), "amount": str(amount)}
                      for position, _, sku, qty, price, amount in spec.lines],
            "coupons": [], "bonus_payment": str(spec.bonus_payment) if spec.bonus_payment else "0"}


def error_key(endpoint: str, status: int | str, payload: Any) -> tuple[str, str, str]:
    code = payload.get("code", "-") if isinstance(payload, dict) else ("non-json" if payload else "-")
    return endpoint, str(status), str(code)


def http_cheque(client: TillClient, till: TillInfo, spec: ChequeSpec, number: str, tally: Tally) -> None:
    status, payload, calc = client.post(CALCULATE, cheque_body(spec, number, till))
    if isinstance(status, str):  # no answer at all (refused, reset, timed out): count it, do not spin
        tally.errors[error_key("calculate", status, payload)] += 1
        time.sleep(0.05)
        return
    tally.calculate_ms.append(calc * 1000)
    if status != 200:
        tally.errors[error_key("calculate", status, payload)] += 1
        return
    missing = [k for k in ANSWER_KEYS if not isinstance(payload, dict) or k not in payload]
    if missing:
        tally.errors[("calculate", "200", "answer lacks " + ",".join(missing))] += 1
    status, payload, conf = client.post(CONFIRM, {"number": number})
    tally.confirm_ms.append(conf * 1000)
    if status != 200:
        tally.errors[error_key("confirm", status, payload)] += 1
        return
    tally.cheques += 1
    tally.cheque_ms.append((calc + conf) * 1000)


def _http_body(port: int, work: Workload, tills: int, tag: str):
    def body(index: int, deadline: float, tally: Tally) -> Tally:
        till = work.tills[index]
        rng = random.Random(f"http-{tag}-{index}")
        client = TillClient(port, till)
        n = 0
        try:
            while time.perf_counter() < deadline:
                n += 1
                http_cheque(client, till, cheque_make(rng, work), f"H{tag}-{tills}-{index}-{n}", tally)
        finally:
            client.close()
        tally.finished = time.perf_counter()
        return tally

    return body


def _client_process(port: int, work: Workload, indexes: list[int], tills: int, seconds: float, tag: str,
                    barrier, queue) -> None:
    """A client process: threads for the tills `indexes`, started together with the other processes."""
    sys.setswitchinterval(0.0005)  # a thread whose answer arrived gets the GIL quickly
    inner = _http_body(port, work, tills, tag)
    try:
        barrier.wait()
        queue.put(run_threads(len(indexes), seconds, lambda i, deadline, tally: inner(indexes[i], deadline, tally)))
    except Exception as exc:  # never leave the parent waiting
        tally = Tally()
        tally.errors[("client", "exception", type(exc).__name__)] += 1
        queue.put((tally, 0.0, 0.0))


def phase_http(port: int, work: Workload, tills: int, seconds: float, tag: str,
               procs: int = 1) -> tuple[Tally, float, float]:
    """`tills` till threads spread over `procs` client processes (so that the driver's own Python, one
    GIL per process, is not what limits the rate). Returns the merged tally, the longest process's
    elapsed time and the client processes' CPU seconds."""
    procs = max(1, min(procs, tills))
    if procs == 1:
        sys.setswitchinterval(0.0005)
        return run_threads(tills, seconds, _http_body(port, work, tills, tag))
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # fresh interpreters: nothing inherited
    barrier, queue = ctx.Barrier(procs + 1), ctx.Queue()
    groups = [list(range(tills))[k::procs] for k in range(procs)]
    children = [ctx.Process(target=_client_process, args=(port, work, group, tills, seconds, tag, barrier, queue),
                            daemon=True) for group in groups]
    for child in children:
        child.start()
    merged, longest, cpu = Tally(), 0.0, 0.0
    try:
        barrier.wait(timeout=120)
        for _ in children:
            tally, elapsed, used = queue.get(timeout=seconds + 180)
            merged.merge(tally)
            longest, cpu = max(longest, elapsed), cpu + used
    except Exception as exc:  # a client process died: report it, do not crash the run
        merged.errors[("client", "exception", type(exc).__name__)] += 1
    for child in children:
        child.join(10)
        if child.is_alive():
            child.terminate()
    return merged, longest or seconds, cpu


def api_probe(port: int, work: Workload, tag: str) -> tuple[bool, str]:
    """One cheque before the timed phases. (False, why) when the till API is not there at all."""
    till = work.tills[0]
    client = TillClient(port, till)
    spec = cheque_make(random.Random(tag), work)
    status, payload, _ = client.post(CALCULATE, cheque_body(spec, f"P{tag}", till))
    if status == 200:
        status, payload, _ = client.post(CONFIRM, {"number": f"P{tag}"})
    client.close()
    routed = isinstance(payload, dict) and not str(payload.get("message", "")).startswith("No endpoint at")
    if status == 404 and not routed:  # loymax.api.errors answers unknown paths so; Django's own 404 is HTML
        return False, (f"THE TILL API IS MISSING: POST {CALCULATE} answered 404 (no such endpoint), so "
                       "processing.api is not on this branch yet. HTTP phases skipped; the floor below still ran.")
    if status != 200:
        return True, f"probe cheque: HTTP {status} {json.dumps(payload)[:300] if payload is not None else ''}"
    return True, "probe cheque: calculated and confirmed"


# --- gunicorn -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn serving loymax.wsgi on a free port, against the benchmark database, DEBUG off."""

    def __init__(self, *, workers: int, worker_class: str, threads: int, log: Path) -> None:
        self.port = free_port()
        self.log = log
        env = {**os.environ, "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING",
               # Connections outlive a phase, so the backends measured at its end are the ones
               # that did its work (with the default 60 s they were recycled mid-phase: 0 ms).
               "DB_CONN_MAX_AGE": os.environ.get("DB_CONN_MAX_AGE", "3600")}
        command = [str(Path(sys.executable).parent / "gunicorn"), "loymax.wsgi:application",
                   "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--worker-class", worker_class,
                   "--backlog", "2048", "--timeout", "120", "--graceful-timeout", "5", "--keep-alive", "30",
                   "--log-level", "warning", "--error-logfile", str(log)]
        if worker_class == "gthread":
            command += ["--threads", str(threads)]
        self.handle = log.open("ab")
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.handle, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited ({self.proc.returncode}); see {self.log}:\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/")
                conn.getresponse().read()
                conn.close()
                return
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer within {timeout:.0f} s; see {self.log}")

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """CPU (user + system) the gunicorn master and its workers have used so far, from /proc: the
        server's cost per cheque is its growth over a phase divided by the cheques (Linux only)."""
        return sum(cpu for pid, ppid, cpu in proc_cpu() if self.proc.pid in (pid, ppid))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.handle.close()


def proc_cpu() -> list[tuple[int, int, float]]:
    """(pid, parent pid, CPU seconds used) of every process this user may read in /proc."""
    tick, out = os.sysconf("SC_CLK_TCK"), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out.append((int(entry.name), int(fields[1]), (int(fields[11]) + int(fields[12])) / tick))  # utime + stime
    return out


def analyze(url: str) -> None:
    """Refresh the planner's statistics before a phase. Autovacuum may be off on a development
    server (it is on this one), and then the statistics are those of the freshly generated data:
    the cheque tables look empty and, as a phase fills them, plans that assume so (sequential scans
    where an index is wanted) make every request slower as the run goes. Production runs autovacuum."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def db_cpu(url: str) -> dict[int, float]:
    """CPU seconds used so far by the PostgreSQL backends connected to the benchmark database (when
    the server runs on this machine and /proc shows them): gunicorn's persistent connections during
    an HTTP phase. Empty when they cannot be read."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            pids = {r[0] for r in conn.execute("select pid from pg_stat_activity where datname = current_database() "
                                               "and backend_type = 'client backend' and pid <> pg_backend_pid()")}
    except psycopg.Error:
        return {}
    return {pid: cpu for pid, _, cpu in proc_cpu() if pid in pids}



# --- data -------------------------------------------------------------------------------------------

def data_ready(conn, wanted: dict[str, Any]) -> bool:
    """The database holds data generated with exactly these sizes (recorded as the database comment);
    more tills than wanted will do (a run at fewer tills reuses a larger run's data)."""
    row = conn.execute("select shobj_description(oid, 'pg_database') from pg_database "
                       "where datname = current_database()").fetchone()
    try:
        recorded = json.loads(row[0]) if row and row[0] else None
    except ValueError:
        recorded = None
    if not isinstance(recorded, dict) or recorded.get("tills", 0) < wanted["tills"] \
            or {**recorded, "tills": wanted["tills"]} != wanted:
        return False
    have = conn.execute("select (select count(*) from crm_customer), (select count(*) from offers_offer "
                        "where state = 'active'), (select count(*) from catalogue_till where api_key like 'bench-till-%%')"
                        ).fetchone()
    return have[0] == wanted["customers"] and have[1] == wanted["offers"] and have[2] >= wanted["tills"]


def data_prepare(url: str, args, till_count: int) -> dict[str, Any]:
    from django.db import connection

    from bench import datagen

    wanted = {"customers": args.customers, "offers": args.offers, "tills": till_count, "products": args.products,
              "balance_every": args.balance_every}
    connection.ensure_connection()
    conn = connection.connection  # psycopg, autocommit (Django's default)
    if args.reuse_data and data_ready(conn, wanted):
        print(f"reusing the data in bench_processing: {json.dumps(wanted)}")
        return {"generated": False, "seconds": 0.0, **wanted}
    started = time.perf_counter()
    made = datagen.processing_data(conn, customers=args.customers, offer_count=args.offers, till_count=till_count,
                                   products=args.products, balance_every=args.balance_every)
    conn.execute(f"comment on database bench_processing is '{json.dumps(wanted)}'")
    from offers.snapshot import version_bump

    version_bump()  # autocommit: at once; every gunicorn worker compiles the new offers
    took = time.perf_counter() - started
    print(f"generated {args.customers} customers ({made['funded']} with points), {args.offers} offers, "
          f"{args.products} products, {till_count} tills in {took:.1f} s")
    return {"generated": True, "seconds": round(took, 1), **wanted}


def consistency(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        ledger = conn.execute(
            "select count(*) from crm_account a left join (select account_id, sum(activated_delta) act, "
            "sum(pending_delta) pen, sum(held_delta) hel from crm_ledgerentry group by account_id) e "
            "on e.account_id = a.id where a.activated_balance <> coalesce(e.act, 0) "
            "or a.pending_balance <> coalesce(e.pen, 0) or a.held_balance <> coalesce(e.hel, 0)").fetchone()[0]
        lots = conn.execute(
            "select count(*) from crm_account a left join (select account_id, sum(remaining) r from crm_lot "
            "where state = 'active' group by account_id) l on l.account_id = a.id "
            "where a.activated_balance <> coalesce(l.r, 0)").fetchone()[0]
    return {"accounts_balance_not_entries": ledger, "accounts_balance_not_lots": lots}


# --- report -------------------------------------------------------------------------------------------

def verdicts(level: int, http: dict[str, Any]) -> list[tuple[str, float, float, bool]]:
    """(name, target, measured, ok) for the issue's targets at this level."""
    out = []
    for name, target in TARGETS.get(level, {}).items():
        if name == "cheques_s":
            measured = http["cheques_s"]
            out.append((name, target, measured, measured >= target))
        else:
            measured = http["cheque"][name]
            out.append((name, target, measured, measured is not None and measured <= target))
    return out


def fmt(block: dict[str, Any]) -> str:
    values = [block.get(k) for k in ("p50_ms", "p95_ms", "p99_ms")]
    return " / ".join("-" if v is None else f"{v:.1f}" for v in values)


def level_report(level: int, floor: dict[str, Any] | None, http: dict[str, Any] | None, judge: bool) -> None:
    from bench.common import ratio, report

    if floor is None:
        rows = [("floor", "not run (--phases)")]
    else:
        rows = [("floor: raw SQL (cheques/s)", f"{floor['cheques_s']:.0f}  ({floor['cheques']} cheques, "
                                                f"{floor['errors']} errors)"),
                ("floor cheque p50/p95/p99 (ms)", fmt(floor["cheque"])),
                ("floor calculate / confirm p50 (ms)", f"{floor['calculate']['p50_ms'] or 0:.1f} / "
                                                        f"{floor['confirm']['p50_ms'] or 0:.1f}")]
        if floor["errors"]:
            rows += [(f"floor errors: {k}", str(v)) for k, v in floor["errors_by_kind"].items()]
    if http is None:
        rows.append(("HTTP", "not run (see above)"))
    else:
        rows += [
            ("HTTP: gunicorn (cheques/s)", f"{http['cheques_s']:.0f}  ({http['cheques']} cheques)"),
            ("ratio", f"{ratio(http['cheques_s'], floor['cheques_s'] if floor else 0)} "
                      "(HTTP cheques/s over the floor's)"),
            ("HTTP cheque p50/p95/p99 (ms)", fmt(http["cheque"])),
            ("HTTP calculate p50/p95/p99 (ms)", fmt(http["calculate"])),
            ("HTTP confirm p50/p95/p99 (ms)", fmt(http["confirm"])),
            ("HTTP errors", str(http["errors"]) + "".join(f"\n      {v:6d}  {k}" for k, v in
                                                         http["errors_by_kind"].items())),
            ("driver CPU (% of one core, all clients)", f"{http['driver_cpu_pct']:.0f}"),
            ("server CPU per cheque (ms, gunicorn)", f"{http.get('server_cpu_ms_per_cheque') or 0:.1f}"),
            ("database CPU per cheque (ms, its backends)", "-" if http.get("db_cpu_ms_per_cheque") is None
             else f"{http['db_cpu_ms_per_cheque']:.1f}"),
        ]
        for name, target, measured, ok in verdicts(level, http):
            sign = ">=" if name == "cheques_s" else "<="
            shown = "-" if measured is None else f"{measured:.1f}"
            verdict = ("PASS" if ok else "MISS") if judge else "(not judged at smoke size)"
            rows.append((f"target {name} {sign} {target:g}", f"{shown}  {verdict}"))
    report(f"processing: {level} tills", rows)


# --- main ---------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--offers", type=int, default=200)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--tills", default="8,32", help="concurrency levels, comma-separated")
    parser.add_argument("--seconds", type=float, default=60.0, help="per level and phase")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of unrecorded HTTP load first")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn workers")
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--client-procs", type=int, default=min(4, os.cpu_count() or 1),
                        help="client processes the till threads are spread over")
    parser.add_argument("--balance-every", type=int, default=2, help="every n-th account has points")
    parser.add_argument("--phases", default="floor,http", help="floor,http (or one of them)")
    parser.add_argument("--reuse-data", action="store_true", help="keep the data if generated with the same sizes")
    parser.add_argument("--smoke", action="store_true",
                        help=f"tiny: {SMOKE['customers']} customers, {SMOKE['offers']} offers, {SMOKE['tills']} tills, "
                             f"{SMOKE['seconds']:g} s; targets not judged")
    parser.add_argument("--out", type=Path, default=OUT / "processing.json")
    args = parser.parse_args()
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
        args.reuse_data = True
    levels = [int(x) for x in str(args.tills).split(",") if x.strip()]
    phases = {p.strip() for p in args.phases.split(",")}
    warmup = args.warmup if args.warmup is not None else min(5.0, max(1.0, args.seconds / 4))

    from bench.common import bench_setup

    url = bench_setup("processing")
    data = data_prepare(url, args, max(levels))
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        work = workload_load(conn, customers=args.customers, till_count=max(levels), balance_every=args.balance_every)
    from django.db import connections

    connections.close_all()  # the driver holds no connection while it measures
    tag = format(time.time_ns() // 1_000_000, "x")  # cheque numbers unique across runs
    OUT.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"processing benchmark: {args.customers} customers, {args.offers} offers, cheques of 5-30 lines "
          f"({BONUS_SHARE:.0%} pay {BONUS_PAYMENT} points), tills {levels}, {args.seconds:g} s per phase; gunicorn "
          f"{args.workers} {args.worker_class} workers{f' x {args.threads} threads' if args.worker_class == 'gthread' else ''}; "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")

    result: dict[str, Any] = {
        "benchmark": "processing", "smoke": args.smoke, "started_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "config": {"customers": args.customers, "offers": args.offers, "products": args.products, "levels": levels,
                   "seconds": args.seconds, "warmup": warmup, "workers": args.workers,
                   "worker_class": args.worker_class, "threads": args.threads if args.worker_class == "gthread" else 1,
                   "client_procs": args.client_procs},
        "machine": {"cpus": os.cpu_count(), "load_average_1m": load}, "data": data, "targets": TARGETS,
        "api_available": None, "levels": []}
    server = None
    api_ok = "http" in phases
    try:
        if "http" in phases:
            server = Server(workers=args.workers, worker_class=args.worker_class, threads=args.threads,
                            log=OUT / "processing-gunicorn.log")
            server.wait_ready()
            api_ok, why = api_probe(server.port, work, tag)
            result["api_available"] = api_ok
            print(why)
            if api_ok:
                tally, elapsed, _ = phase_http(server.port, work, max(levels), warmup, tag + "w", args.client_procs)
                print(f"warm-up: {tally.cheques} cheques in {elapsed:.1f} s, {sum(tally.errors.values())} errors"
                      + "".join(f"\n  {count:6d}  {' '.join(kind)}" for kind, count in tally.errors.most_common(5)))
        for level in levels:
            entry: dict[str, Any] = {"tills": level, "floor": None, "http": None}
            analyze(url)
            if "floor" in phases:
                tally, elapsed, _ = phase_floor(url, work, level, args.seconds, tag)
                entry["floor"] = summary(tally, elapsed)
            if api_ok and server is not None:
                analyze(url)
                before, db_before = server.cpu_seconds(), db_cpu(url)
                tally, elapsed, cpu = phase_http(server.port, work, level, args.seconds, tag, args.client_procs)
                used, db_after = server.cpu_seconds() - before, db_cpu(url)
                # Backends present at both ends (gunicorn's persistent connections); one opened
                # during the phase counts from its start.
                db_used = sum(cpu - db_before.get(pid, 0.0) for pid, cpu in db_after.items())
                per = (lambda seconds: round(1000 * seconds / tally.cheques, 2) if tally.cheques else None)
                entry["http"] = {**summary(tally, elapsed), "driver_cpu_pct": round(100 * cpu / elapsed, 1),
                                 "server_cpu_ms_per_cheque": per(used),
                                 "db_cpu_ms_per_cheque": per(db_used) if db_after else None}
                if entry["floor"] and entry["floor"]["cheques_s"]:
                    entry["ratio"] = round(entry["http"]["cheques_s"] / entry["floor"]["cheques_s"], 3)
                entry["targets"] = [{"name": n, "target": t, "measured": m, "ok": ok}
                                    for n, t, m, ok in verdicts(level, entry["http"])]
            result["levels"].append(entry)
            level_report(level, entry["floor"], entry["http"], judge=not args.smoke)
    finally:
        if server is not None:
            server.stop()
    result["consistency"] = consistency(url)
    print(f"\nledger after the run: {result['consistency']}")
    result["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(f"results: {args.out}")

    if "http" in phases and not api_ok:
        print("HTTP phases NOT RUN: the till API is missing (see above). Exit status 2.")
        return 2
    http_errors = sum(e["http"]["errors"] for e in result["levels"] if e["http"])
    floor_errors = sum(e["floor"]["errors"] for e in result["levels"] if e["floor"])
    if http_errors or floor_errors or any(result["consistency"].values()):
        return 2
    if not args.smoke and any(not t["ok"] for e in result["levels"] for t in e.get("targets", [])):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
