"""The one synthetic-data generator every benchmark uses. Writes with COPY; sizes are arguments.

    python bench/datagen.py --db ledger --customers 200000 --purchases 1000000

or from a benchmark: `generate(conn, customers=..., purchases=...)`. Deterministic for a given seed.
Rows get ids from fixed offsets so that generated data can sit beside demo rows. Extend this file
(new tables, new options) rather than writing another generator.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
FIRST = ["Anna", "Ivan", "Maria", "Oleg", "Elena", "Dmitry", "Olga", "Sergey", "Irina", "Pavel"]
LAST = ["Ivanova", "Petrov", "Sidorova", "Smirnov", "Kuznetsova", "Popov", "Volkova", "Sokolov"]


@dataclass(frozen=True)
class Sizes:
    customers: int = 10_000
    purchases: int = 0  # cheques; lines per cheque 1..5
    products: int = 1_000
    seed: int = 42


def _truncate(conn: psycopg.Connection, tables: list[str]) -> None:
    conn.execute(f"truncate {', '.join(tables)} restart identity cascade")


def ensure_reference(conn: psycopg.Connection, sizes: Sizes) -> dict[str, int]:
    """A partner, a store, a till, a currency, products and two product groups. Idempotent."""
    now = dt.datetime.now(dt.timezone.utc)
    conn.execute(
        "insert into catalogue_partner (code, name, is_active, created_at) values ('bench', 'Bench', true, %s) "
        "on conflict (code) do nothing", (now,))
    partner_id = conn.execute("select id from catalogue_partner where code = 'bench'").fetchone()[0]
    conn.execute(
        "insert into catalogue_store (partner_id, code, name, timezone, address, is_active, created_at) "
        "values (%s, 'bench-1', 'Bench store', 'Europe/Moscow', '', true, %s) on conflict do nothing", (partner_id, now))
    store_id = conn.execute("select id from catalogue_store where partner_id = %s and code = 'bench-1'", (partner_id,)).fetchone()[0]
    conn.execute(
        "insert into catalogue_till (store_id, code, name, api_key, secret_hash, is_blocked, created_at) "
        "values (%s, '1', 'Bench till', 'bench-till', "
        "encode(sha256('bench-secret'::bytea), 'hex'), false, %s) on conflict do nothing", (store_id, now))
    till_id = conn.execute("select id from catalogue_till where api_key = 'bench-till'").fetchone()[0]
    conn.execute(
        "insert into crm_currency (code, name, is_default) values ('points', 'Points', true) on conflict do nothing")
    currency_id = conn.execute("select id from crm_currency where code = 'points'").fetchone()[0]
    have = conn.execute("select count(*) from catalogue_product where sku like 'BENCH-%'").fetchone()[0]
    if have < sizes.products:
        rng = random.Random(sizes.seed)
        with conn.cursor().copy(
            "copy catalogue_product (sku, name, price, category, brand, is_active, created_at, updated_at) from stdin"
        ) as copy:
            for i in range(have, sizes.products):
                copy.write_row((f"BENCH-{i:06d}", f"Product {i}", Decimal(rng.randint(50, 5000)) / 10,
                                f"cat{i % 20}", f"brand{i % 50}", True, now, now))
    for code, category in (("bench-dairy", "cat1"), ("bench-kids", "cat2")):
        conn.execute("insert into catalogue_productgroup (code, name, kind, rule_categories, rule_brands, created_at) "
                     "values (%s, %s, 'rule', %s::jsonb, '[]'::jsonb, %s) on conflict do nothing",
                     (code, code, f'["{category}"]', now))
        conn.execute(
            "insert into catalogue_productgroupmembership (group_id, product_id) "
            "select g.id, p.id from catalogue_productgroup g join catalogue_product p on p.category = %s "
            "where g.code = %s on conflict do nothing", (category, code))
    return {"partner": partner_id, "store": store_id, "till": till_id, "currency": currency_id}


def generate_customers(conn: psycopg.Connection, sizes: Sizes, ref: dict[str, int]) -> None:
    """Customers 1..N with a verified phone, a card (active) and an account each.

    Customer i has phone +7900{i:07d}, card number 2{i:011d}, barcode B2{i:011d}; ids equal i.
    """
    rng = random.Random(sizes.seed)
    n = sizes.customers
    now = dt.datetime.now(dt.timezone.utc)
    with conn.cursor() as cur:
        with cur.copy(
            "copy crm_customer (id, external_uid, first_name, last_name, middle_name, gender, birth_date, state, "
            "registered_at, registration_channel, timezone, blocked_reason, created_at, updated_at) from stdin"
        ) as copy:
            for i in range(1, n + 1):
                born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 55))
                reg = EPOCH + dt.timedelta(seconds=rng.randint(0, 3600 * 24 * 600))
                copy.write_row((i, f"ext-{i}", FIRST[i % 10], LAST[i % 8], "", ("male", "female", "")[i % 3], born,
                                "registered", reg, "till", "Europe/Moscow", "", reg, now))
        with cur.copy(
            "copy crm_notifier (customer_id, kind, value, verified, verified_at, is_primary, created_at) from stdin"
        ) as copy:
            for i in range(1, n + 1):
                copy.write_row((i, "phone", f"+7900{i:07d}", True, now, True, now))
        with cur.copy(
            "copy crm_card (id, number, barcode, track, customer_id, kind, state, state_reason, issued_at, updated_at) from stdin"
        ) as copy:
            for i in range(1, n + 1):
                copy.write_row((i, f"2{i:011d}", f"B2{i:011d}", None, i, "physical", "active", "", now, now))
        with cur.copy(
            "copy crm_account (id, customer_id, currency_id, activated_balance, pending_balance, held_balance, "
            "created_at, updated_at) from stdin"
        ) as copy:
            for i in range(1, n + 1):
                copy.write_row((i, i, ref["currency"], 0, 0, 0, now, now))
        with cur.copy("copy crm_cardaccount (card_id, account_id) from stdin") as copy:
            for i in range(1, n + 1):
                copy.write_row((i, i))
        for table in ("crm_customer", "crm_card", "crm_account"):
            cur.execute(f"select setval(pg_get_serial_sequence('{table}', 'id'), (select max(id) from {table}))")


def generate_purchases(conn: psycopg.Connection, sizes: Sizes, ref: dict[str, int]) -> None:
    """Confirmed cheques spread over 2024-01-01 .. +600 days, 1..5 lines each, over random customers."""
    if not sizes.purchases:
        return
    rng = random.Random(sizes.seed + 1)
    product_ids = [r[0] for r in conn.execute("select id from catalogue_product where sku like 'BENCH-%' order by id")]
    now = dt.datetime.now(dt.timezone.utc)
    with conn.cursor() as cur:
        with cur.copy(
            "copy crm_purchase (id, till_id, store_id, number, kind, customer_id, card_id, state, purchased_at, offline, "
            "amount, discount, bonus_accrued, bonus_paid, trace, answer, created_at, confirmed_at) from stdin"
        ) as pcopy:
            lines: list[tuple] = []
            for pid in range(1, sizes.purchases + 1):
                customer = rng.randint(1, sizes.customers)
                when = EPOCH + dt.timedelta(seconds=rng.randint(0, 3600 * 24 * 600))
                total = Decimal(0)
                for pos in range(1, rng.randint(1, 5) + 1):
                    price = Decimal(rng.randint(100, 50000)) / 100
                    qty = rng.randint(1, 3)
                    amount = price * qty
                    total += amount
                    lines.append((pid, pos, rng.choice(product_ids), f"BENCH-{pos}", "", qty, price, amount, 0, 0, 0, 0))
                pcopy.write_row((pid, ref["till"], ref["store"], f"B{pid}", "sale", customer, customer, "confirmed", when,
                                 False, total, 0, 0, 0, "[]", "{}", now, when))
        with cur.copy(
            "copy crm_purchaseline (purchase_id, position, product_id, sku, name, quantity, price, amount, discount, "
            "bonus_accrued, bonus_paid, refunded_quantity) from stdin"
        ) as lcopy:
            for line in lines:
                lcopy.write_row(line)
        cur.execute("select setval(pg_get_serial_sequence('crm_purchase', 'id'), (select max(id) from crm_purchase))")


GENERATED_TABLES = [
    "crm_purchaseline", "crm_purchase", "crm_cardaccount", "crm_account", "crm_card", "crm_notifier", "crm_customer",
]


def generate(conn: psycopg.Connection, sizes: Sizes, *, reset: bool = True) -> dict[str, int]:
    """Fill the database with `sizes`; with `reset`, empty the generated tables first."""
    if reset:
        _truncate(conn, GENERATED_TABLES + ["crm_ledgerentry", "crm_lot", "crm_lotconsumption", "crm_hold"])
    ref = ensure_reference(conn, sizes)
    generate_customers(conn, sizes, ref)
    generate_purchases(conn, sizes, ref)
    conn.execute("analyze")
    return ref



# ---- segments benchmark: purchases generated inside PostgreSQL ---------------------------------------

def _sql_random(conn: psycopg.Connection) -> None:
    """pg_temp.bench_r(key, salt) in [0, 1): a deterministic hash, so a purchase's lines can be
    recomputed from its id alone (the cheque total and its lines agree without a second pass)."""
    conn.execute(
        "create or replace function pg_temp.bench_r(k bigint, salt bigint) returns double precision "
        "language sql immutable parallel safe as "
        "$$ select (hashint8extended(k, salt) & 2147483647)::float8 / 2147483648.0 $$")


@contextmanager
def indexes_dropped(conn: psycopg.Connection, tables: list[str]) -> Iterator[None]:
    """Bulk load into `tables` without their secondary indexes, unique and foreign-key constraints,
    then put them back exactly as they were (definitions read from the catalogue). Primary keys stay:
    other tables refer to them. Loading 10M rows this way is several times faster than maintaining
    seven indexes and four deferred foreign-key checks per row."""
    constraints = conn.execute(
        "select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint "
        "where conrelid = any(%s::regclass[]) and contype in ('u', 'f')", (tables,)).fetchall()
    indexes = conn.execute(
        "select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) from pg_index i "
        "where i.indrelid = any(%s::regclass[]) and not i.indisprimary "
        "and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)", (tables,)).fetchall()
    for table, name, _ in constraints:
        conn.execute(f'alter table {table} drop constraint "{name}"')
    for name, _ in indexes:
        conn.execute(f"drop index {name}")
    try:
        yield
    finally:
        for _, definition in indexes:
            conn.execute(definition)
        for table, name, definition in sorted(constraints, key=lambda c: "FOREIGN" in c[2]):  # unique ones first
            conn.execute(f'alter table {table} add constraint "{name}" {definition}')


def generate_purchases_sql(conn: psycopg.Connection, sizes: Sizes, ref: dict[str, int], *, days: int = 600,
                           batch: int = 1_000_000, progress=None) -> None:
    """Like generate_purchases, but the rows are made by PostgreSQL (INSERT ... SELECT generate_series),
    in committed batches: memory stays flat and 10M cheques with ~30M lines take minutes, not hours.

    Cheque i: customer 1 + floor(r(i,1) * customers), time EPOCH + r(i,2) * `days`, 1..5 lines; line
    (i, pos): price 1.00..499.99, quantity 1..3, a random bench product. Ids continue after the
    existing purchases; `conn` must be in autocommit mode (each batch commits)."""
    if not sizes.purchases:
        return
    _sql_random(conn)
    products = [r[0] for r in conn.execute("select id from catalogue_product where sku like 'BENCH-%' order by id")]
    start = conn.execute("select coalesce(max(id), 0) from crm_purchase").fetchone()[0]
    line = ("(100 + floor(pg_temp.bench_r(g * 8 + pos, 4) * 49900))::numeric / 100",  # price
            "(1 + floor(pg_temp.bench_r(g * 8 + pos, 5) * 3))::int")  # quantity
    for lo in range(start + 1, start + sizes.purchases + 1, batch):
        hi = min(lo + batch - 1, start + sizes.purchases)
        with conn.transaction():
            conn.execute(
                "insert into crm_purchase (id, till_id, store_id, number, kind, customer_id, card_id, state, purchased_at, "
                "offline, amount, discount, bonus_accrued, bonus_paid, trace, answer, created_at, confirmed_at) "
                "select g, %(till)s, %(store)s, 'S' || g, 'sale', x.cu, x.cu, 'confirmed', x.ts, false, "
                f"(select sum({line[0]} * {line[1]}) from generate_series(1, x.n) pos), "
                "0, 0, 0, '[]', '{}', now(), x.ts "
                "from generate_series(%(lo)s::bigint, %(hi)s::bigint) g cross join lateral (select "
                "1 + floor(pg_temp.bench_r(g, 1) * %(customers)s)::bigint as cu, "
                "%(epoch)s::timestamptz + floor(pg_temp.bench_r(g, 2) * %(span)s) * interval '1 second' as ts, "
                "1 + floor(pg_temp.bench_r(g, 3) * 5)::int as n) x",
                {"till": ref["till"], "store": ref["store"], "lo": lo, "hi": hi, "customers": sizes.customers,
                 "epoch": EPOCH, "span": days * 86400})
            conn.execute(
                "insert into crm_purchaseline (purchase_id, position, product_id, sku, name, quantity, price, amount, "
                "discount, bonus_accrued, bonus_paid, refunded_quantity) "
                f"select g, pos, (%(products)s::bigint[])[1 + floor(pg_temp.bench_r(g * 8 + pos, 6) * %(np)s)::int], "
                f"'BENCH-' || pos, '', {line[1]}, {line[0]}, {line[0]} * {line[1]}, 0, 0, 0, 0 "
                "from generate_series(%(lo)s::bigint, %(hi)s::bigint) g "
                "cross join generate_series(1, 1 + floor(pg_temp.bench_r(g, 3) * 5)::int) pos",
                {"products": products, "np": len(products), "lo": lo, "hi": hi})
        if progress:
            progress(hi - start)
    conn.execute("select setval(pg_get_serial_sequence('crm_purchase', 'id'), (select max(id) from crm_purchase))")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="datagen", help="benchmark database name suffix (bench_<db>)")
    parser.add_argument("--customers", type=int, default=Sizes.customers)
    parser.add_argument("--purchases", type=int, default=Sizes.purchases)
    parser.add_argument("--products", type=int, default=Sizes.products)
    parser.add_argument("--seed", type=int, default=Sizes.seed)
    args = parser.parse_args()
    import time

    from bench.common import bench_setup

    url = bench_setup(args.db)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        generate(conn, Sizes(customers=args.customers, purchases=args.purchases, products=args.products, seed=args.seed))
    print(f"generated {args.customers} customers, {args.purchases} purchases in {time.perf_counter() - started:.1f} s")


# ---- Offers: a catalogue with promotion groups and N active offers (bench/engine, bench/coupons,
# bench/processing). These run through Django's connection (`django_setup` first).

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SERVER = "postgresql://loymax:loymax@127.0.0.1:5432"


# ---- database ----------------------------------------------------------------------------------


def ensure_database(name: str, server: str = DEFAULT_SERVER) -> str:
    """Create database `name` if absent; return its URL. Refuses the app's and tests' databases."""
    import psycopg

    if name in ("loymax", "test_loymax") or name.startswith("test_"):
        raise SystemExit(f"refusing to benchmark in {name}: use a dedicated database such as bench_offers")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def django_setup(name: str = "bench_offers", *, migrate: bool = True) -> None:
    """Point Django at the benchmark database and bring its schema up to date."""
    url = ensure_database(name)
    os.environ["DATABASE_URL"] = url.replace("postgresql://", "postgres://", 1)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loymax.settings")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/3")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows (tab-separated text) into `table`; None is NULL. Returns the count."""
    from django.db import connection

    buffer = io.StringIO()
    count = 0
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")
                               for v in row))
        buffer.write("\n")
        count += 1
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())
    return count


def truncate(*tables: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


# ---- catalogue ---------------------------------------------------------------------------------


def catalogue(*, products: int = 20_000, categories: int = 40, promo_groups: int = 260, promo_share: float = 0.3,
              stores: int = 20, seed: int = 1) -> dict[str, Any]:
    """A partner, `stores` stores and `products` products. Every product is in one category group
    (broad, `cat-NN`); a `promo_share` of them is also in one of `promo_groups` narrow promotion
    groups (`promo-NNN`), as a retailer's promotions name a few dozen SKUs each."""
    rng = random.Random(seed)
    truncate("catalogue_productgroupmembership", "catalogue_product", "catalogue_productgroup", "catalogue_till",
             "catalogue_store", "catalogue_partner")
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    copy_rows("catalogue_partner", ("id", "code", "name", "is_active", "created_at"), [(1, "bench", "Bench", "t", now)])
    zones = ("Europe/Moscow", "Asia/Novosibirsk", "Asia/Yekaterinburg", "Europe/Kaliningrad")
    copy_rows("catalogue_store", ("id", "partner_id", "code", "name", "timezone", "address", "is_active", "created_at"),
              [(n + 1, 1, f"s{n + 1}", f"Store {n + 1}", zones[n % len(zones)], "", "t", now) for n in range(stores)])
    category_codes = [f"cat-{n:02d}" for n in range(categories)]
    promo_codes = [f"promo-{n:03d}" for n in range(promo_groups)]
    group_codes = category_codes + promo_codes
    group_ids = {code: n + 1 for n, code in enumerate(group_codes)}
    copy_rows("catalogue_productgroup", ("id", "code", "name", "kind", "rule_categories", "rule_brands", "created_at"),
              [(group_ids[code], code, f"Group {code}", "listed", "[]", "[]", now) for code in group_codes])
    skus = [f"SKU{n:07d}" for n in range(products)]
    copy_rows("catalogue_product", ("id", "sku", "name", "price", "category", "brand", "is_active", "created_at",
                                    "updated_at"),
              [(n + 1, sku, f"Product {n}", f"{rng.randint(30, 3000)}.{rng.randint(0, 99):02d}", "bench", "", "t", now,
                now) for n, sku in enumerate(skus)])
    memberships = []
    sku_groups: dict[str, list[str]] = {}
    for n, sku in enumerate(skus):
        chosen = [rng.choice(category_codes)]
        if promo_codes and rng.random() < promo_share:
            chosen.append(rng.choice(promo_codes))
        sku_groups[sku] = chosen
        memberships.extend((group_ids[code], n + 1) for code in chosen)
    copy_rows("catalogue_productgroupmembership", ("group_id", "product_id"), memberships)
    _reset_sequences("catalogue_partner", "catalogue_store", "catalogue_productgroup", "catalogue_product")
    return {"skus": skus, "categories": category_codes, "promo_groups": promo_codes, "groups": group_codes,
            "sku_groups": sku_groups, "store_ids": list(range(1, stores + 1)), "partner_id": 1}


def _reset_sequences(*tables: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1)) FROM {table}")


# ---- offers ------------------------------------------------------------------------------------


LIFETIME = {"activation": {"days": 1, "round": "day"}, "expiry": {"months": 12, "round": "month"}}


def _offer_rules(rng: random.Random, kind: str, broad: Sequence[str], narrow: Sequence[str]) -> list[dict[str, Any]]:
    """Rules of one synthetic offer of `kind`; `broad` groups are categories, `narrow` ones promotions."""
    def pick(groups: Sequence[str], most: int = 2) -> list[str]:
        return rng.sample(list(groups), rng.randint(1, most))

    if kind == "promo":
        action = rng.choice([
            {"type": "discount", "mode": "percent", "value": str(rng.randint(5, 40))},
            {"type": "discount", "mode": "amount_per_unit", "value": str(rng.randint(5, 100))},
            {"type": "discount", "mode": "price_per_unit", "value": str(rng.randint(50, 500))},
            {"type": "discount", "mode": "price_for_set", "value": str(rng.randint(100, 900)), "set_size": 3},
        ])
        rule: dict[str, Any] = {"filters": [{"type": "product_group", "groups": pick(narrow)}], "actions": [action]}
        if rng.random() < 0.3:
            rule["filters"].insert(0, rng.choice([{"type": "weekdays", "days": rng.sample(range(1, 8), 5)},
                                                  {"type": "hours", "from": "08:00", "to": "22:00"},
                                                  {"type": "cheque_sum", "min": str(rng.randint(500, 5000))}]))
        return [rule]
    if kind == "category":
        rules = [{"filters": [{"type": "product_group", "groups": pick(broad)}],
                  "actions": [{"type": "discount", "mode": "percent", "value": str(rng.randint(3, 15))}]}]
        if rng.random() < 0.5:
            rules[0]["filters"].insert(0, rng.choice([{"type": "weekdays", "days": rng.sample(range(1, 8), 3)},
                                                      {"type": "cheque_sum", "min": str(rng.randint(1000, 8000))},
                                                      {"type": "status", "system": "tier", "statuses": ["gold"]}]))
        if rng.random() < 0.3:  # a second rule, e.g. a better rate for another category
            rules.append({"filters": [{"type": "product_group", "groups": pick(broad)}],
                          "actions": [{"type": "discount", "mode": "amount_per_unit", "value": str(rng.randint(5, 50))}]})
        return rules
    if kind == "bonus":
        filters = [] if rng.random() < 0.3 else [{"type": "product_group", "groups": pick(broad, 3)}]
        return [{"filters": filters, "actions": [{"type": "bonus", "mode": "percent", "value": str(rng.randint(1, 5)),
                                                  **LIFETIME}]}]
    if kind == "member":
        member_filter = rng.choice([
            {"type": "status", "system": "tier", "statuses": [rng.choice(["gold", "silver", "platinum"])]},
            {"type": "segment", "segments": rng.sample(range(1, 30), 2)},
            {"type": "birthday", "mode": "month"},
            {"type": "attribute", "code": "favourite", "value": rng.choice(["coffee", "tea", "wine"])},
            {"type": "group_items", "group": "children", "conditions": [
                {"field": "birth_date", "op": "age_lt", "value": 12}]},
        ])
        filters = [member_filter] + ([{"type": "product_group", "groups": pick(broad)}] if rng.random() < 0.6 else [])
        return [{"filters": filters, "actions": [
            rng.choice([{"type": "discount", "mode": "percent", "value": str(rng.randint(3, 10))},
                        {"type": "bonus", "mode": "percent", "value": str(rng.randint(2, 8)), **LIFETIME}])]}]
    if kind == "cheque":
        return [{"filters": [{"type": "cheque_sum", "min": str(rng.randint(1000, 20000))}],
                 "actions": [rng.choice([
                     {"type": "discount", "mode": "amount", "value": str(rng.randint(50, 500)), "scope": "cheque"},
                     {"type": "discount", "mode": "amount_per_sum", "value": "100", "every": "1000"},
                     {"type": "message", "text": "Thank you for shopping with us"},
                     {"type": "coupon_issue", "issue": 1}])]}]
    if kind == "multiplier":
        return [{"filters": [{"type": "product_group", "groups": pick(broad)}],
                 "actions": [rng.choice([{"type": "bonus", "mode": "multiplier", "value": "2"},
                                         {"type": "bonus_cap", "percent": str(rng.randint(20, 80))}])]}]
    # coupon: a coupon of some issue presented, a discount on a promotion group
    return [{"filters": [{"type": "coupon", "issues": [rng.randint(1, 50)]},
                         {"type": "product_group", "groups": pick(narrow)}],
             "actions": [{"type": "discount", "mode": "percent", "value": "20"}]}]


# Shares of offer kinds. "realistic": most offers are product promotions on narrow groups, a few
# program-wide accruals and targeted offers. "stress": broad groups everywhere, so that most
# offers compete for most lines of a cheque (a worst case, reported beside the realistic one).
OFFER_MIXES = {
    "realistic": (("promo", 0.60), ("category", 0.08), ("bonus", 0.06), ("member", 0.08), ("cheque", 0.06),
                  ("coupon", 0.07), ("multiplier", 0.05)),
    "stress": (("category", 0.45), ("bonus", 0.2), ("member", 0.1), ("cheque", 0.08), ("multiplier", 0.07),
               ("coupon", 0.1)),
}


def offers(*, count: int = 200, categories: Sequence[str], promo_groups: Sequence[str], mix: str = "realistic",
           seed: int = 2) -> list[int]:
    """`count` active offers of the given mix (see OFFER_MIXES), with their rules. Returns the ids."""
    rng = random.Random(seed)
    truncate("offers_offer", "offers_rule")
    kinds = [kind for kind, share in OFFER_MIXES[mix] for _ in range(round(share * count))][:count]
    while len(kinds) < count:
        kinds.append(OFFER_MIXES[mix][0][0])
    rng.shuffle(kinds)
    narrow = promo_groups if mix == "realistic" else categories
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    offer_rows, rule_rows = [], []
    rule_id = 0
    for n, kind in enumerate(kinds, start=1):
        cumulative = kind in ("bonus", "multiplier") or (kind == "member" and rng.random() < 0.5)
        offer_rows.append((n, f"{kind} {n}", "", "active", "purchase", "2024-01-01", None, rng.randint(0, 5),
                           "t" if cumulative else "f", "t" if rng.random() < 0.05 else "f", None, None, None, now, now,
                           now))
        for position, spec in enumerate(_offer_rules(rng, kind, categories, narrow)):
            rule_id += 1
            rule_rows.append((rule_id, n, f"rule {position}", position, "t", json.dumps(spec["filters"]),
                              json.dumps(spec["actions"]), now, now))
    copy_rows("offers_offer", ("id", "name", "description", "state", "event", "start_date", "end_date", "priority",
                               "cumulative", "exclusive", "limit_per_customer", "max_benefit_per_cheque", "budget",
                               "activated_at", "created_at", "updated_at"), offer_rows)
    copy_rows("offers_rule", ("id", "offer_id", "name", "position", "is_enabled", "filters", "actions", "created_at",
                              "updated_at"), rule_rows)
    _reset_sequences("offers_offer", "offers_rule")
    return [row[0] for row in offer_rows]


if __name__ == "__main__":
    main()


# --- CSV files for import benchmarks (bench/import) -------------------------------------------
# Streamed to disk row by row: a file of any size costs no memory. Deterministic for a seed.

def write_customers_csv(path: str | Path, n: int, *, seed: int = 42, delimiter: str = ";", start: int = 1) -> int:
    """Customers `imp-{i}` with name, gender, birth date, phone +7916{i:07d}, email, card 3{i:011d}
    and its barcode: the columns of the `attributes.customers` importer. Returns rows written."""
    import csv

    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["external_uid", "first_name", "last_name", "gender", "birth_date", "phone", "email", "card",
                         "card_barcode"])
        for i in range(start, start + n):
            born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 55))
            writer.writerow([f"imp-{i}", FIRST[i % 10], LAST[i % 8], ("male", "female", "")[i % 3], born.isoformat(),
                             f"+7916{i % 10_000_000:07d}", f"user{i}@example.com", f"3{i:011d}", f"C3{i:011d}"])
    return n


def write_attribute_values_csv(path: str | Path, n: int, *, customers: int, attributes: dict[str, str],
                               seed: int = 42, delimiter: str = ";") -> int:
    """`n` rows (customer `imp-{i}`, attribute, value) cycling over `attributes` ({code: value_type}),
    each (customer, attribute) at most once while n <= customers * len(attributes)."""
    import csv

    rng = random.Random(seed)
    codes = list(attributes)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["customer", "attribute", "value"])
        for row in range(n):
            code = codes[row % len(codes)]
            customer = 1 + (row // len(codes)) % customers
            kind = attributes[code]
            if kind == "integer":
                value = str(rng.randint(30, 48))
            elif kind == "decimal":
                value = f"{rng.randint(0, 10**6) / 100:.2f}"
            elif kind == "boolean":
                value = rng.choice(("true", "false"))
            elif kind == "date":
                value = (dt.date(2000, 1, 1) + dt.timedelta(days=rng.randint(0, 9000))).isoformat()
            else:
                value = rng.choice(("Moscow", "Kazan", "Novosibirsk", "Omsk", "Tver"))
            writer.writerow([f"imp-{customer}", code, value])
    return n


def write_counter_values_csv(path: str | Path, n: int, *, customers: int, counters: list[str], seed: int = 42,
                             delimiter: str = ";") -> int:
    """`n` rows (customer `imp-{i}`, counter, value) over `counters`, as carried over from an old system."""
    import csv

    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["customer", "counter", "value"])
        for row in range(n):
            counter = counters[row % len(counters)]
            customer = 1 + (row // len(counters)) % customers
            writer.writerow([f"imp-{customer}", counter, f"{rng.randint(0, 10**7) / 100:.2f}"])
    return n


# --- counter values (statuses benchmark) ---------------------------------------------------------

ALL_TIME = dt.date(1970, 1, 1)


def generate_counter_values(conn: psycopg.Connection, sizes: Sizes, *, counter_id: int, share: float = 0.8,
                            period_start: dt.date = ALL_TIME) -> int:
    """Values of one counter for customers 1..N with COPY: `share` of them have a row, spread so
    that about 40% are under 1,000, 30% in 1,000-5,000, 20% in 5,000-20,000, 10% above (the
    thresholds of the statuses benchmark). Replaces the counter's existing values. Returns rows."""
    rng = random.Random(sizes.seed + 2)
    bands = ((0.4, 0, 999), (0.3, 1000, 4999), (0.2, 5000, 19999), (0.1, 20000, 60000))
    now = dt.datetime.now(dt.timezone.utc)
    conn.execute("delete from attributes_countervalue where counter_id = %s", (counter_id,))
    rows = 0
    with conn.cursor().copy(
        "copy attributes_countervalue (counter_id, customer_id, period_start, value, imported, updated_at) from stdin"
    ) as copy:
        for i in range(1, sizes.customers + 1):
            if rng.random() >= share:
                continue
            pick, low, high = rng.random(), 0, 0
            for weight, low, high in bands:
                if pick < weight:
                    break
                pick -= weight
            copy.write_row((counter_id, i, period_start, Decimal(rng.randint(low * 100, high * 100)) / 100, 0, now))
            rows += 1
    conn.execute("analyze attributes_countervalue")
    return rows


def shift_counter_values(conn: psycopg.Connection, *, counter_id: int, modulo: int = 100, remainder: int = 7,
                         low: int = 1000, high: int = 25000, period_start: dt.date = ALL_TIME) -> int:
    """Move every customer whose id % modulo == remainder across the thresholds (set-based):
    a value of `low` or more drops to 0, anything less (or no row) jumps to `high`. With the
    statuses benchmark's thresholds each of them (1/modulo of all) changes status."""
    cur = conn.execute(
        "insert into attributes_countervalue (counter_id, customer_id, period_start, value, imported, updated_at) "
        "select %s, c.id, %s, %s, 0, now() from crm_customer c where c.id %% %s = %s "
        "on conflict (counter_id, customer_id, period_start) do update set value = case "
        "when attributes_countervalue.value >= %s then 0 else %s end, updated_at = now()",
        (counter_id, period_start, high, modulo, remainder, low, high))
    return cur.rowcount


# --- till processing (bench/processing) ------------------------------------------------------------
# Run after `catalogue(...)`, `offers(...)` and `generate(...)` (customers 1..N, their cards 2{i:011d}
# and accounts i): tills with known secrets, bonus balances, and the counters a confirm feeds.

def till_credentials(n: int) -> tuple[str, str]:
    """(api_key, secret) of bench till n (1-based): the header is `Till <api_key>:<secret>`."""
    return f"bench-till-{n:03d}", f"bench-secret-{n:03d}"


def tills(conn: psycopg.Connection, count: int, *, store_ids: Sequence[int] | None = None) -> list[int]:
    """`count` tills spread round-robin over `store_ids` (default: every store), with the secrets of
    `till_credentials` (Till.secret_hash is the sha256 hex of the secret). Replaces earlier bench tills
    that have no purchases; returns their ids in order 1..count."""
    if store_ids is None:
        store_ids = [r[0] for r in conn.execute("select id from catalogue_store order by id")]
    if not store_ids:
        raise ValueError("no stores: run catalogue(...) first")
    now = dt.datetime.now(dt.timezone.utc)
    ids = []
    for n in range(1, count + 1):
        key, secret = till_credentials(n)
        row = conn.execute(
            "insert into catalogue_till (store_id, code, name, api_key, secret_hash, is_blocked, created_at) "
            "values (%s, %s, %s, %s, encode(sha256(%s::bytea), 'hex'), false, %s) "
            "on conflict (api_key) do update set secret_hash = excluded.secret_hash, is_blocked = false "
            "returning id",
            (store_ids[(n - 1) % len(store_ids)], f"bench-{n:03d}", f"Bench till {n}", key, secret.encode(), now)).fetchone()
        ids.append(row[0])
    return ids


def balances(conn: psycopg.Connection, customers: int, *, every: int = 2, low: int = 200, high: int = 5000,
             seed: int = 7, expire_days: int = 365) -> int:
    """Activated points for accounts 1..customers whose id is a multiple of `every`, consistent with the
    ledger invariants: one active lot each (expiring in `expire_days`), its accrual entry, and the cached
    activated balance equal to both. `low`..`high` whole points. Accounts must have no lots yet (as after
    `generate`). Returns the number of accounts credited."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    expire = now + dt.timedelta(days=expire_days)
    first = conn.execute("select coalesce(max(id), 0) + 1 from crm_lot").fetchone()[0]
    rows = [(first + k, account, Decimal(rng.randint(low, high)))
            for k, account in enumerate(range(every, customers + 1, every))]
    with conn.cursor() as cur:
        with cur.copy("copy crm_lot (id, account_id, amount, remaining, state, activate_at, expire_at, "
                      "expiring_notified, created_at) from stdin") as copy:
            for lot, account, amount in rows:
                copy.write_row((lot, account, amount, amount, "active", None, expire, False, now))
        with cur.copy("copy crm_ledgerentry (account_id, kind, amount, activated_delta, pending_delta, held_delta, "
                      "source, idempotency_key, lot_id, actor_kind, actor_id, description, created_at) from stdin") as copy:
            for lot, account, amount in rows:
                copy.write_row((account, "accrual", amount, amount, 0, 0, "bench-seed", f"seed:{account}", lot,
                                "system", "", "bench opening balance", now))
        cur.execute("update crm_account a set activated_balance = l.remaining, updated_at = %s "
                    "from crm_lot l where l.account_id = a.id and l.id >= %s", (now, first))
        cur.execute("select setval(pg_get_serial_sequence('crm_lot', 'id'), (select max(id) from crm_lot))")
    return len(rows)


BENCH_COUNTERS = (("bench-sum-all", "Purchases, all time (sum)", "sum", "all_time"),
                  ("bench-count-month", "Purchases this month (count)", "count", "month"))


def counters(conn: psycopg.Connection) -> list[int]:
    """Two active counters a confirmed cheque feeds (all-time sum, monthly count); their values emptied."""
    now = dt.datetime.now(dt.timezone.utc)
    ids = []
    for code, name, aggregate, period in BENCH_COUNTERS:
        ids.append(conn.execute(
            "insert into attributes_counter (code, name, aggregate, period, period_days, product_group_id, store_id, "
            "timezone, keep_periods, is_active, window_start, recalc_pending, recalculated_at, created_at, updated_at) "
            "values (%s, %s, %s, %s, null, null, null, 'Europe/Moscow', 24, true, null, 0, null, %s, %s) "
            "on conflict (code) do update set is_active = true returning id",
            (code, name, aggregate, period, now, now)).fetchone()[0])
    conn.execute("delete from attributes_countervalue where counter_id = any(%s)", (ids,))
    return ids


def processing_data(conn: psycopg.Connection, *, customers: int, offer_count: int = 200, till_count: int = 32,
                    products: int = 20_000, stores: int = 20, balance_every: int = 2, seed: int = 42) -> dict[str, Any]:
    """Everything bench/processing needs, from scratch: catalogue and `offer_count` realistic offers
    (through Django's connection), customers with cards and accounts, bonus balances for every
    `balance_every`-th account, `till_count` tills with known secrets, two counters. `conn` is the
    psycopg connection under Django's (autocommit)."""
    data = catalogue(products=products, stores=stores)
    offers(count=offer_count, categories=data["categories"], promo_groups=data["promo_groups"])
    generate(conn, Sizes(customers=customers, purchases=0, products=0, seed=seed))  # empties purchases and ledger
    conn.execute("truncate crm_hold, attributes_countedpurchase, attributes_countervalue restart identity cascade")
    funded = balances(conn, customers, every=balance_every, seed=seed)
    till_ids = tills(conn, till_count, store_ids=data["store_ids"])
    counter_ids = counters(conn)
    conn.execute("analyze")
    return {"skus": data["skus"], "tills": till_ids, "funded": funded, "counters": counter_ids}
