"""Profile calculate + confirm in process (Django's test Client, the whole request stack, no gunicorn)
against the benchmark database: `python bench/processing/profile_inproc.py [cheques] [--top N]`.
Run `bench/processing/run.py --smoke` first so that bench_processing holds data."""
from __future__ import annotations

import cProfile
import os
import pstats
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> int:
    import psycopg

    from bench.common import bench_setup
    from bench.processing.run import cheque_body, cheque_make, workload_load

    count = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 300
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 45
    url = bench_setup("processing")
    with psycopg.connect(url, autocommit=True) as conn:
        customers = conn.execute("select count(*) from crm_customer").fetchone()[0]
        work = workload_load(conn, customers=customers, till_count=1, balance_every=2)
    from django.test import Client

    till = work.tills[0]
    client = Client(HTTP_AUTHORIZATION=f"Till {till.api_key}:{till.secret}")
    rng = random.Random("profile")
    tag = f"P{int(time.time())}"

    def one(n: int) -> None:
        spec = cheque_make(rng, work)
        number = f"{tag}-{n}"
        r = client.post("/api/v1/pos/calculate", cheque_body(spec, number, till), content_type="application/json")
        assert r.status_code == 200, r.content[:300]
        r = client.post("/api/v1/pos/confirm", {"number": number}, content_type="application/json")
        assert r.status_code == 200, r.content[:300]

    for n in range(20):  # warm-up: snapshot compile, connection
        one(n)
    profile = cProfile.Profile(time.process_time)  # CPU, not waiting on the database
    started = time.process_time()
    profile.enable()
    for n in range(20, 20 + count):
        one(n)
    profile.disable()
    used = time.process_time() - started
    print(f"{count} cheques, {used / count * 1000:.2f} ms CPU per cheque under cProfile")
    stats = pstats.Stats(profile).sort_stats("cumulative")
    stats.print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
