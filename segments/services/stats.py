"""Purchase totals: per customer (segments_customerstats) and per customer and product group or
store (segments_scopestats). Rebuilt for everyone by the nightly task (windows slide by a day), and
for a few customers when processing confirms or refunds their cheques (the hook).

Both paths aggregate the same rows, restricted or not to some customers: one row per cheque (per
cheque and product group for the group scope, with the net amount of its lines in the group).
Then they write only what changed: INSERT ... ON CONFLICT DO UPDATE ... WHERE the row differs, and
DELETE rows left without purchases. So a nightly rebuild rewrites only customers whose purchases or
windows moved, and the hook is idempotent (safe to retry, order-free).
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from core.actors import Actor
from core.services import audit_record
from segments.models import StatsRun, Totals
from segments.sql import refresh_timeout_ms, run

_WHERE = "p.state = 'confirmed' AND p.customer_id IS NOT NULL"
_NET = "CASE WHEN p.kind = 'sale' THEN {a} - {d} ELSE {d} - {a} END"


@dataclass(frozen=True)
class Scope:
    name: str
    table: str
    keys: tuple[str, ...]
    rows: str  # one row per cheque (and group): customer_id, scope_id, sale, at, net; `{restrict}` appended to WHERE


SCOPES = (
    Scope("all", "segments_customerstats", ("customer_id",),
          "SELECT p.customer_id, 0::bigint AS scope_id, p.kind = 'sale' AS sale, p.purchased_at AS at, "
          f"{_NET.format(a='p.amount', d='p.discount')} AS net FROM crm_purchase p WHERE {_WHERE} {{restrict}}"),
    Scope("store", "segments_scopestats", ("scope", "scope_id", "customer_id"),
          "SELECT p.customer_id, p.store_id AS scope_id, p.kind = 'sale' AS sale, p.purchased_at AS at, "
          f"{_NET.format(a='p.amount', d='p.discount')} AS net FROM crm_purchase p WHERE {_WHERE} {{restrict}}"),
    Scope("group", "segments_scopestats", ("scope", "scope_id", "customer_id"),
          "SELECT p.customer_id, gm.group_id AS scope_id, p.kind = 'sale' AS sale, p.purchased_at AS at, "
          f"sum({_NET.format(a='l.amount', d='l.discount')}) AS net FROM crm_purchase p "
          "JOIN crm_purchaseline l ON l.purchase_id = p.id "
          "JOIN catalogue_productgroupmembership gm ON gm.product_id = l.product_id "
          f"WHERE {_WHERE} {{restrict}} GROUP BY p.id, gm.group_id"),
)


def _window_columns() -> tuple[list[str], list[str]]:
    names, exprs = [], []
    for days in Totals.WINDOWS:
        names += [f"count_{days}", f"amount_{days}"]
        exprs += [f"count(*) FILTER (WHERE r.sale AND r.at >= k.now - interval '{days} days')",
                  f"coalesce(sum(r.net) FILTER (WHERE r.at >= k.now - interval '{days} days'), 0)"]
    return names, exprs


COLUMNS = ["purchase_count", "amount", "first_purchase_at", "last_purchase_at", *_window_columns()[0]]


def totals_sql(scope: Scope, restrict: str = "") -> str:
    """customer_id, scope_id and COLUMNS per customer (and scope). Parameters: now, then restrict's."""
    return (
        "SELECT r.customer_id, r.scope_id, count(*) FILTER (WHERE r.sale), coalesce(sum(r.net), 0), "
        "min(r.at) FILTER (WHERE r.sale), max(r.at) FILTER (WHERE r.sale), " + ", ".join(_window_columns()[1])
        + f" FROM (SELECT %s::timestamptz AS now) k, ({scope.rows.format(restrict=restrict)}) r "
        "GROUP BY r.customer_id, r.scope_id"
    )


def _write_sql(scope: Scope, source: str, *, some: bool) -> str:
    """Make the scope's rows equal to `source` for the customers concerned (everyone, or `ANY(%s)`).
    Parameters: computed_at, then the ids when `some`."""
    changed = " OR ".join(f"s.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in COLUMNS)
    if scope.name == "all":
        keys, mine, match = "t.customer_id", "true", "t.customer_id = s.customer_id"
    else:
        keys, mine = f"'{scope.name}', t.scope_id, t.customer_id", f"s.scope = '{scope.name}'"
        match = "t.customer_id = s.customer_id AND t.scope_id = s.scope_id"
    return (
        f"written AS (INSERT INTO {scope.table} AS s ({', '.join(scope.keys)}, {', '.join(COLUMNS)}, computed_at) "
        f"SELECT {keys}, {', '.join('t.' + c for c in COLUMNS)}, %s FROM {source} t "
        f"ON CONFLICT ({', '.join(scope.keys)}) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS)
        + f", computed_at = EXCLUDED.computed_at WHERE {changed} RETURNING 1), "
        f"emptied AS (DELETE FROM {scope.table} s WHERE {mine} AND "
        + ("s.customer_id = ANY(%s)" if some else "true")
        + f" AND NOT EXISTS (SELECT 1 FROM {source} t WHERE {match}) RETURNING 1) "
        f"SELECT (SELECT count(*) FROM written), (SELECT count(*) FROM emptied), (SELECT count(*) FROM {source})"
    )


def _columns_list() -> str:
    return "customer_id, scope_id, " + ", ".join(COLUMNS)


def _refresh_some(scope: Scope, *, now: dt.datetime, ids: list[int]) -> int:
    sql = (f"WITH totals ({_columns_list()}) AS MATERIALIZED ({totals_sql(scope, 'AND p.customer_id = ANY(%s)')}), "
           + _write_sql(scope, "totals", some=True))
    return run(sql, [now, ids, now, ids], timeout_ms=refresh_timeout_ms(), what="Refreshing purchase totals")[2]


def _rebuild(scope: Scope, *, now: dt.datetime) -> int:
    # The aggregate goes into a temporary table first: a CREATE TABLE AS may scan the cheques with
    # parallel workers, which an INSERT ... SELECT may not.
    run(f"DROP TABLE IF EXISTS pg_temp.totals_new; CREATE TEMP TABLE totals_new ({_columns_list()}) ON COMMIT DROP "
        f"AS {totals_sql(scope)}; ANALYZE pg_temp.totals_new; SELECT 1", [now],
        timeout_ms=refresh_timeout_ms(), what="Rebuilding purchase totals")
    return run("WITH " + _write_sql(scope, "pg_temp.totals_new", some=False), [now], timeout_ms=refresh_timeout_ms(),
               what="Rebuilding purchase totals")[2]


def customer_stats_refresh(*, customer_ids: list[int]) -> int:
    """Recompute the totals of a few customers, in every scope (processing calls this after a
    confirm or refund). Reads their cheques through purchase_customer_time_idx; returns how many of
    them have purchases."""
    ids = sorted({int(i) for i in customer_ids if i})
    if not ids:
        return 0
    now = timezone.now()
    with transaction.atomic():
        counts = {scope.name: _refresh_some(scope, now=now, ids=ids) for scope in SCOPES}
    return counts["all"]


def customer_stats_rebuild(*, actor: Actor, now: dt.datetime | None = None) -> int:
    """Recompute everyone's totals, scope by scope (one transaction each). Returns customers with
    purchases. `now` is the moment the windows end (default: now)."""
    started = time.perf_counter()
    now = now or timezone.now()
    rows: dict[str, int] = {}
    for scope in SCOPES:
        with transaction.atomic():
            # One rebuild at a time; per-customer refreshes may interleave (each is exact on its own).
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('segments.customer_stats_rebuild'))")
            rows[scope.name] = _rebuild(scope, now=now)
    duration = int((time.perf_counter() - started) * 1000)
    with transaction.atomic():
        StatsRun.objects.update_or_create(pk=1, defaults={"refreshed_at": now, "duration_ms": duration,
                                                          "customers": rows["all"]})
        audit_record(actor=actor, action="segments.stats_rebuild", object_type="segments.customerstats",
                     after={"rows": rows, "duration_ms": duration})
    return rows["all"]
