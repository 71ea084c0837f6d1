"""Periodic ledger work, set-based: activate due lots, expire due lots, release expired holds, and
emit "points expiring soon" events.

Each step walks the due rows in pages of `chunk` rows (keyset on the partial index that finds them).
Per page, in one transaction: lock the page's accounts in pk order (one statement), then one
statement of data-modifying CTEs that moves the lots (or holds), inserts one ledger entry per lot
and updates every account's cached balances. Nothing is done per row in Python.

Re-running is harmless: the statement re-checks each row's state under the account locks, and the
entries' idempotency keys (`expiry:<lot>`, `activation:<lot>`, `<hold>:release`) are unique.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from core.actors import Actor
from core.models import DomainEvent
from core.services import audit_record
from crm.models import ProgramSettings
from crm.services.ledger_base import ZERO, accounts_lock

CHUNK = 1000
EXPIRING_SOON_EVENT = "crm.points_expiring_soon"


@dataclass
class DueRun:
    """What one run did: rows moved, points moved, accounts left for the next run (and why)."""

    rows: int = 0
    points: Decimal = ZERO
    chunks: int = 0
    postponed_accounts: set[int] = field(default_factory=set)


# The entry columns every statement below fills (created_at is the database's now()).
_ENTRY_COLUMNS = ("account_id, kind, amount, activated_delta, pending_delta, held_delta, source, idempotency_key, "
                  "lot_id, hold_id, actor_kind, actor_id, description, created_at")

_ACTIVATE_SQL = f"""
WITH due AS (
    SELECT id, account_id, remaining FROM crm_lot
    WHERE id = ANY(%(ids)s) AND state = 'pending' AND activate_at <= %(now)s
),
lots AS (
    UPDATE crm_lot l SET state = 'active' FROM due WHERE l.id = due.id
    RETURNING due.id, due.account_id, due.remaining
),
entries AS (
    INSERT INTO crm_ledgerentry ({_ENTRY_COLUMNS})
    SELECT account_id, 'activation', 0, remaining, -remaining, 0, 'system', 'activation:' || id,
           id, NULL, %(actor_kind)s, %(actor_id)s, 'activated', now()
    FROM lots
    RETURNING 1
),
accounts AS (
    UPDATE crm_account a
    SET activated_balance = a.activated_balance + s.total, pending_balance = a.pending_balance - s.total,
        updated_at = now()
    FROM (SELECT account_id, sum(remaining) AS total FROM lots GROUP BY account_id) s
    WHERE a.id = s.account_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM lots), (SELECT coalesce(sum(remaining), 0) FROM lots),
       (SELECT count(*) FROM entries), (SELECT count(*) FROM accounts), ARRAY[]::bigint[]
"""

# An account whose held points would no longer be covered (a cheque in progress holds points of a
# lot that is now due) keeps its lots until the hold is confirmed or released: the next run
# expires them. The constraint activated >= held could not be kept otherwise.
_EXPIRE_SQL = f"""
WITH due AS (
    SELECT id, account_id, state, remaining FROM crm_lot
    WHERE id = ANY(%(ids)s) AND state IN ('active', 'pending') AND expire_at <= %(now)s
),
per_account AS (
    SELECT account_id,
           coalesce(sum(remaining) FILTER (WHERE state = 'active'), 0) AS act,
           coalesce(sum(remaining) FILTER (WHERE state = 'pending'), 0) AS pend
    FROM due GROUP BY account_id
),
ok AS (
    SELECT p.* FROM per_account p JOIN crm_account a ON a.id = p.account_id
    WHERE a.activated_balance - p.act >= a.held_balance
),
lots AS (
    UPDATE crm_lot l SET state = 'expired', remaining = 0
    FROM due JOIN ok ON ok.account_id = due.account_id
    WHERE l.id = due.id
    RETURNING due.id, due.account_id, due.state AS was, due.remaining
),
entries AS (
    INSERT INTO crm_ledgerentry ({_ENTRY_COLUMNS})
    SELECT account_id, 'expiry', -remaining,
           CASE WHEN was = 'active' THEN -remaining ELSE 0 END, CASE WHEN was = 'pending' THEN -remaining ELSE 0 END,
           0, 'system', 'expiry:' || id, id, NULL, %(actor_kind)s, %(actor_id)s, 'expired', now()
    FROM lots
    RETURNING 1
),
accounts AS (
    UPDATE crm_account a
    SET activated_balance = a.activated_balance - ok.act, pending_balance = a.pending_balance - ok.pend,
        updated_at = now()
    FROM ok WHERE a.id = ok.account_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM lots), (SELECT coalesce(sum(remaining), 0) FROM lots),
       (SELECT count(*) FROM entries), (SELECT count(*) FROM accounts),
       ARRAY(SELECT account_id FROM per_account EXCEPT SELECT account_id FROM ok)
"""

_RELEASE_SQL = f"""
WITH due AS (
    SELECT id, account_id, amount FROM crm_hold
    WHERE id = ANY(%(ids)s) AND state = 'open' AND expires_at <= %(now)s
),
holds AS (
    UPDATE crm_hold h SET state = 'released', closed_at = now() FROM due WHERE h.id = due.id
    RETURNING due.id, due.account_id, due.amount
),
entries AS (
    INSERT INTO crm_ledgerentry ({_ENTRY_COLUMNS})
    SELECT account_id, 'release', 0, 0, 0, -amount, 'hold', id || ':release',
           NULL, id, %(actor_kind)s, %(actor_id)s, 'hold expired', now()
    FROM holds
    RETURNING 1
),
accounts AS (
    UPDATE crm_account a SET held_balance = a.held_balance - s.total, updated_at = now()
    FROM (SELECT account_id, sum(amount) AS total FROM holds GROUP BY account_id) s
    WHERE a.id = s.account_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM holds), (SELECT coalesce(sum(amount), 0) FROM holds),
       (SELECT count(*) FROM entries), (SELECT count(*) FROM accounts), ARRAY[]::bigint[]
"""

# Pages of due rows, in the order of the partial index that holds them.
_PAGES = {
    "activate": "SELECT id, account_id, activate_at FROM crm_lot WHERE state = 'pending' AND activate_at <= %(now)s "
                "AND (activate_at, id) > (%(after_t)s, %(after_id)s) ORDER BY activate_at, id LIMIT %(limit)s",
    "expire": "SELECT id, account_id, expire_at FROM crm_lot WHERE state IN ('active', 'pending') "
              "AND expire_at <= %(now)s AND (expire_at, id) > (%(after_t)s, %(after_id)s) "
              "ORDER BY expire_at, id LIMIT %(limit)s",
    "release": "SELECT id, account_id, expires_at FROM crm_hold WHERE state = 'open' AND expires_at <= %(now)s "
               "AND (expires_at, id) > (%(after_t)s, %(after_id)s) ORDER BY expires_at, id LIMIT %(limit)s",
}
_STEPS = {"activate": _ACTIVATE_SQL, "expire": _EXPIRE_SQL, "release": _RELEASE_SQL}
_ACTIONS = {"activate": "ledger.activate_due", "expire": "ledger.expire_due", "release": "ledger.release_expired_holds"}
_OBJECTS = {"activate": "crm.lot", "expire": "crm.lot", "release": "crm.hold"}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _run(step: str, *, now: dt.datetime, actor: Actor, chunk: int) -> DueRun:
    run = DueRun()
    after_t, after_id = _EPOCH, 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_PAGES[step], {"now": now, "after_t": after_t, "after_id": after_id, "limit": chunk})
            page = cursor.fetchall()
        if not page:
            return run
        after_id, after_t = page[-1][0], page[-1][2]
        with transaction.atomic():
            accounts_lock(row[1] for row in page)
            params: dict[str, Any] = {"ids": [row[0] for row in page], "now": now, "actor_kind": actor.kind,
                                      "actor_id": str(actor.id)[:64]}
            with connection.cursor() as cursor:
                cursor.execute(_STEPS[step], params)
                moved, total, entries, _accounts, postponed = cursor.fetchone()
            if moved != entries:  # one entry per row moved, or the books would not add up
                raise RuntimeError(f"{step}: {moved} rows moved but {entries} entries written")
            if moved:
                audit_record(actor=actor, action=_ACTIONS[step], object_type=_OBJECTS[step],
                             after={"rows": moved, "points": total, "due_before": now})
        run.rows += moved
        run.points += total
        run.chunks += 1
        run.postponed_accounts.update(postponed)
        if len(page) < chunk:
            return run


def ledger_activate_due(*, now: dt.datetime, actor: Actor | None = None, chunk: int = CHUNK) -> DueRun:
    """Activate every pending lot whose `activate_at` has come: pending -> activated balance."""
    return _run("activate", now=now, actor=actor or Actor.system("ledger.activation"), chunk=chunk)


def ledger_expire_due(*, now: dt.datetime, actor: Actor | None = None, chunk: int = CHUNK) -> DueRun:
    """Expire every active or pending lot whose `expire_at` has come, writing one expiry entry per lot.

    An account whose open holds would no longer be covered is postponed to a later run (reported)."""
    return _run("expire", now=now, actor=actor or Actor.system("ledger.expiry"), chunk=chunk)


def ledger_release_expired_holds(*, now: dt.datetime, actor: Actor | None = None, chunk: int = CHUNK) -> DueRun:
    """Release every open hold past its `expires_at` (a till that never confirmed nor cancelled)."""
    return _run("release", now=now, actor=actor or Actor.system("ledger.holds"), chunk=chunk)


# Lots locked by a booking right now are skipped (SKIP LOCKED) and caught by the next run; this step
# takes no account locks, since it moves no balance.
_EXPIRING_SQL = """
WITH picked AS (
    SELECT id FROM crm_lot
    WHERE state = 'active' AND NOT expiring_notified AND expire_at > %(now)s AND expire_at <= %(horizon)s
    ORDER BY expire_at, id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE crm_lot l SET expiring_notified = true
FROM picked, crm_account a, crm_currency c
WHERE l.id = picked.id AND a.id = l.account_id AND c.id = a.currency_id
RETURNING l.id, l.account_id, a.customer_id, c.code, l.remaining, l.expire_at
"""


def ledger_notify_expiring(*, now: dt.datetime, days: int | None = None, chunk: int = CHUNK) -> int:
    """Emit one `crm.points_expiring_soon` event per active lot expiring within `days`
    (ProgramSettings.expiring_soon_days by default), once per lot. Returns the number emitted.

    The events are what `core.services.event_emit(dedup_key=...)` writes, inserted a page at a time
    (one INSERT per page rather than one per lot), with the same dedup key per lot.
    """
    if days is None:
        days = ProgramSettings.load().expiring_soon_days
    horizon = now + dt.timedelta(days=days)
    emitted = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(_EXPIRING_SQL, {"now": now, "horizon": horizon, "limit": chunk})
                rows = cursor.fetchall()
            DomainEvent.objects.bulk_create(
                [
                    DomainEvent(
                        kind=EXPIRING_SOON_EVENT,
                        customer_id=customer_id,
                        payload={"account_id": account_id, "lot_id": lot_id, "currency": currency,
                                 "points": str(remaining), "expire_at": expire_at.isoformat(), "days": days},
                        dedup_key=f"{EXPIRING_SOON_EVENT}:{lot_id}",
                    )
                    for lot_id, account_id, customer_id, currency, remaining, expire_at in rows
                ],
                ignore_conflicts=True,
                batch_size=chunk,
            )
        emitted += len(rows)
        if len(rows) < chunk:
            return emitted
