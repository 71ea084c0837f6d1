"""Reads: preview of a definition, members now and on a date, the segments of a customer, export
rows, the RFM matrix.

Counts, previews and exports read from `segments.sql.read_alias()` (a replica when configured).
The two selectors other apps call on hot paths are:

- `segment_ids_for_customer(customer_id)` (offers, at every cheque): one index-only scan of
  membership_customer_idx;
- `segment_member_ids_chunks(segment_id, chunk)` (mailings): keyset pages over the membership
  primary key, each page one index range scan, whatever the segment's size.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connections

from core.errors import NotFound
from segments.compiler import Compiled, compile_tree
from segments.definition import definition_validate
from segments.models import RfmSettings, Segment
from segments.rfm import CELL_NAMES, grid
from segments.sql import preview_timeout_ms, read_alias, run


@dataclass(frozen=True)
class Preview:
    count: int
    members: list[dict[str, Any]]
    as_of: dt.datetime


MEMBER_COLUMNS = ("id", "external_uid", "first_name", "last_name", "state", "phone", "email")
_MEMBER_SELECT = (
    "SELECT c.id, c.external_uid, c.first_name, c.last_name, c.state, "
    "(SELECT n.value FROM crm_notifier n WHERE n.customer_id = c.id AND n.kind = 'phone' "
    " ORDER BY n.verified DESC, n.is_primary DESC, n.id LIMIT 1), "
    "(SELECT n.value FROM crm_notifier n WHERE n.customer_id = c.id AND n.kind = 'email' "
    " ORDER BY n.verified DESC, n.is_primary DESC, n.id LIMIT 1) "
    "FROM crm_customer c WHERE c.id = ANY(%s) ORDER BY c.id"
)


def customers_brief(ids: list[int], *, using: str | None = None) -> list[dict[str, Any]]:
    """The columns a preview or an export shows, for the given customers (one query)."""
    if not ids:
        return []
    with connections[using or read_alias()].cursor() as cursor:
        cursor.execute(_MEMBER_SELECT, [ids])
        return [dict(zip(MEMBER_COLUMNS, row)) for row in cursor.fetchall()]


def compiled_count(compiled: Compiled, *, using: str | None = None) -> int:
    """How many customers the compiled definition selects: one query, under the preview timeout."""
    sql, params = compiled.count_sql()
    return run(sql, params, using=using or read_alias(), timeout_ms=preview_timeout_ms(), what="Counting")[0]


def compiled_first_ids(compiled: Compiled, limit: int, *, using: str | None = None) -> list[int]:
    sql, params = compiled.first_sql(limit)
    rows = run(sql, params, using=using or read_alias(), timeout_ms=preview_timeout_ms(), fetch="all",
               what="Listing the first members")
    return [row[0] for row in rows]


def segment_preview(*, definition: Any, limit: int = 20, as_of: dt.datetime | None = None) -> Preview:
    """Count and first members of a definition (saved or not): validation, then two queries."""
    compiled = compile_tree(definition_validate(definition), as_of=as_of)
    count = compiled_count(compiled)
    ids = compiled_first_ids(compiled, limit) if limit and count else []
    return Preview(count=count, members=customers_brief(ids), as_of=compiled.as_of)


def segment_get(segment_id: int) -> Segment:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise NotFound("segment_not_found", f"Segment #{segment_id} does not exist.")
    return segment


# --- materialised membership -----------------------------------------------------------------

def segment_ids_for_customer(customer_id: int) -> frozenset[int]:
    """The segments a customer is in now (materialised membership). One index-only scan."""
    with connections[read_alias()].cursor() as cursor:
        cursor.execute("SELECT segment_id FROM segments_membership WHERE customer_id = %s", [customer_id])
        return frozenset(row[0] for row in cursor.fetchall())


def segment_member_ids_page(segment_id: int, *, after: int = 0, limit: int = 1000) -> list[int]:
    """Current members with ids above `after`, ascending: one range scan of the primary key."""
    with connections[read_alias()].cursor() as cursor:
        cursor.execute("SELECT customer_id FROM segments_membership WHERE segment_id = %s AND customer_id > %s "
                       "ORDER BY customer_id LIMIT %s", [segment_id, after, limit])
        return [row[0] for row in cursor.fetchall()]


def segment_member_ids_chunks(segment_id: int, chunk: int = 1000) -> Iterator[list[int]]:
    """The current members' ids in ascending order, `chunk` at a time (keyset pagination)."""
    last = 0
    while True:
        ids = segment_member_ids_page(segment_id, after=last, limit=chunk)
        if ids:
            yield ids
        if len(ids) < chunk:
            return
        last = ids[-1]


def segment_member_ids_on_chunks(segment_id: int, on: dt.datetime, chunk: int = 1000) -> Iterator[list[int]]:
    """Members at the moment `on` (from the intervals, which never overlap for one customer),
    ascending, `chunk` at a time."""
    last = 0
    while True:
        with connections[read_alias()].cursor() as cursor:
            cursor.execute(
                "SELECT customer_id FROM segments_membershipchange WHERE segment_id = %s AND customer_id > %s "
                "AND joined_at <= %s AND (left_at IS NULL OR left_at > %s) ORDER BY customer_id LIMIT %s",
                [segment_id, last, on, on, chunk])
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return
        yield ids
        if len(ids) < chunk:
            return
        last = ids[-1]


def segment_members_on(*, segment_id: int, on: dt.datetime, limit: int = 100, after: int = 0) -> tuple[int, list[int]]:
    """Who was in the segment at `on`: (how many, the first `limit` ids after `after`). Two queries."""
    with connections[read_alias()].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM segments_membershipchange WHERE segment_id = %s "
                       "AND joined_at <= %s AND (left_at IS NULL OR left_at > %s)", [segment_id, on, on])
        count = cursor.fetchone()[0]
        cursor.execute("SELECT customer_id FROM segments_membershipchange WHERE segment_id = %s "
                       "AND customer_id > %s AND joined_at <= %s AND (left_at IS NULL OR left_at > %s) "
                       "ORDER BY customer_id LIMIT %s", [segment_id, after, on, on, limit])
        return count, [row[0] for row in cursor.fetchall()]


def segment_changes(*, segment_id: int, at: dt.datetime) -> dict[str, list[int]]:
    """Who joined and who left at one refresh (`at` from SegmentRefresh)."""
    with connections[read_alias()].cursor() as cursor:
        cursor.execute("SELECT customer_id, joined_at = %s FROM segments_membershipchange WHERE segment_id = %s "
                       "AND (joined_at = %s OR left_at = %s) ORDER BY customer_id", [at, segment_id, at, at])
        rows = cursor.fetchall()
    return {"joined": [r[0] for r in rows if r[1]], "left": [r[0] for r in rows if not r[1]]}


def export_rows(segment_id: int, *, on: dt.datetime | None = None, chunk: int = 2000) -> Iterator[list[Any]]:
    """CSV rows (header first) of the members, now or at `on`; memory bounded by `chunk`."""
    yield list(MEMBER_COLUMNS)
    pages = segment_member_ids_on_chunks(segment_id, on, chunk) if on else segment_member_ids_chunks(segment_id, chunk)
    for ids in pages:
        for row in customers_brief(ids):
            yield [row[c] if row[c] is not None else "" for c in MEMBER_COLUMNS]


# --- RFM --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RfmCell:
    cell: str
    label: str
    customers: int
    share: Decimal  # percent of scored customers
    avg_cheque: Decimal | None  # total amount / number of sales in the window
    monetary: Decimal


def rfm_matrix() -> dict[str, Any]:
    """Counts and average cheque per named cell, and counts per (R, FM) square for the chart."""
    with connections[read_alias()].cursor() as cursor:
        cursor.execute("SELECT cell, count(*), sum(monetary), sum(frequency) FROM segments_rfm GROUP BY cell")
        by_cell = {row[0]: row[1:] for row in cursor.fetchall()}
        cursor.execute("SELECT r, (f + m + 1) / 2, count(*) FROM segments_rfm GROUP BY 1, 2")
        squares = {(row[0], row[1]): row[2] for row in cursor.fetchall()}
    total = sum(v[0] for v in by_cell.values())
    cells = []
    for code, label in CELL_NAMES.items():
        count, money, sales = by_cell.get(code, (0, Decimal(0), 0))
        cells.append(RfmCell(
            cell=code, label=label, customers=count, monetary=(money or Decimal(0)).quantize(Decimal("0.01")),
            share=(Decimal(count * 100) / total).quantize(Decimal("0.1")) if total else Decimal(0),
            avg_cheque=(money / sales).quantize(Decimal("0.01")) if sales else None))
    settings = RfmSettings.load()
    rows = [{"r": r, "squares": [{"fm": fm, "cell": cell, "customers": squares.get((r, fm), 0)}
                                 for fm, cell in enumerate(cells_row, start=1)]} for r, cells_row in grid()]
    return {"total": total, "cells": cells, "grid": rows, "computed_at": settings.computed_at,
            "window_days": settings.window_days, "method": settings.method}
