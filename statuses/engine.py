"""The recalculation statement: one set-based SQL per system and scope of customers.

For the customers in scope it computes the qualifying status (the highest rank whose conditions all
hold, as of `as_of`), decides the new state of each customer's row under the rules below, and writes
only the rows that change, their history and their "status.changed" events, in one statement:

    WITH target  -- customer -> qualifying status (counter values joined per (counter, period))
         cur     -- + the current row (status, rank, grace, manual hold)
         decided -- new status and new grace_until per the rules
         changed -- rows that differ
         upd / ins   -- UPDATE ... FROM changed / INSERT ... ON CONFLICT DO NOTHING, RETURNING
         hist / ev   -- INSERT history and events for rows whose status moved, from RETURNING
    SELECT counts

Rules (mode = scheduled | upgrade | grace):
- a manual hold (`manual_until > as_of`) freezes the row: nothing changes;
- an upgrade (qualifying rank > current rank) applies in every mode;
- qualifying for the current status (or better) clears a running grace period;
- a downgrade applies only in `scheduled` mode without grace, or when a grace period has expired
  (`scheduled` or `grace` mode); never in `upgrade` mode;
- in `scheduled` mode with grace days, a customer below the status gets `grace_until =
  as_of + grace_days` (once: a running grace period is not extended).
So an immediate second run with the same `as_of` finds nothing to change and writes nothing.

Concurrency: UPDATE re-checks that the row still holds the values the decision was based on
(status, grace, hold); a row changed meanwhile by another path (manual assignment, an upgrade at a
till) is skipped and left to that path's own decision, and INSERT skips rows inserted meanwhile
(ON CONFLICT DO NOTHING). History and events come from RETURNING, so they exist exactly for the
rows written.
"""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from attributes.filters import attribute_condition
from attributes.models import Counter
from attributes.periods import counter_today, period_start, previous_period_start
from core.actors import Actor
from core.errors import DomainError
from statuses.conditions import Condition
from statuses.models import Status, StatusRecalculation, StatusSystem

Mode = StatusRecalculation.Mode
_CMP = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<", "eq": "=", "ne": "<>"}
_POSITIONAL = re.compile(r"(?<!%)%s")


class SystemMisconfigured(DomainError):
    """A status names a counter or attribute that does not exist (any more): the system is not
    recalculated at all rather than downgrading everyone."""


@dataclass
class _Params:
    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"%({name})s"

    def embed(self, sql: str, params: list[Any] | tuple[Any, ...]) -> str:
        """Rename the positional placeholders of a foreign fragment to named ones."""
        items = iter(params)
        return _POSITIONAL.sub(lambda _m: self.add(next(items)), sql)


@dataclass(frozen=True)
class CompiledSystem:
    system: StatusSystem
    statuses: tuple[Status, ...]  # best first
    counters: dict[str, Counter]

    @property
    def id(self) -> int:
        return self.system.pk


def compile_system(system: StatusSystem, statuses: list[Status] | None = None,
                   counters: dict[str, Counter] | None = None) -> CompiledSystem:
    """Load what the statement needs (statuses best first, the counters they name by code)."""
    ordered = sorted(statuses if statuses is not None else list(system.statuses.all()), key=lambda s: -s.rank)
    wanted = {c["counter"] for s in ordered for c in s.conditions if c["type"] == "counter"}
    if counters is None:
        counters = {c.code: c for c in Counter.objects.filter(code__in=wanted)} if wanted else {}
    missing = sorted(wanted - set(counters))
    if missing:
        raise SystemMisconfigured("status_system_misconfigured",
                                  f"Status system '{system.code}' names unknown counters: {', '.join(missing)}.")
    return CompiledSystem(system=system, statuses=tuple(ordered), counters=counters)


def counter_period_start(counter: Counter, period: str, as_of: dt.datetime) -> dt.date:
    today = counter_today(counter, as_of)
    return previous_period_start(counter.period, today) if period == "previous" else period_start(counter.period, today)


def _target_select(compiled: CompiledSystem, p: _Params, scope: "_ScopeSql", as_of: dt.datetime) -> str:
    """SELECT customer_id, target_id: the best status whose conditions all hold (NULL: none)."""
    joins: dict[tuple[int, dt.date], str] = {}
    join_sql: list[str] = []
    whens: list[str] = []
    on_day = as_of.astimezone(zoneinfo.ZoneInfo(compiled.system.timezone)).date()
    for status in compiled.statuses:
        preds: list[str] = []
        for cond in status.conditions:
            preds.append(_condition_sql(cond, compiled, p, joins, join_sql, as_of, on_day, scope))
        whens.append(f"WHEN {' AND '.join(preds) if preds else 'TRUE'} THEN {int(status.pk)}")
    case = f"CASE {' '.join(whens)} END" if whens else "NULL::bigint"
    return (
        f"SELECT c.id AS customer_id, ({case})::bigint AS target_id FROM crm_customer c {' '.join(join_sql)} "
        f"WHERE {scope.on('c.id')}{scope.extra} AND c.state <> 'merged'"
    )


def _condition_sql(cond: Condition, compiled: CompiledSystem, p: _Params, joins: dict, join_sql: list[str],
                   as_of: dt.datetime, on_day: dt.date, scope: "_ScopeSql") -> str:
    if cond["type"] == "counter":
        counter = compiled.counters[cond["counter"]]
        start = counter_period_start(counter, cond.get("period", "current"), as_of)
        key = (counter.pk, start)
        if key not in joins:
            alias = f"k{len(joins)}"
            joins[key] = alias
            join_sql.append(
                f"LEFT JOIN attributes_countervalue {alias} ON {alias}.counter_id = {int(counter.pk)} "
                f"AND {alias}.customer_id = c.id AND {alias}.period_start = {p.add(start)} "
                f"AND {scope.on(alias + '.customer_id')}"
            )
        return f"COALESCE({joins[key]}.value, 0) {_CMP[cond['op']]} {p.add(cond['value'])}::numeric"
    try:
        found = attribute_condition(cond["attribute"], cond["op"], cond.get("value"), on=on_day)
    except DomainError as exc:
        raise SystemMisconfigured("status_system_misconfigured",
                                  f"Status system '{compiled.system.code}': {exc.message}") from None
    sql, params = found.sql("c.id")
    return f"({p.embed(sql, params)})"


@dataclass(frozen=True)
class Scope:
    """Which customers: an id range (chunks of a run), explicit ids (one customer at a till), and
    optionally only those whose grace period has expired."""

    first_id: int | None = None
    last_id: int | None = None
    ids: tuple[int, ...] | None = None
    grace_due_only: bool = False


@dataclass(frozen=True)
class Outcome:
    rows_written: int
    changes: int
    events: int
    changed: list[dict[str, Any]]  # with return_changes: [{customer, from, to, reason}]


@dataclass(frozen=True)
class _ScopeSql:
    """The scope as a predicate on any customer id column. PostgreSQL does not carry a range
    condition across a join, so each joined table gets it too: then every table is read by an
    index range scan of the chunk instead of a full scan per chunk."""

    template: str  # with {col}
    extra: str  # on c.id only (grace filter), starting with " AND " when set

    def on(self, column: str) -> str:
        return self.template.format(col=column)


def _scope_sql(scope: Scope, p: _Params, system_id: int, as_of: dt.datetime) -> _ScopeSql:
    parts: list[str] = []
    if scope.ids is not None:
        parts.append(f"{{col}} = ANY({p.add(list(scope.ids))}::bigint[])")
    if scope.first_id is not None:
        parts.append(f"{{col}} >= {p.add(scope.first_id)}")
    if scope.last_id is not None:
        parts.append(f"{{col}} <= {p.add(scope.last_id)}")
    extra = ""
    if scope.grace_due_only:
        extra = (f" AND c.id IN (SELECT customer_id FROM statuses_customerstatus WHERE system_id = {int(system_id)} "
                 f"AND grace_until <= {p.add(as_of)})")
    return _ScopeSql(" AND ".join(parts) or "TRUE", extra)


def recalculation_sql(compiled: CompiledSystem, *, mode: str, scope: Scope, as_of: dt.datetime, actor: Actor,
                      run_id: int | None = None, return_changes: bool = False) -> tuple[str, dict[str, Any]]:
    """The whole statement (see the module docstring) and its parameters."""
    system = compiled.system
    p = _Params()
    sid = int(system.pk)
    scoped = _scope_sql(scope, p, sid, as_of)
    target = _target_select(compiled, p, scoped, as_of)
    now = p.add(as_of)
    expired = f"(cur.grace_until IS NOT NULL AND cur.grace_until <= {now})"
    if mode == Mode.UPGRADE:
        down_allowed = "FALSE"
    elif mode == Mode.GRACE:
        down_allowed = expired
    else:
        down_allowed = f"({expired} OR {int(system.grace_days)} = 0)"
    start_grace = mode == Mode.SCHEDULED and system.grace_days > 0
    grace_end = p.add(as_of + dt.timedelta(days=system.grace_days)) if start_grace else "NULL"
    raise_reason = "'upgrade'" if mode == Mode.UPGRADE else "'recalculation'"
    row_reason = {"upgrade": "automatic upgrade", "grace": "grace period ended",
                  "scheduled": "scheduled recalculation"}[str(mode)]
    changes_sql = (
        "(SELECT COALESCE(json_agg(json_build_object('customer', customer_id, 'from', from_status_id, "
        "'to', to_status_id, 'reason', reason, 'change_id', id)), '[]'::json) FROM hist)"
        if return_changes else "'[]'::json"
    )
    sql = f"""
WITH target AS ({target}),
cur AS (
  SELECT t.customer_id, t.target_id, COALESCE(ts.rank, -1) AS target_rank,
         cs.id AS cs_id, cs.status_id AS current_id, COALESCE(cst.rank, -1) AS current_rank,
         cs.grace_until, cs.manual_until,
         (cs.manual_until IS NOT NULL AND cs.manual_until > {now}) AS held
  FROM target t
  LEFT JOIN statuses_status ts ON ts.id = t.target_id
  LEFT JOIN statuses_customerstatus cs ON cs.system_id = {sid} AND cs.customer_id = t.customer_id
                                        AND {scoped.on("cs.customer_id")}
  LEFT JOIN statuses_status cst ON cst.id = cs.status_id
),
decided AS (
  SELECT cur.*,
    CASE WHEN held THEN current_id
         WHEN target_rank > current_rank THEN target_id
         WHEN target_rank < current_rank AND {down_allowed} THEN target_id
         ELSE current_id END AS new_id,
    CASE WHEN held THEN grace_until
         WHEN target_rank >= current_rank THEN NULL::timestamptz
         WHEN {down_allowed} THEN NULL::timestamptz
         WHEN grace_until IS NULL THEN {grace_end}::timestamptz
         ELSE grace_until END AS new_grace
  FROM cur
),
changed AS (
  SELECT * FROM decided
  WHERE (cs_id IS NULL AND new_id IS NOT NULL)
     OR (cs_id IS NOT NULL AND (new_id IS DISTINCT FROM current_id OR new_grace IS DISTINCT FROM grace_until))
),
upd AS (
  UPDATE statuses_customerstatus cs
  SET status_id = ch.new_id,
      since = CASE WHEN ch.new_id IS DISTINCT FROM ch.current_id THEN now() ELSE cs.since END,
      reason = CASE WHEN ch.new_id IS DISTINCT FROM ch.current_id THEN {p.add(row_reason)} ELSE cs.reason END,
      grace_until = ch.new_grace,
      updated_at = now()
  FROM changed ch
  -- Joined on (system, customer) within the scope, not on cs.id: a merge join on the primary key
  -- would walk the index from its start to the chunk on every chunk.
  WHERE ch.cs_id IS NOT NULL AND cs.system_id = {sid} AND cs.customer_id = ch.customer_id
    AND {scoped.on("cs.customer_id")}
    AND cs.status_id IS NOT DISTINCT FROM ch.current_id
    AND cs.grace_until IS NOT DISTINCT FROM ch.grace_until
    AND cs.manual_until IS NOT DISTINCT FROM ch.manual_until
  RETURNING cs.customer_id, ch.current_id AS from_id, cs.status_id AS to_id
),
ins AS (
  INSERT INTO statuses_customerstatus (system_id, customer_id, status_id, since, manual_until, grace_until, reason,
                                       updated_at)
  SELECT {sid}, customer_id, new_id, now(), NULL, NULL, {p.add(row_reason)}, now() FROM changed WHERE cs_id IS NULL
  ON CONFLICT (system_id, customer_id) DO NOTHING
  RETURNING customer_id, NULL::bigint AS from_id, status_id AS to_id
),
moved AS (
  SELECT customer_id, from_id, to_id FROM upd WHERE from_id IS DISTINCT FROM to_id
  UNION ALL
  SELECT customer_id, from_id, to_id FROM ins
),
hist AS (
  INSERT INTO statuses_statuschange (system_id, customer_id, from_status_id, to_status_id, reason, created_at,
                                     actor_kind, actor_id, actor_label, comment, manual_until, run_id)
  SELECT {sid}, m.customer_id, m.from_id, m.to_id,
         CASE WHEN COALESCE(tr.rank, -1) < COALESCE(fr.rank, -1) THEN 'downgrade' ELSE {raise_reason} END,
         now(), {p.add(actor.kind)}, {p.add(str(actor.id)[:64])}, {p.add(actor.label[:150])}, '', NULL,
         {p.add(run_id)}::bigint
  FROM moved m LEFT JOIN statuses_status fr ON fr.id = m.from_id LEFT JOIN statuses_status tr ON tr.id = m.to_id
  RETURNING id, customer_id, from_status_id, to_status_id, reason
),
ev AS (
  INSERT INTO core_domainevent (kind, customer_id, payload, dedup_key, created_at, processed_at)
  SELECT 'status.changed', h.customer_id,
         jsonb_build_object('system', {p.add(system.code)}::text, 'from', fr.code, 'to', tr.code,
                            'from_name', fr.name, 'to_name', tr.name, 'reason', h.reason,
                            'direction', CASE WHEN h.reason = 'downgrade' THEN 'down' ELSE 'up' END,
                            'change_id', h.id),
         NULL, now(), NULL
  FROM hist h LEFT JOIN statuses_status fr ON fr.id = h.from_status_id
              LEFT JOIN statuses_status tr ON tr.id = h.to_status_id
  RETURNING 1
)
SELECT (SELECT count(*) FROM upd) + (SELECT count(*) FROM ins), (SELECT count(*) FROM hist),
       (SELECT count(*) FROM ev), {changes_sql}
"""
    return sql, p.values


def recalculate(compiled: CompiledSystem, *, mode: str, scope: Scope, as_of: dt.datetime, actor: Actor,
                run_id: int | None = None, return_changes: bool = False) -> Outcome:
    """Run the statement in the caller's transaction."""
    sql, params = recalculation_sql(compiled, mode=mode, scope=scope, as_of=as_of, actor=actor, run_id=run_id,
                                    return_changes=return_changes)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows_written, changes, events, changed = cursor.fetchone()
    if isinstance(changed, str):
        import json

        changed = json.loads(changed)
    return Outcome(rows_written=int(rows_written), changes=int(changes), events=int(events),
                   changed=list(changed or []))
