"""bench/processing end to end at smoke size: data, gunicorn, the till API over HTTP, the raw-SQL floor.

Runs the benchmark as a subprocess (`--smoke`: 2,000 customers, 20 offers, 2 tills for 3 s per
phase) in its own database `bench_processing`, never the test database. It needs the till API
(POST /api/v1/pos/calculate and /confirm): until processing.api serves them this test fails with
the benchmark's "THE TILL API IS MISSING" message.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_processing_benchmark_smoke_runs_end_to_end(tmp_path):
    out = tmp_path / "processing.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)  # the benchmark points itself at bench_processing
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "processing" / "run.py"), "--smoke", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    log = proc.stdout[-4000:] + proc.stderr[-4000:]
    assert out.exists(), log
    result = json.loads(out.read_text())
    assert result["api_available"] is True, log
    assert proc.returncode == 0, log
    assert took < 60, f"smoke took {took:.0f} s\n{log}"
    [level] = result["levels"]
    assert level["tills"] == 2
    assert level["floor"]["cheques"] > 0 and level["floor"]["errors"] == 0, log
    assert level["http"]["cheques"] > 0, log
    assert level["http"]["errors"] == 0, level["http"]["errors_by_kind"]
    assert level["http"]["cheque"]["p50_ms"] is not None
    assert level["ratio"] > 0
    assert result["consistency"] == {"accounts_balance_not_entries": 0, "accounts_balance_not_lots": 0}
