"""How attribute values are stored, decided by measurement: typed EAV vs JSONB per customer vs
typed columns per attribute, on the segment conditions marketers write.

    python bench/import/storage.py --customers 1000000

Layouts (same data, each with the indexes it needs):
- eav:   attributes_value as migrated (customer, attribute, one typed column per type; a partial
         btree per type leading with the attribute; GIN on the text[] of multiple choices)
- jsonb: one row per customer, all values in a jsonb column under a GIN (jsonb_path_ops) index
- wide:  one typed column per attribute with its own btree (GIN for the list): the fastest reads
         possible, but every new attribute is an ALTER TABLE on a table of millions of rows.
Each query counts matching customers (warm cache, median of 3 runs); the write is an upsert of
one attribute for 10% of customers, as an import would do. Every layout runs in the same process.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.common import bench_setup, report  # noqa: E402

CITIES = ["Moscow", "Kazan", "Tver", "Omsk", "Perm", "Sochi", "Tula", "Ufa"]
LIKES = ["tea", "coffee", "milk", "wine", "juice", "beer"]
ATTRS = {"vip": "boolean", "shoe": "integer", "income": "decimal", "city": "string", "since": "date",
         "segment": "choice", "likes": "multi_choice"}


def generate(conn, n: int, seed: int = 7) -> dict[str, int]:
    """Fill all three layouts with the same values; each attribute is set for ~60% of customers."""
    import datetime as dt

    conn.execute("TRUNCATE attributes_value")
    conn.execute("DROP TABLE IF EXISTS attr_jsonb, attr_wide")
    conn.execute("CREATE TABLE attr_jsonb (customer_id bigint PRIMARY KEY, data jsonb NOT NULL)")
    conn.execute("CREATE TABLE attr_wide (customer_id bigint PRIMARY KEY, vip boolean, shoe bigint, income numeric(20,4), "
                 "city text, since date, segment text, likes text[])")
    ids = {}
    for code, value_type in ATTRS.items():
        conn.execute("INSERT INTO attributes_attribute (code, name, description, kind, value_type, options, notifier_kind, "
                     "config, editable_by_customer, is_active, created_at, updated_at) VALUES (%s, %s, '', 'generic', %s, "
                     "'[]', '', '{}', false, true, now(), now()) ON CONFLICT (code) DO NOTHING", (f"st_{code}", code, value_type))
        ids[code] = conn.execute("SELECT id FROM attributes_attribute WHERE code = %s", (f"st_{code}",)).fetchone()[0]
    rng = random.Random(seed)
    column = {"boolean": "value_bool", "integer": "value_int", "decimal": "value_dec", "string": "value_text",
              "choice": "value_text", "date": "value_date", "multi_choice": "value_list"}
    import json

    import psycopg

    # One COPY at a time per connection (the protocol allows no more): the three layouts are
    # written side by side, each through its own connection.
    url = conn.info.dsn
    with psycopg.connect(url, autocommit=True) as js_conn, psycopg.connect(url, autocommit=True) as wide_conn:
        with conn.cursor().copy("COPY attributes_value (customer_id, attribute_id, value_bool, value_int, value_dec, "
                                "value_text, value_date, value_list, updated_at) FROM STDIN") as eav, \
                js_conn.cursor().copy("COPY attr_jsonb (customer_id, data) FROM STDIN") as js, \
                wide_conn.cursor().copy("COPY attr_wide FROM STDIN") as wide:
            now = dt.datetime.now(dt.timezone.utc)
            for customer in range(1, n + 1):
                values = {}
                if rng.random() < 0.6:
                    values["vip"] = rng.random() < 0.1
                if rng.random() < 0.6:
                    values["shoe"] = rng.randint(34, 47)
                if rng.random() < 0.6:
                    values["income"] = rng.randint(0, 500000)
                if rng.random() < 0.6:
                    values["city"] = rng.choice(CITIES)
                if rng.random() < 0.6:
                    values["since"] = dt.date(2005, 1, 1) + dt.timedelta(days=rng.randint(0, 7000))
                if rng.random() < 0.6:
                    values["segment"] = "gold" if rng.random() < 0.01 else rng.choice(["silver", "bronze"])
                if rng.random() < 0.6:
                    values["likes"] = rng.sample(LIKES, rng.randint(1, 3))
                for code, value in values.items():
                    row = [customer, ids[code], None, None, None, None, None, None, now]
                    row[2 + ["value_bool", "value_int", "value_dec", "value_text", "value_date", "value_list"].index(
                        column[ATTRS[code]])] = value
                    eav.write_row(row)
                js.write_row((customer, json.dumps({k: (v.isoformat() if isinstance(v, dt.date) else v)
                                                    for k, v in values.items()})))
                wide.write_row((customer, values.get("vip"), values.get("shoe"), values.get("income"), values.get("city"),
                                values.get("since"), values.get("segment"), values.get("likes")))
    conn.execute("CREATE INDEX ON attr_jsonb USING gin (data jsonb_path_ops)")
    for col in ("vip", "shoe", "income", "city", "since", "segment"):
        conn.execute(f"CREATE INDEX ON attr_wide ({col}) WHERE {col} IS NOT NULL")
    conn.execute("CREATE INDEX ON attr_wide USING gin (likes) WHERE likes IS NOT NULL")
    conn.execute("VACUUM ANALYZE attributes_value")
    conn.execute("VACUUM ANALYZE attr_jsonb")
    conn.execute("VACUUM ANALYZE attr_wide")
    return ids


def queries(ids: dict[str, int]) -> list[tuple[str, dict[str, str]]]:
    a = ids
    return [
        ("city = Kazan", {
            "eav": f"SELECT count(*) FROM attributes_value WHERE attribute_id = {a['city']} AND value_text = 'Kazan'",
            "jsonb": "SELECT count(*) FROM attr_jsonb WHERE data @> '{\"city\": \"Kazan\"}'",
            "wide": "SELECT count(*) FROM attr_wide WHERE city = 'Kazan'"}),
        ("shoe between 40 and 42", {
            "eav": f"SELECT count(*) FROM attributes_value WHERE attribute_id = {a['shoe']} AND value_int BETWEEN 40 AND 42",
            "jsonb": "SELECT count(*) FROM attr_jsonb WHERE (data->>'shoe')::int BETWEEN 40 AND 42",
            "wide": "SELECT count(*) FROM attr_wide WHERE shoe BETWEEN 40 AND 42"}),
        ("since after 2023-06-01", {
            "eav": f"SELECT count(*) FROM attributes_value WHERE attribute_id = {a['since']} AND value_date > '2023-06-01'",
            "jsonb": "SELECT count(*) FROM attr_jsonb WHERE (data->>'since')::date > '2023-06-01'",
            "wide": "SELECT count(*) FROM attr_wide WHERE since > '2023-06-01'"}),
        ("segment = gold (1%)", {
            "eav": f"SELECT count(*) FROM attributes_value WHERE attribute_id = {a['segment']} AND value_text = 'gold'",
            "jsonb": "SELECT count(*) FROM attr_jsonb WHERE data @> '{\"segment\": \"gold\"}'",
            "wide": "SELECT count(*) FROM attr_wide WHERE segment = 'gold'"}),
        ("likes has wine", {
            "eav": "SELECT count(*) FROM attributes_value WHERE value_list && ARRAY['wine'] AND attribute_id = "
                   f"{a['likes']}",
            "jsonb": "SELECT count(*) FROM attr_jsonb WHERE data @> '{\"likes\": [\"wine\"]}'",
            "wide": "SELECT count(*) FROM attr_wide WHERE likes && ARRAY['wine']"}),
        ("city = Kazan AND shoe >= 44 AND vip", {
            "eav": f"SELECT count(*) FROM crm_customer c WHERE c.id IN (SELECT customer_id FROM attributes_value WHERE "
                   f"attribute_id = {a['city']} AND value_text = 'Kazan') AND c.id IN (SELECT customer_id FROM "
                   f"attributes_value WHERE attribute_id = {a['shoe']} AND value_int >= 44) AND c.id IN (SELECT "
                   f"customer_id FROM attributes_value WHERE attribute_id = {a['vip']} AND value_bool)",
            "jsonb": "SELECT count(*) FROM attr_jsonb WHERE data @> '{\"city\": \"Kazan\", \"vip\": true}' "
                     "AND (data->>'shoe')::int >= 44",
            "wide": "SELECT count(*) FROM attr_wide WHERE city = 'Kazan' AND shoe >= 44 AND vip"}),
    ]


def timed(conn, sql: str, runs: int = 3) -> tuple[float, int]:
    results = []
    count = 0
    for _ in range(runs):
        started = time.perf_counter()
        count = conn.execute(sql).fetchone()[0]
        results.append(time.perf_counter() - started)
    return statistics.median(results), count


def writes(conn, ids: dict[str, int], n: int) -> dict[str, float]:
    """Upsert `shoe` for 10% of customers in each layout (one statement from a staged table)."""
    share = max(1, n // 10)
    conn.execute("DROP TABLE IF EXISTS st_upd")
    conn.execute(f"CREATE UNLOGGED TABLE st_upd AS SELECT g AS customer_id, 30 + g % 18 AS shoe FROM generate_series(1, {n}, 10) g")
    out = {}
    statements = {
        "eav": f"INSERT INTO attributes_value (customer_id, attribute_id, value_int, updated_at) SELECT customer_id, "
               f"{ids['shoe']}, shoe, now() FROM st_upd ON CONFLICT (customer_id, attribute_id) DO UPDATE SET "
               "value_int = EXCLUDED.value_int WHERE attributes_value.value_int IS DISTINCT FROM EXCLUDED.value_int",
        "jsonb": "UPDATE attr_jsonb j SET data = jsonb_set(j.data, '{shoe}', to_jsonb(u.shoe)) FROM st_upd u "
                 "WHERE j.customer_id = u.customer_id AND j.data->'shoe' IS DISTINCT FROM to_jsonb(u.shoe)",
        "wide": "UPDATE attr_wide w SET shoe = u.shoe FROM st_upd u WHERE w.customer_id = u.customer_id "
                "AND w.shoe IS DISTINCT FROM u.shoe",
    }
    for layout, sql in statements.items():
        with conn.transaction():
            started = time.perf_counter()
            conn.execute(sql)
            out[layout] = time.perf_counter() - started
    del share
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    import psycopg

    url = bench_setup("attrstorage")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET jit = off")
        from bench import datagen

        datagen.generate(conn, datagen.Sizes(customers=args.customers, purchases=0, products=10))
        started = time.perf_counter()
        ids = generate(conn, args.customers)
        print(f"generated in {time.perf_counter() - started:.0f} s")
        sizes = {
            "eav": conn.execute("SELECT pg_total_relation_size('attributes_value')").fetchone()[0],
            "jsonb": conn.execute("SELECT pg_total_relation_size('attr_jsonb')").fetchone()[0],
            "wide": conn.execute("SELECT pg_total_relation_size('attr_wide')").fetchone()[0],
        }
        rows = [("size (table + indexes)", "  ".join(f"{k} {v / 2**20:,.0f} MB" for k, v in sizes.items()))]
        for label, by_layout in queries(ids):
            measured = {layout: timed(conn, sql) for layout, sql in by_layout.items()}
            counts = {c for _, c in measured.values()}
            assert len(counts) == 1, (label, measured)  # the layouts agree
            rows.append((f"{label} ({counts.pop():,})",
                         "  ".join(f"{layout} {seconds * 1000:7.1f} ms" for layout, (seconds, _) in measured.items())))
        upserts = writes(conn, ids, args.customers)
        rows.append((f"upsert shoe for {args.customers // 10:,}", "  ".join(f"{k} {v:6.2f} s" for k, v in upserts.items())))
        report(f"attribute storage, {args.customers:,} customers, 7 attributes at ~60%", rows)


if __name__ == "__main__":
    main()
