"""What every benchmark shares: its own database, Django set up against it, timing and reporting.

A benchmark never touches the development or test databases: `bench_setup("ledger")` creates (or
reuses) the database `bench_ledger` on the local server, points Django at it and migrates.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://loymax:loymax@127.0.0.1:5432/postgres")


def bench_setup(name: str, *, fresh: bool = False) -> str:
    """Create the benchmark's own database if needed, configure Django on it and migrate. Returns its URL."""
    import psycopg

    db = f"bench_{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (db,)).fetchone()
        if exists and fresh:
            conn.execute(f'drop database "{db}" with (force)')
            exists = None
        if not exists:
            conn.execute(f'create database "{db}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{db}"
    os.environ["DATABASE_URL"] = url.replace("postgresql://", "postgres://", 1)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loymax.settings")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return url


@contextmanager
def timed() -> Iterator[list[float]]:
    """`with timed() as t: ...` then `t[0]` is the elapsed seconds."""
    box: list[float] = []
    started = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - started)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def report(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n== {title} ==")
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")


def ratio(ours: float, baseline: float) -> str:
    return f"{ours / baseline:.2f}x of baseline" if baseline else "n/a"


__all__ = ["bench_setup", "percentile", "ratio", "report", "statistics", "timed"]
