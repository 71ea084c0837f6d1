"""Recalculation: scheduled runs over all customers (chunked tasks), grace expiry, upgrades at the till.

Entry points:
- `status_recalculations_start_due` (beat, `statuses.tasks.periodic_recalculate_due`): starts the
  scheduled run of every system whose `next_recalculation_at` has come, and a grace-expiry run of
  every system with expired grace periods;
- `status_recalculation_start`: a run of one system, split into customer id ranges (keyset) each
  done by a `statuses.tasks.status_recalculate_chunk` task after commit;
- `status_recalculate_chunk`: one range, one transaction, one statement (statuses.engine);
- `status_recalculate_now`: a whole run in this process (tests, demo, benchmark);
- `status_upgrade_for_customer`: processing calls it when a cheque is confirmed (upgrades only).
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import connection, transaction
from django.db.models import Prefetch
from django.utils import timezone

from attributes.models import Counter
from core.actors import Actor
from core.errors import NotFound
from core.services import audit_record
from statuses.engine import CompiledSystem, Outcome, Scope, SystemMisconfigured, compile_system, recalculate
from statuses.models import Status, StatusRecalculation, StatusSystem
from statuses.schedule import next_boundary

logger = logging.getLogger(__name__)

CHUNK = 20_000  # customers per chunk: one set-based statement each (~0.1-0.3 s)
GRACE_CHUNK = 1_000  # grace-expiry runs touch few customers: smaller chunks
LAST_ID = 2**63 - 1  # the last range is open-ended: customers created during the run are included
Mode = StatusRecalculation.Mode


def customer_ranges(*, chunk: int = CHUNK) -> list[tuple[int, int]]:
    """Keyset ranges of about `chunk` customer ids each, covering every customer.

    Ids from a sequence are dense, so ranges of `chunk` consecutive ids hold about `chunk`
    customers each and cost two index probes to find (min, max). When ids are sparse (more than
    twice as many possible ids as rows, e.g. after big deletions) the ranges are cut by row
    count instead (one index-only scan). The first and last ranges are open-ended, so customers
    created during the run are included."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id), (SELECT reltuples FROM pg_class WHERE oid = 'crm_customer'::regclass) "
                       "FROM crm_customer")
        low, high, estimate = cursor.fetchone()
        if low is None:
            return []
        if estimate and estimate > 0 and (high - low + 1) <= 2 * estimate:
            ranges = [(start, min(start + chunk - 1, high)) for start in range(low, high + 1, chunk)]
        else:
            cursor.execute(
                "SELECT min(id), max(id) FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / %s AS b "
                "FROM crm_customer) s GROUP BY b ORDER BY 1", [chunk])
            ranges = [(int(a), int(b)) for a, b in cursor.fetchall()]
    ranges[0] = (0, ranges[0][1])
    ranges[-1] = (ranges[-1][0], LAST_ID)
    return ranges


def grace_ranges(*, system_id: int, as_of: dt.datetime, chunk: int = GRACE_CHUNK) -> list[tuple[int, int]]:
    """Ranges over the customers whose grace period in the system has expired (partial index)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(customer_id), max(customer_id) FROM (SELECT customer_id, "
            "(row_number() OVER (ORDER BY customer_id) - 1) / %s AS b FROM statuses_customerstatus "
            "WHERE system_id = %s AND grace_until IS NOT NULL AND grace_until <= %s) s GROUP BY b ORDER BY 1",
            [chunk, system_id, as_of])
        return [(int(a), int(b)) for a, b in cursor.fetchall()]


@transaction.atomic
def status_recalculation_start(*, system_id: int, mode: str, actor: Actor, as_of: dt.datetime | None = None,
                               chunk: int | None = None, enqueue: bool = True) -> StatusRecalculation:
    """Record a run and queue its chunks (after commit). A scheduled run also moves the system's
    next date to the following period boundary. A misconfigured system gets a failed run."""
    system = StatusSystem.objects.select_for_update().filter(pk=system_id).first()
    if system is None:
        raise NotFound("not_found", f"No status system {system_id}.")
    as_of = as_of or timezone.now()
    run = StatusRecalculation.objects.create(system=system, mode=mode, as_of=as_of, actor_label=actor.label[:150])
    due = system.next_recalculation_at
    if mode == Mode.SCHEDULED and (due is None or due <= timezone.now()):
        # The due run moves the schedule on; an early run by hand leaves it as it is.
        following = next_boundary(period=system.period, tz=system.timezone, after=due or as_of)
        if following <= timezone.now():  # the beat was down for whole periods: do not run them all
            following = next_boundary(period=system.period, tz=system.timezone)
        StatusSystem.objects.filter(pk=system.pk).update(next_recalculation_at=following)
    try:
        compile_system(system)
    except SystemMisconfigured as exc:
        run.state, run.error, run.finished_at = StatusRecalculation.State.FAILED, exc.message, timezone.now()
        run.save(update_fields=["state", "error", "finished_at"])
        logger.error("status recalculation of %s not started: %s", system.code, exc.message)
        audit_record(actor=actor, action="status_recalculation.failed", target=run, comment=exc.message)
        return run
    if mode == Mode.GRACE:
        ranges = grace_ranges(system_id=system.pk, as_of=as_of, chunk=chunk or GRACE_CHUNK)
    else:
        ranges = customer_ranges(chunk=chunk or CHUNK)
    run.chunks_total = len(ranges)
    if not ranges:
        run.state, run.finished_at = StatusRecalculation.State.DONE, timezone.now()
    run.save(update_fields=["chunks_total", "state", "finished_at"])
    audit_record(actor=actor, action="status_recalculation.start", target=run,
                 after={"system": system.code, "mode": mode, "as_of": as_of, "chunks": len(ranges)})
    if ranges and enqueue:
        from statuses.tasks import status_recalculate_chunk

        def send() -> None:
            for first, last in ranges:
                status_recalculate_chunk.delay(run.pk, first, last)

        transaction.on_commit(send)
    run.ranges = ranges  # type: ignore[attr-defined]  # for status_recalculate_now
    return run


def status_recalculate_chunk(*, run_id: int, first_id: int, last_id: int) -> Outcome | None:
    """Apply one range of a run: one transaction, one statement, the run's progress beside it.
    A chunk already applied (redelivered task) or of a finished run does nothing."""
    with transaction.atomic():
        run = StatusRecalculation.objects.select_related("system").filter(pk=run_id).first()
        if run is None or run.state != StatusRecalculation.State.RUNNING or first_id in run.done_chunks:
            return None
        compiled = compile_system(run.system)
        actor = Actor.system(f"status recalculation #{run.pk}")
        outcome = recalculate(compiled, mode=run.mode, as_of=run.as_of, actor=actor, run_id=run.pk,
                              scope=Scope(first_id=first_id, last_id=last_id, grace_due_only=run.mode == Mode.GRACE))
        with connection.cursor() as cursor:
            # Row lock on the run: chunks in parallel serialize here, briefly, at their end.
            cursor.execute(
                "UPDATE statuses_statusrecalculation SET chunks_done = chunks_done + 1, "
                "done_chunks = array_append(done_chunks, %s), rows_written = rows_written + %s, "
                "changes = changes + %s, "
                "state = CASE WHEN chunks_done + 1 >= chunks_total THEN 'done' ELSE state END, "
                "finished_at = CASE WHEN chunks_done + 1 >= chunks_total THEN now() ELSE finished_at END "
                "WHERE id = %s AND NOT (%s = ANY(done_chunks)) RETURNING state",
                [first_id, outcome.rows_written, outcome.changes, run.pk, first_id])
            row = cursor.fetchone()
        if row is None:  # a twin of this chunk committed first: undo ours (it wrote nothing anyway)
            transaction.set_rollback(True)
            return None
        if row[0] == StatusRecalculation.State.DONE:
            _finish(run)
    return outcome


def _finish(run: StatusRecalculation) -> None:
    run.refresh_from_db()
    if run.mode == Mode.SCHEDULED:
        StatusSystem.objects.filter(pk=run.system_id).update(last_recalculated_at=run.finished_at)
    audit_record(actor=Actor.system(f"status recalculation #{run.pk}"), action="status_recalculation.done",
                 target=run, after={"rows_written": run.rows_written, "changes": run.changes,
                                    "chunks": run.chunks_total})


def status_recalculate_chunk_failed(*, run_id: int, error: str) -> None:
    """A chunk task gave up: mark the run failed (the other chunks still apply; rerun to finish)."""
    StatusRecalculation.objects.filter(pk=run_id, state=StatusRecalculation.State.RUNNING).update(
        state=StatusRecalculation.State.FAILED, error=error[:2000], finished_at=timezone.now())


def status_recalculate_now(*, system_id: int, mode: str, actor: Actor, as_of: dt.datetime | None = None,
                           chunk: int | None = None) -> StatusRecalculation:
    """A whole run in this process, chunk after chunk (tests, demo, benchmark, small bases)."""
    run = status_recalculation_start(system_id=system_id, mode=mode, actor=actor, as_of=as_of, chunk=chunk,
                                     enqueue=False)
    for first, last in getattr(run, "ranges", []):
        status_recalculate_chunk(run_id=run.pk, first_id=first, last_id=last)
    run.refresh_from_db()
    return run


def status_recalculations_start_due(*, now: dt.datetime | None = None) -> list[int]:
    """Beat: start the scheduled run of each due system and a grace run where graces expired.
    Each system in its own transaction, locked, so two beats never start the same run twice."""
    now = now or timezone.now()
    actor = Actor.system("status schedule")
    started: list[int] = []
    due = StatusSystem.objects.filter(is_active=True, next_recalculation_at__lte=now).values_list("pk", flat=True)
    for system_id in list(due):
        with transaction.atomic():
            system = (StatusSystem.objects.select_for_update(skip_locked=True)
                      .filter(pk=system_id, is_active=True, next_recalculation_at__lte=now).first())
            if system is None:
                continue
            run = status_recalculation_start(system_id=system.pk, mode=Mode.SCHEDULED, actor=actor,
                                             as_of=system.next_recalculation_at)
            started.append(run.pk)
    running = set(StatusRecalculation.objects.filter(state=StatusRecalculation.State.RUNNING)
                  .values_list("system_id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT system_id FROM statuses_customerstatus WHERE grace_until IS NOT NULL "
                       "AND grace_until <= %s", [now])
        graced = [row[0] for row in cursor.fetchall()]
    for system_id in graced:
        if system_id in running or not StatusSystem.objects.filter(pk=system_id, is_active=True).exists():
            continue
        run = status_recalculation_start(system_id=system_id, mode=Mode.GRACE, actor=actor, as_of=now)
        started.append(run.pk)
    return started


def _active_compiled() -> list[CompiledSystem]:
    """Every active system with its statuses and counters: three queries whatever their number."""
    systems = list(StatusSystem.objects.filter(is_active=True).order_by("id")
                   .prefetch_related(Prefetch("statuses", queryset=Status.objects.order_by("-rank"))))
    codes = {c["counter"] for s in systems for st in s.statuses.all() for c in st.conditions if c["type"] == "counter"}
    counters = {c.code: c for c in Counter.objects.filter(code__in=codes)} if codes else {}
    out: list[CompiledSystem] = []
    for system in systems:
        try:
            out.append(compile_system(system, list(system.statuses.all()), counters))
        except SystemMisconfigured as exc:
            logger.error("status system %s skipped: %s", system.code, exc.message)
    return out


def status_upgrade_for_customer(*, customer_id: int, actor: Actor | None = None,
                                as_of: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Upgrade the customer in every active system whose better status they now qualify for.
    Never downgrades; respects manual holds; clears a running grace period when they qualify again.

    Call it in the transaction that confirms the cheque, after the counters took the purchase in
    (then the upgrade commits or rolls back with the confirm). Returns the changes:
    [{"system": code, "from": code|None, "to": code, "reason": "upgrade", "change_id": id}].
    Queries: 3 + one statement per active system (+1 per attribute condition).
    """
    actor = actor or Actor.system("status upgrade")
    as_of = as_of or timezone.now()
    changes: list[dict[str, Any]] = []
    with transaction.atomic():
        for compiled in _active_compiled():
            if not compiled.statuses:
                continue
            outcome = recalculate(compiled, mode=Mode.UPGRADE, scope=Scope(ids=(customer_id,)), as_of=as_of,
                                  actor=actor, return_changes=True)
            codes = {s.pk: s.code for s in compiled.statuses}
            for change in outcome.changed:
                changes.append({"system": compiled.system.code, "from": codes.get(change["from"]),
                                "to": codes.get(change["to"]), "reason": change["reason"],
                                "change_id": change["change_id"]})
    return changes


def status_upgrade_receiver(sender: Any = None, *, customer_id: int | None = None, **kwargs: Any) -> None:
    """Signal-receiver shape of the upgrade hook: `some_signal.connect(status_upgrade_receiver)`.
    Runs in the sender's transaction; a signal without a customer is ignored."""
    if customer_id:
        status_upgrade_for_customer(customer_id=int(customer_id), actor=kwargs.get("actor"))


__all__ = [
    "CHUNK",
    "customer_ranges",
    "status_recalculate_chunk",
    "status_recalculate_chunk_failed",
    "status_recalculate_now",
    "status_recalculation_start",
    "status_recalculations_start_due",
    "status_upgrade_for_customer",
    "status_upgrade_receiver",
]
