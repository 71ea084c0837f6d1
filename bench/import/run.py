"""Import benchmark: our CSV import jobs against raw `psql \\copy` of the same file, same run.

    python bench/import/run.py                       # 1,000,000 rows of each kind
    python bench/import/run.py --rows 100000 --only customers

For each kind (customers with card, phone and email; attribute values; counter values):
1. write the CSV with bench/datagen.py (streamed),
2. baseline: `psql \\copy` of that file into a plain table holding the file's columns with the
   indexes our schema keeps on those values (unique identifiers, lookups), timed,
3. ours: a fresh process creates the ImportJob and runs `core.imports.import_job_run` in-process
   (the worker's code path, minus the broker), timed; its peak memory is its ru_maxrss.
Prints rows/s of both, the ratio, and peak memory. Runs in its own database, bench_import.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import bench_setup, ratio, report  # noqa: E402

ATTRIBUTES = {"bench_city": "string", "bench_shoe": "integer", "bench_income": "decimal", "bench_since": "date"}
COUNTERS = ["bench_spend_all", "bench_visits_year"]

# Raw baselines: the file's columns, with the indexes our tables keep on the same values.
RAW_TABLES = {
    "attributes.customers": """
        CREATE TABLE raw_customers (id bigserial PRIMARY KEY, external_uid text NOT NULL UNIQUE, first_name text,
          last_name text, gender text, birth_date date, phone text UNIQUE, email text UNIQUE, card text UNIQUE,
          card_barcode text UNIQUE);
        CREATE INDEX ON raw_customers (last_name, first_name);
        CREATE INDEX ON raw_customers (birth_date);
    """,
    "attributes.values": """
        CREATE TABLE raw_values (customer text, attribute text, value text, PRIMARY KEY (customer, attribute));
        CREATE INDEX ON raw_values (attribute, value) INCLUDE (customer);
    """,
    "attributes.counters": """
        CREATE TABLE raw_counters (customer text, counter text, value numeric(18,2), PRIMARY KEY (counter, customer));
        CREATE INDEX ON raw_counters (counter, value) INCLUDE (customer);
        CREATE INDEX ON raw_counters (customer, counter);
    """,
}
RAW_NAME = {"attributes.customers": "raw_customers", "attributes.values": "raw_values", "attributes.counters": "raw_counters"}


def child(kind: str, path: str) -> None:
    """Run one import job in this process and print its figures as JSON."""
    media = tempfile.mkdtemp(prefix="bench-import-media-")  # the job's stored copy of the file goes here
    os.environ["MEDIA_ROOT"] = media
    bench_setup("import")
    from django.core.files import File

    from core.actors import Actor
    from core.imports import import_job_create, import_job_run

    started = time.perf_counter()
    with open(path, "rb") as handle:
        job = import_job_create(kind=kind, upload=File(handle, name=Path(path).name), actor=Actor.system("bench"))
    created = time.perf_counter() - started
    started = time.perf_counter()
    job = import_job_run(job_id=job.pk)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import shutil

    shutil.rmtree(media, ignore_errors=True)
    print(json.dumps({"state": job.state, "rows_ok": job.rows_ok, "rows_failed": job.rows_failed,
                      "error": job.error_message, "seconds": seconds, "create_seconds": created, "maxrss_mb": peak}))


def raw_copy(url: str, kind: str, path: Path) -> float:
    import psycopg

    table = RAW_NAME[kind]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(RAW_TABLES[kind])
    started = time.perf_counter()
    subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c",
                    f"\\copy {table} ({header(path)}) FROM '{path}' WITH (FORMAT csv, HEADER true, DELIMITER ';')"],
                   check=True)
    seconds = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {table}")
    return seconds


# The floor of our own schema: the same file \copy'd raw into an unindexed table, then plain
# INSERT ... SELECTs into the five tables our customer import writes (same indexes, same FK
# checks), with no validation, no normalisation and no upsert. One transaction, like a chunk.
SCHEMA_FLOOR = """
BEGIN;
CREATE TEMP TABLE floor_raw (external_uid text, first_name text, last_name text, gender text, birth_date date,
  phone text, email text, card text, card_barcode text);
\\copy floor_raw FROM '{path}' WITH (FORMAT csv, HEADER true, DELIMITER ';')
CREATE TEMP TABLE floor_ids AS SELECT f.*, nextval(pg_get_serial_sequence('crm_customer', 'id')) AS cid,
  nextval(pg_get_serial_sequence('crm_card', 'id')) AS kid, nextval(pg_get_serial_sequence('crm_account', 'id')) AS aid
  FROM floor_raw f;
INSERT INTO crm_customer (id, external_uid, first_name, last_name, middle_name, gender, birth_date, state, registered_at,
  registration_channel, timezone, blocked_reason, created_at, updated_at)
  SELECT cid, external_uid, first_name, last_name, '', COALESCE(gender, ''), birth_date, 'registered', now(), 'import', 'UTC', '', now(), now()
  FROM floor_ids;
INSERT INTO crm_notifier (customer_id, kind, value, verified, verified_at, is_primary, created_at)
  SELECT cid, 'phone', phone, true, now(), true, now() FROM floor_ids
  UNION ALL SELECT cid, 'email', email, true, now(), true, now() FROM floor_ids;
INSERT INTO crm_card (id, number, barcode, customer_id, kind, state, state_reason, issued_at, activated_at, updated_at)
  SELECT kid, card, card_barcode, cid, 'physical', 'active', '', now(), now(), now() FROM floor_ids;
INSERT INTO crm_account (id, customer_id, currency_id, activated_balance, pending_balance, held_balance, created_at, updated_at)
  SELECT aid, cid, (SELECT id FROM crm_currency WHERE is_default), 0, 0, 0, now(), now() FROM floor_ids;
INSERT INTO crm_cardaccount (card_id, account_id) SELECT kid, aid FROM floor_ids;
COMMIT;
"""


def schema_floor(url: str, path: Path) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO crm_currency (code, name, is_default) VALUES ('points', 'Points', true) "
                     "ON CONFLICT (code) DO NOTHING")
    script = Path(tempfile.mkstemp(suffix=".sql")[1])
    script.write_text(SCHEMA_FLOOR.replace("{path}", str(path)))
    started = time.perf_counter()
    subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script)], check=True)
    seconds = time.perf_counter() - started
    script.unlink()
    reset(url)
    return seconds


def header(path: Path) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.readline().strip().replace(";", ", ")


def ours(kind: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def customers_present(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM crm_customer WHERE external_uid LIKE 'imp-%%'").fetchone()[0]


def reset(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE crm_cardaccount, crm_account, crm_card, crm_notifier, attributes_value, "
                     "attributes_countervalue, attributes_countedpurchase, core_importrowerror, core_importjob, "
                     "crm_customer RESTART IDENTITY CASCADE")
        conn.execute("DELETE FROM core_auditevent WHERE action LIKE 'import.%'")


def values_clear(url: str, kind: str) -> None:
    """Values and counters are measured as a first load: with the customers reused, the values of
    an earlier run would otherwise be there already and the import would write nothing (a re-run)."""
    import psycopg

    table = {"attributes.values": "attributes_value", "attributes.counters": "attributes_countervalue"}[kind]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {table}")
        conn.execute(f"ANALYZE {table}")


def definitions() -> None:
    from attributes.models import Attribute, Counter

    for code, value_type in ATTRIBUTES.items():
        Attribute.objects.get_or_create(code=code, defaults={"name": code, "kind": "generic", "value_type": value_type})
    for code in COUNTERS:
        Counter.objects.get_or_create(code=code, defaults={
            "name": code, "aggregate": "count" if "visits" in code else "sum", "period": "all_time"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["customers", "values", "counters"], action="append")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the generated CSV files")
    parser.add_argument("--fresh", action="store_true", help="drop and re-create the benchmark database first")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from bench import datagen

    url = bench_setup("import", fresh=args.fresh)
    definitions()
    only = set(args.only or ["customers", "values", "counters"])
    n = args.rows
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    results: list[tuple[str, str]] = []
    # values and counters need the customers the first import creates: reuse them when they are there
    reuse = "customers" not in only and customers_present(url) >= n
    try:
        if not reuse:
            reset(url)
        files = {
            "attributes.customers": workdir / "customers.csv",
            "attributes.values": workdir / "values.csv",
            "attributes.counters": workdir / "counters.csv",
        }
        if not reuse:
            datagen.write_customers_csv(files["attributes.customers"], n)
        # values and counters go to the customers the first import creates
        datagen.write_attribute_values_csv(files["attributes.values"], n, customers=n, attributes=ATTRIBUTES)
        datagen.write_counter_values_csv(files["attributes.counters"], n, customers=n, counters=COUNTERS)
        for kind, name in (("attributes.customers", "customers"), ("attributes.values", "values"),
                           ("attributes.counters", "counters")):
            if name not in only and not (name == "customers" and not reuse):
                continue
            floor = schema_floor(url, files[kind]) if name == "customers" else None
            if name != "customers":
                values_clear(url, kind)
            raw = raw_copy(url, kind, files[kind])
            got = ours(kind, files[kind])
            if got["state"] not in ("done", "done_with_errors"):
                raise SystemExit(f"{kind}: import {got['state']}: {got['error']}")
            ours_rate, raw_rate = n / got["seconds"], n / raw
            target = "≥ 0.50x of raw" if name == "customers" else "≥ 150,000 rows/s"
            met = ours_rate >= 0.5 * raw_rate if name == "customers" else ours_rate >= 150_000
            results += [
                (f"{name}: rows", f"{n:,} ({got['rows_ok']:,} ok, {got['rows_failed']:,} failed)"),
                (f"{name}: ours", f"{got['seconds']:.1f} s = {ours_rate:,.0f} rows/s (+{got['create_seconds']:.1f} s upload check)"),
                (f"{name}: raw \\copy", f"{raw:.1f} s = {raw_rate:,.0f} rows/s"),
                (f"{name}: ratio", ratio(ours_rate, raw_rate)),
                *([(f"{name}: schema floor", f"{floor:.1f} s = {n / floor:,.0f} rows/s: raw \\copy + plain INSERTs into "
                    f"the same 5 tables (no checks); ours = {ratio(ours_rate, n / floor)}")] if floor else []),
                (f"{name}: peak memory", f"{got['maxrss_mb']:.0f} MB (target < 500 MB)"),
                (f"{name}: target", f"{target}: {'met' if met and got['maxrss_mb'] < 500 else 'NOT met'}"),
            ]
            report(f"import {name} ({n:,} rows)", results[-(7 if floor else 6):])
    finally:
        if not args.keep:
            for path in workdir.glob("*.csv"):
                path.unlink()
            workdir.rmdir()
    report("import benchmark", results)


if __name__ == "__main__":
    main()
