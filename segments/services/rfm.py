"""RFM recomputation and settings (see segments.rfm for the scores and cells).

Set-based, in one transaction, one round trip per step, and no window function:

1. the per-customer aggregate of the window's cheques goes into a temporary table (a CREATE TABLE
   AS, so PostgreSQL may aggregate in parallel), in customer order;
2. quintiles: the four score bounds of each measure are read from that table with one
   percentile_disc per measure, a sort of bare values (three ``cume_dist() OVER (ORDER BY ...)``
   over a million rows cost about 0.4x of the aggregate in bench/segments: three sorts of whole rows
   and three window passes; the bounds under 0.1x). A customer's score is then 1 plus the number of
   bounds at or below their value, the same number ``ceil(5 * cume_dist())`` gives (see
   ``quintile_positions``);
3. segments_rfm is made equal to the scored rows: customers no longer scored are deleted, then one
   MERGE updates the rows that differ and inserts new customers (a single join; rows that did not
   change are not rewritten). Into an empty table, a plain INSERT.

Readers see the old scores until the commit, never a half-written table.
"""
from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from core.services import audit_record, snapshot
from segments.models import RfmSettings
from segments.rfm import cell_sql
from segments.sql import refresh_timeout_ms, run

_SALE = "p.kind = 'sale'"
_NET = "CASE WHEN p.kind = 'sale' THEN p.amount - p.discount ELSE p.discount - p.amount END"
AGGREGATE = (
    f"SELECT p.customer_id, max(p.purchased_at) FILTER (WHERE {_SALE}) AS last_at, "
    f"count(*) FILTER (WHERE {_SALE}) AS freq, coalesce(sum({_NET}), 0) AS money "
    "FROM crm_purchase p WHERE p.state = 'confirmed' AND p.customer_id IS NOT NULL AND p.purchased_at >= %s "
    "AND p.purchased_at <= %s GROUP BY p.customer_id"
)
COLUMNS = ("customer_id", "last_purchase_at", "frequency", "monetary", "r", "f", "m", "cell")
MEASURES = ("last_at", "freq", "money")  # the columns of rfm_agg scored as R, F, M


def quintile_positions(total: int) -> list[int]:
    """1-based positions, in ascending order of a measure over `total` customers, of the four bounds.

    With c(v) the number of customers whose value is <= v, the quintile score is ceil(5 * c(v) / total)
    computed in float8 (what ``ceil(5 * cume_dist())`` computes). It is <= k exactly when c(v) <= C_k,
    the largest count with 5.0 * (C_k / total) <= k, so exactly when v is below the value at position
    C_k + 1. Python floats are IEEE doubles like float8, so C_k is found with the same arithmetic."""
    positions = []
    for k in range(1, 5):
        c = k * total // 5 + 1
        while c > 0 and 5.0 * (c / total) > k:
            c -= 1
        positions.append(c + 1)
    return positions


def _bound_score(expr: str, bounds: list[str]) -> str:
    """1 plus the number of bounds at or below the value: bounds are placeholders (ascending)."""
    return "(1 + " + " + ".join(f"({expr} >= {b})::int" for b in bounds) + ")"


def _threshold_score(expr: str, bounds: list[Any], *, lower_is_better: bool) -> str:
    """CASE giving 5..1 from four ascending bounds (numbers from validated settings, inlined as literals)."""
    b = [str(Decimal(str(v))) for v in bounds]
    if lower_is_better:  # recency in days: within b[0] is 5
        return (f"CASE WHEN {expr} <= {b[0]} THEN 5 WHEN {expr} <= {b[1]} THEN 4 WHEN {expr} <= {b[2]} THEN 3 "
                f"WHEN {expr} <= {b[3]} THEN 2 ELSE 1 END")
    return (f"CASE WHEN {expr} >= {b[3]} THEN 5 WHEN {expr} >= {b[2]} THEN 4 WHEN {expr} >= {b[1]} THEN 3 "
            f"WHEN {expr} >= {b[0]} THEN 2 ELSE 1 END")


def scored_sql(settings: RfmSettings) -> str:
    """customer_id, last_at, freq, money, r, f, m, cell of every row of pg_temp.rfm_agg.
    Parameters: quintiles: the twelve bounds (R, F, M four each, ascending); thresholds: now."""
    source = "pg_temp.rfm_agg a"
    if settings.method == RfmSettings.Method.THRESHOLDS:
        source = ("(SELECT b.*, extract(epoch FROM (%s::timestamptz - b.last_at)) / 86400 AS days "
                  "FROM pg_temp.rfm_agg b) a")
        r = _threshold_score("a.days", settings.recency_days, lower_is_better=True)
        f = _threshold_score("a.freq", settings.frequency, lower_is_better=False)
        m = _threshold_score("a.money", settings.monetary, lower_is_better=False)
    else:
        r = _bound_score("a.last_at", ["%s::timestamptz"] * 4)
        f = _bound_score("a.freq", ["%s::bigint"] * 4)
        m = _bound_score("a.money", ["%s::numeric"] * 4)
    return (
        f"SELECT s.customer_id, s.last_at, s.freq, s.money, s.r, s.f, s.m, {cell_sql('s.r', 's.f', 's.m')} FROM ("
        f"SELECT a.customer_id, a.last_at, a.freq, a.money, {r} AS r, {f} AS f, {m} AS m FROM {source}) s"
    )


def _quintile_bounds(total: int) -> list[Any]:
    """The twelve bounds (R, F, M) read from pg_temp.rfm_agg: one sort of bare values per measure.
    percentile_disc(f) returns the value at position ceil(f * total); f = (position - 0.5) / total
    lands half a row away from any integer, so float rounding cannot move it."""
    fractions = [(position - 0.5) / total for position in quintile_positions(total)]
    picks = ", ".join(f"percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY {m})" for m in MEASURES)
    rows = run(f"SELECT {picks} FROM pg_temp.rfm_agg", [fractions] * len(MEASURES), timeout_ms=refresh_timeout_ms(),
               what="RFM recomputation")
    return [bound for bounds in rows for bound in bounds]


def rfm_recompute(*, actor: Actor, now: dt.datetime | None = None) -> int:
    """Score every customer with a sale in the window; returns how many were scored."""
    settings = RfmSettings.load()
    now = now or timezone.now()
    start = now - dt.timedelta(days=settings.window_days)
    started = time.perf_counter()
    values = ", ".join(COLUMNS)
    changed = " OR ".join(f"t.{c} IS DISTINCT FROM n.{c}" for c in COLUMNS[1:])
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('segments.rfm_recompute'))")
        # In customer order: new rows then go to the primary key's rightmost page instead of all over
        # it (a million rows into the empty table: about 6 s instead of 15 s in bench/segments, with
        # 128 MB of shared buffers). ANALYZE: the DELETE and MERGE joins are planned on real counts.
        (scored,) = run(
            "DROP TABLE IF EXISTS pg_temp.rfm_agg; CREATE TEMP TABLE rfm_agg (customer_id, last_at, freq, money) "
            f"ON COMMIT DROP AS SELECT * FROM ({AGGREGATE}) b WHERE b.freq > 0 ORDER BY b.customer_id; "
            "ANALYZE pg_temp.rfm_agg; SELECT count(*) FROM pg_temp.rfm_agg",
            [start, now], timeout_ms=refresh_timeout_ms(), what="RFM recomputation")
        if settings.method == RfmSettings.Method.THRESHOLDS:
            params: list[Any] = [now]
        else:
            params = _quintile_bounds(scored) if scored else [None] * 12
        # One writer (the advisory lock). Leavers first, so that the MERGE's join meets only rows it keeps.
        # Into an empty table (the first computation) a plain INSERT: the MERGE would probe the primary
        # key once per row to find nothing (about 0.1x of the GROUP BY for a million customers).
        with connection.cursor() as cursor:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM segments_rfm)")
            (filled,) = cursor.fetchone()
        if filled:
            write = (
                "DELETE FROM segments_rfm t WHERE NOT EXISTS "
                "(SELECT 1 FROM pg_temp.rfm_agg n WHERE n.customer_id = t.customer_id); "
                f"MERGE INTO segments_rfm t USING ({scored_sql(settings)}) AS n ({values}) "
                f"ON t.customer_id = n.customer_id WHEN MATCHED AND ({changed}) THEN UPDATE SET "
                + ", ".join(f"{c} = n.{c}" for c in COLUMNS[1:])
                + f" WHEN NOT MATCHED THEN INSERT ({values}) VALUES ({', '.join('n.' + c for c in COLUMNS)})")
        else:
            write = f"INSERT INTO segments_rfm ({values}) {scored_sql(settings)}"
        run(write, params, timeout_ms=refresh_timeout_ms(), fetch="count", what="RFM recomputation")
        duration = int((time.perf_counter() - started) * 1000)
        RfmSettings.objects.update_or_create(pk=1, defaults={
            "computed_at": now, "computed_ms": duration, "scored_customers": scored,
            "window_days": settings.window_days, "method": settings.method, "recency_days": settings.recency_days,
            "frequency": settings.frequency, "monetary": settings.monetary})
        audit_record(actor=actor, action="segments.rfm_recompute", object_type="segments.rfmsettings", object_id=1,
                     after={"scored": scored, "duration_ms": duration, "window_days": settings.window_days})
    return scored


def _bounds(raw: Any, name: str, *, whole: bool) -> list[Any]:
    if not isinstance(raw, list) or len(raw) != 4:
        raise DomainError("rfm_settings_invalid", "Give four ascending thresholds.", field=name)
    try:
        values = [int(v) if whole else Decimal(str(v)) for v in raw]
    except (TypeError, ValueError, ArithmeticError):
        raise DomainError("rfm_settings_invalid", "Thresholds must be numbers.", field=name) from None
    if any(b <= a for a, b in zip(values, values[1:])) or values[0] < 0:
        raise DomainError("rfm_settings_invalid", "Thresholds must be ascending and not negative.", field=name)
    return [v if whole else str(v) for v in values]


def rfm_settings_update(*, actor: Actor, window_days: int | None = None, method: str | None = None,
                        recency_days: list | None = None, frequency: list | None = None,
                        monetary: list | None = None) -> RfmSettings:
    """Change how RFM is scored; the next recomputation applies it."""
    with transaction.atomic():
        current = RfmSettings.objects.select_for_update().filter(pk=1).first() or RfmSettings(pk=1)
        before = snapshot(current) if current.pk and RfmSettings.objects.filter(pk=1).exists() else None
        if window_days is not None:
            if not 1 <= int(window_days) <= 3650:
                raise DomainError("rfm_settings_invalid", "The window is 1 to 3650 days.", field="window_days")
            current.window_days = int(window_days)
        if method is not None:
            if method not in RfmSettings.Method.values:
                raise DomainError("rfm_settings_invalid", f"Method is one of {', '.join(RfmSettings.Method.values)}.",
                                  field="method")
            current.method = method
        if recency_days is not None:
            current.recency_days = _bounds(recency_days, "recency_days", whole=True)
        if frequency is not None:
            current.frequency = _bounds(frequency, "frequency", whole=True)
        if monetary is not None:
            current.monetary = _bounds(monetary, "monetary", whole=False)
        if current.method == RfmSettings.Method.THRESHOLDS:
            for name in ("recency_days", "frequency", "monetary"):
                if len(getattr(current, name) or []) != 4:
                    raise DomainError("rfm_settings_invalid", "Fixed thresholds need four values for each of "
                                      "recency_days, frequency and monetary.", field=name)
        current.save()
        audit_record(actor=actor, action="segments.rfm_settings", target=current, before=before, after=snapshot(current))
    return current
