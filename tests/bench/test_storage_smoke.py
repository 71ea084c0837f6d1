"""bench/import/storage.py at tiny size: the three layouts load and answer every query alike."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from django.db import connection

from bench.datagen import Sizes, generate

ROOT = Path(__file__).resolve().parents[2]


def _storage_module():
    spec = importlib.util.spec_from_file_location("bench_import_storage", ROOT / "bench" / "import" / "storage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)  # the script writes through three connections
def test_storage_layouts_load_and_agree_at_tiny_size():
    storage = _storage_module()
    connection.ensure_connection()
    conn = connection.connection
    try:
        generate(conn, Sizes(customers=300, purchases=0, products=10))
        ids = storage.generate(conn, 300)
        for label, by_layout in storage.queries(ids):
            counts = {layout: conn.execute(sql).fetchone()[0] for layout, sql in by_layout.items()}
            assert len(set(counts.values())) == 1, (label, counts)
        assert conn.execute("SELECT count(*) FROM attributes_value").fetchone()[0] > 300
    finally:
        conn.execute("DROP TABLE IF EXISTS attr_jsonb, attr_wide")
