"""RFM recomputation and settings (see segments.rfm for the scores and cells).

Set-based in two statements inside one transaction: the scores of every customer with a sale in
the window go into a temporary table (a CREATE TABLE AS, so PostgreSQL may aggregate the cheques in
parallel), then segments_rfm is made equal to it: rows that differ are updated, new customers
inserted, customers no longer scored deleted. Readers see the old scores until the commit, never a half-written
table; a recomputation of unchanged data writes nothing.
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
from segments.rfm import cells_values_sql
from segments.sql import refresh_timeout_ms, run

_SALE = "p.kind = 'sale'"
_NET = "CASE WHEN p.kind = 'sale' THEN p.amount - p.discount ELSE p.discount - p.amount END"
AGGREGATE = (
    f"SELECT p.customer_id, max(p.purchased_at) FILTER (WHERE {_SALE}) AS last_at, "
    f"count(*) FILTER (WHERE {_SALE}) AS freq, coalesce(sum({_NET}), 0) AS money "
    "FROM crm_purchase p WHERE p.state = 'confirmed' AND p.customer_id IS NOT NULL AND p.purchased_at >= %s "
    "AND p.purchased_at <= %s GROUP BY p.customer_id"
)


def _threshold_score(expr: str, bounds: list[Any], *, lower_is_better: bool) -> str:
    """CASE giving 5..1 from four ascending bounds (numbers from validated settings, inlined as literals)."""
    b = [str(Decimal(str(v))) for v in bounds]
    if lower_is_better:  # recency in days: within b[0] is 5
        return (f"CASE WHEN {expr} <= {b[0]} THEN 5 WHEN {expr} <= {b[1]} THEN 4 WHEN {expr} <= {b[2]} THEN 3 "
                f"WHEN {expr} <= {b[3]} THEN 2 ELSE 1 END")
    return (f"CASE WHEN {expr} >= {b[3]} THEN 5 WHEN {expr} >= {b[2]} THEN 4 WHEN {expr} >= {b[1]} THEN 3 "
            f"WHEN {expr} >= {b[0]} THEN 2 ELSE 1 END")


def scores_sql(settings: RfmSettings) -> str:
    """SELECT customer_id, last_at, freq, money, r, f, m, cell over AGGREGATE's rows.
    Parameters: now (for recency in days), window start, now."""
    if settings.method == RfmSettings.Method.THRESHOLDS:
        r = _threshold_score("a.days", settings.recency_days, lower_is_better=True)
        f = _threshold_score("a.freq", settings.frequency, lower_is_better=False)
        m = _threshold_score("a.money", settings.monetary, lower_is_better=False)
    else:
        r = "ceil(5 * cume_dist() OVER (ORDER BY a.last_at))::int"
        f = "ceil(5 * cume_dist() OVER (ORDER BY a.freq))::int"
        m = "ceil(5 * cume_dist() OVER (ORDER BY a.money))::int"
    return (
        f"SELECT s.customer_id, s.last_at, s.freq, s.money, s.r, s.f, s.m, g.cell FROM ("
        f"SELECT a.customer_id, a.last_at, a.freq, a.money, {r} AS r, {f} AS f, {m} AS m FROM ("
        f"SELECT b.*, extract(epoch FROM (%s::timestamptz - b.last_at)) / 86400 AS days FROM ({AGGREGATE}) b "
        "WHERE b.freq > 0) a) s "
        f"JOIN (VALUES {cells_values_sql()}) AS g (r, fm, cell) ON g.r = s.r AND g.fm = (s.f + s.m + 1) / 2"
    )


def rfm_recompute(*, actor: Actor, now: dt.datetime | None = None) -> int:
    """Score every customer with a sale in the window; returns how many were scored."""
    settings = RfmSettings.load()
    now = now or timezone.now()
    start = now - dt.timedelta(days=settings.window_days)
    params: list[Any] = [now, start, now]
    started = time.perf_counter()
    columns = "customer_id, last_purchase_at, frequency, monetary, r, f, m, cell"
    changed = " OR ".join(f"t.{c} IS DISTINCT FROM n.{c}" for c in columns.split(", ")[1:])
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('segments.rfm_recompute'))")
        run(f"DROP TABLE IF EXISTS pg_temp.rfm_new; CREATE TEMP TABLE rfm_new ({columns}) ON COMMIT DROP AS {scores_sql(settings)}; "
            "SELECT 1", params, timeout_ms=refresh_timeout_ms(), what="RFM recomputation")
        # One writer (the advisory lock): update what differs, insert who is new, delete who left;
        # plain inserts of an anti-join are cheaper than ON CONFLICT when most rows are new.
        scored, _, _, _ = run(
            "ANALYZE pg_temp.rfm_new; WITH changed AS (UPDATE segments_rfm t SET "
            + ", ".join(f"{c} = n.{c}" for c in columns.split(", ")[1:])
            + f" FROM pg_temp.rfm_new n WHERE n.customer_id = t.customer_id AND ({changed}) RETURNING 1), "
            f"added AS (INSERT INTO segments_rfm ({columns}) SELECT n.* FROM pg_temp.rfm_new n WHERE NOT EXISTS "
            "(SELECT 1 FROM segments_rfm t WHERE t.customer_id = n.customer_id) RETURNING 1), "
            "gone AS (DELETE FROM segments_rfm t WHERE NOT EXISTS "
            "(SELECT 1 FROM pg_temp.rfm_new n WHERE n.customer_id = t.customer_id) RETURNING 1) "
            "SELECT (SELECT count(*) FROM pg_temp.rfm_new), (SELECT count(*) FROM changed), (SELECT count(*) FROM added), "
            "(SELECT count(*) FROM gone)",
            [], timeout_ms=refresh_timeout_ms(), what="RFM recomputation")
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
