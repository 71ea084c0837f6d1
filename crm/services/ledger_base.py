"""Building blocks shared by the ledger services: amounts, account locks, idempotency, spending lots.

Not a public API: processing and the other apps call `crm.services.ledger` (and `adjustments`).

Invariants kept here (see crm/models/ledger.py for the schema side):
- Lots and holds change only while their account's row is locked (`SELECT ... FOR UPDATE`). The
  account lock serialises everything that moves the account's balances, so lot rows need no lock
  of their own and may be read with window functions (which `FOR UPDATE` does not allow).
- When one transaction moves several accounts, it locks them all first, in ascending pk order, in
  one statement: two transactions never wait on each other in opposite orders.
- `activated_balance == sum(remaining of active lots)` and `pending_balance == sum(remaining of
  pending lots)`: every activated point lives in a lot, so spending is always spending lots.
- The idempotency check rides on the locking statement (one round trip): a retry of a booking that
  committed earlier is answered from it. A retry racing the first booking of its key (it waited on
  the lock, or used another account) cannot see it in that statement's snapshot; the unique
  constraint (source, idempotency_key) is the wall it then hits, and `run_idempotent` rolls the
  attempt back and answers with the original.
- The hot paths (accrual, debits) write with one statement of data-modifying CTEs each (lot, entry,
  consumptions, lots, balance and the audit event together), issued after the lock so it sees the
  lots as they are: a booking costs two round trips and the commit. The audit row is the one
  `core.services.audit_record` writes (same columns, same `after`), written by that statement
  rather than by a second INSERT through the ORM, which cost as much as the whole booking.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.actors import Actor
from core.db import prepared_cursor
from core.errors import Conflict, DomainError, NotFound
from crm.models import Account, Card, CardAccount, Hold, LedgerEntry, Lot

ZERO = Decimal("0.00")
POINT = Decimal("0.01")
MAX_POINTS = Decimal("1e16")  # 18 digits with 2 decimals, as the columns allow
KEY_MAX = 200
SOURCE_MAX = 32


def points(value: Decimal | int | str, *, field: str = "amount", signed: bool = False) -> Decimal:
    """A points amount as Decimal with exactly 2 places; refuses floats, NaN, >2 places, zero and
    (unless `signed`) negatives, naming the field."""
    if isinstance(value, (float, bool)):
        raise DomainError("invalid_amount", f"{field}: give a decimal number (string or Decimal), not {type(value).__name__}.",
                          field=field)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise DomainError("invalid_amount", f"{field}: '{value}' is not a number.", field=field) from None
    if not number.is_finite():
        raise DomainError("invalid_amount", f"{field}: '{value}' is not a number.", field=field)
    if abs(number) >= MAX_POINTS:
        raise DomainError("invalid_amount", f"{field}: {value} is too large.", field=field)
    if number != number.quantize(POINT):
        raise DomainError("invalid_amount", f"{field}: at most 2 decimal places ({value}).", field=field)
    number = number.quantize(POINT)
    if number == 0:
        raise DomainError("invalid_amount", f"{field}: must not be zero.", field=field)
    if number < 0 and not signed:
        raise DomainError("invalid_amount", f"{field}: must be positive ({value}).", field=field)
    return number


def key_check(*, source: str, idempotency_key: str) -> None:
    if not source or len(source) > SOURCE_MAX:
        raise DomainError("invalid_source", f"source: 1 to {SOURCE_MAX} characters.", field="source")
    if not idempotency_key or not idempotency_key.strip() or len(idempotency_key) > KEY_MAX:
        raise DomainError("invalid_idempotency_key", f"idempotency_key: 1 to {KEY_MAX} characters, required.",
                          field="idempotency_key")


@dataclass(slots=True)
class Locked:
    """An account row locked by this transaction: its balances as they are now."""

    pk: int
    activated_balance: Decimal
    pending_balance: Decimal
    held_balance: Decimal
    updated_at: dt.datetime | None = None
    booked_entry_id: int | None = None  # the entry this idempotency key already booked, if any

    @property
    def available(self) -> Decimal:
        return self.activated_balance - self.held_balance


_LOCK_SQL = """
SELECT a.activated_balance, a.pending_balance, a.held_balance,
       (SELECT e.id FROM crm_ledgerentry e WHERE e.source = %s AND e.idempotency_key = %s)
FROM crm_account a WHERE a.id = %s FOR UPDATE OF a
"""


def account_lock(account_id: int, *, source: str = "", idempotency_key: str = "") -> Locked:
    """Lock the account row until the end of the transaction, read its balances and, in the same
    round trip, the entry an earlier call with this (source, idempotency_key) booked."""
    with prepared_cursor() as cursor:
        cursor.execute(_LOCK_SQL, [source, idempotency_key, account_id])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("account_not_found", f"No account #{account_id}.", field="account")
    return Locked(account_id, row[0], row[1], row[2], booked_entry_id=row[3])


def accounts_lock(account_ids: Iterable[int]) -> dict[int, Account]:
    """Lock several accounts in ascending pk order, in one statement (no deadlock with each other)."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    return {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def entry_find(*, source: str, idempotency_key: str) -> LedgerEntry | None:
    return LedgerEntry.objects.filter(source=source, idempotency_key=idempotency_key).first()


def entry_replay(original: LedgerEntry, *, account_id: int, kind: str, amount: Decimal | None) -> LedgerEntry:
    """The entry an earlier call with this key booked, if the call asked for the same thing.

    Sets `original.replayed = True` so an API may tell a replay from a first booking.
    """
    if original.account_id != account_id or original.kind != kind or (amount is not None and original.amount != amount):
        raise Conflict(
            "idempotency_key_reused",
            f"This idempotency key already booked a different operation (entry #{original.pk}: "
            f"{original.kind} {original.amount} on account #{original.account_id}).",
            field="idempotency_key",
        )
    original.replayed = True  # type: ignore[attr-defined]
    return original


def is_unique_violation(exc: IntegrityError, constraint: str) -> bool:
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None) == constraint


def run_idempotent(write: Callable[[], Any], *, on_conflict: Callable[[], Any],
                   constraint: str = "ledger_idempotency_unique", savepoint: bool = True) -> Any:
    """Run `write` in its own atomic block (the transaction, or a savepoint inside the caller's).

    If the unique idempotency constraint fires anyway (the same key booked at this very moment on
    another account), the block is rolled back and `on_conflict` answers with the original booking.

    `savepoint=False`: for a caller whose keys cannot collide meanwhile (they are derived from a row
    it holds locked, e.g. the till's cheque) and that lets any error end its whole transaction. The
    savepoint and its release are two round trips per booking on the till's hot path; without them
    a conflict (or any error) rolls back the caller's transaction instead of being answered here.
    """
    if not savepoint:
        with transaction.atomic(savepoint=False):
            return write()
    try:
        with transaction.atomic():
            return write()
    except IntegrityError as exc:
        if not is_unique_violation(exc, constraint):
            raise
    return on_conflict()


def card_check(*, card: Card, account_id: int, spend: bool) -> None:
    """A card may book on an account it holds; a blocked or replaced card books nothing, and a card
    that is not activated earns but cannot spend (as the original does)."""
    if not CardAccount.objects.filter(card_id=card.pk, account_id=account_id).exists():
        raise DomainError("card_account_mismatch", f"Card {card.number} does not hold account #{account_id}.", field="card")
    if card.state == Card.State.BLOCKED:
        raise DomainError("card_blocked", f"Card {card.number} is blocked.", field="card")
    if card.state == Card.State.REPLACED:
        raise DomainError("card_replaced", f"Card {card.number} was replaced; use the new card.", field="card")
    if spend and card.state == Card.State.NOT_ACTIVATED:
        raise DomainError("card_not_activated", f"Card {card.number} is not activated: it earns but cannot spend.",
                          field="card")


@dataclass(frozen=True, slots=True)
class Deltas:
    activated: Decimal = ZERO
    pending: Decimal = ZERO
    held: Decimal = ZERO


def account_move(account: Locked, deltas: Deltas) -> None:
    """Add `deltas` to the locked account's balances: one UPDATE; `account` follows in memory.

    The database constraints (activated >= held >= 0, pending >= 0) are the last wall behind the
    checks the services make before they get here.
    """
    now = timezone.now()
    with prepared_cursor() as cursor:
        cursor.execute(
            "UPDATE crm_account SET activated_balance = activated_balance + %s, pending_balance = pending_balance + %s, "
            "held_balance = held_balance + %s, updated_at = %s WHERE id = %s",
            [deltas.activated, deltas.pending, deltas.held, now, account.pk],
        )
    _follow(account, deltas, now)


def _follow(account: Locked, deltas: Deltas, now: dt.datetime) -> None:
    account.activated_balance += deltas.activated
    account.pending_balance += deltas.pending
    account.held_balance += deltas.held
    account.updated_at = now


def balances_copy(target: Account, source: Locked) -> None:
    """Let the caller's instance show the balances the service left (no extra query)."""
    target.activated_balance = source.activated_balance
    target.pending_balance = source.pending_balance
    target.held_balance = source.held_balance
    if source.updated_at is not None:
        target.updated_at = source.updated_at


# --- the hot writes: one statement each -------------------------------------------------------

_ENTRY_COLUMNS = ("account_id, kind, amount, activated_delta, pending_delta, held_delta, source, idempotency_key, "
                  "purchase_id, lot_id, hold_id, actor_kind, actor_id, description, created_at")

# The audit event of a booking, as audit_record(target=entry, after=entry_after(...)) writes it.
_AUDIT_CTE = """audit AS (
    INSERT INTO core_auditevent (created_at, actor_kind, actor_id, actor_label, action, object_type, object_id,
                                 object_repr, before, after, comment)
    SELECT %(now)s, %(actor_kind)s, %(actor_id)s, %(actor_label)s, %(action)s, 'crm.ledgerentry', entry.id::text,
           left(%(kind)s || ' ' || (%(signed)s)::numeric(18, 2)::text || ' on #' || %(account)s::text, 200), NULL,
           jsonb_build_object('account', %(account)s::bigint, 'kind', %(kind)s,
                              'amount', (%(signed)s)::numeric(18, 2)::text, 'source', %(source)s,
                              'idempotency_key', %(key)s, 'activated_balance', balance.activated_balance::text,
                              'pending_balance', balance.pending_balance::text,
                              'held_balance', balance.held_balance::text),
           %(comment)s
    FROM entry, balance
)"""

# A credit: its lot, its entry, the cached balance and the audit event, together.
_CREDIT_SQL = f"""
WITH lot AS (
    INSERT INTO crm_lot (account_id, amount, remaining, state, activate_at, expire_at, expiring_notified, created_at)
    VALUES (%(account)s, %(amount)s, %(amount)s, %(state)s, %(activate_at)s, %(expire_at)s, false, %(now)s)
    RETURNING id
),
entry AS (
    INSERT INTO crm_ledgerentry ({_ENTRY_COLUMNS})
    SELECT %(account)s, %(kind)s, %(amount)s, %(activated)s, %(pending)s, 0, %(source)s, %(key)s, %(purchase)s,
           lot.id, NULL, %(actor_kind)s, %(actor_id)s, %(description)s, %(now)s
    FROM lot
    RETURNING id, lot_id
),
balance AS (
    UPDATE crm_account SET activated_balance = activated_balance + %(activated)s,
                           pending_balance = pending_balance + %(pending)s, updated_at = %(now)s
    WHERE id = %(account)s
    RETURNING activated_balance, pending_balance, held_balance
),
{_AUDIT_CTE}
SELECT id, lot_id FROM entry
"""

# A debit: the soonest-expiring active lots that cover the amount (never-expiring last, then the
# oldest; matches lot_spend_order_idx), what each gives, the entry, one LotConsumption per lot,
# the lots' remainders, the cached balance (less `held` for a confirmed hold) and the audit event.
_DEBIT_SQL = f"""
WITH spend AS (
    SELECT id, least(remaining, %(amount)s - before) AS take
    FROM (
        SELECT id, remaining,
               sum(remaining) OVER (ORDER BY expire_at ASC NULLS LAST, id ROWS UNBOUNDED PRECEDING) - remaining AS before
        FROM crm_lot WHERE account_id = %(account)s AND state = 'active'
    ) running
    WHERE before < %(amount)s
),
entry AS (
    INSERT INTO crm_ledgerentry ({_ENTRY_COLUMNS})
    VALUES (%(account)s, %(kind)s, -%(amount)s, -%(amount)s, 0, -%(held)s, %(source)s, %(key)s, %(purchase)s,
            (SELECT CASE WHEN count(*) = 1 THEN min(id) END FROM spend), %(hold)s,
            %(actor_kind)s, %(actor_id)s, %(description)s, %(now)s)
    RETURNING id, lot_id
),
consumed AS (
    INSERT INTO crm_lotconsumption (entry_id, lot_id, amount) SELECT entry.id, spend.id, spend.take FROM entry, spend
),
lots AS (
    UPDATE crm_lot l SET remaining = l.remaining - spend.take,
                         state = CASE WHEN l.remaining = spend.take THEN 'exhausted' ELSE 'active' END
    FROM spend WHERE l.id = spend.id
),
balance AS (
    UPDATE crm_account SET activated_balance = activated_balance - %(amount)s, held_balance = held_balance - %(held)s,
                           updated_at = %(now)s
    WHERE id = %(account)s
    RETURNING activated_balance, pending_balance, held_balance
),
{_AUDIT_CTE}
SELECT entry.id, entry.lot_id, (SELECT coalesce(sum(take), 0) FROM spend) FROM entry
"""


def _entry_built(*, pk: int, account_id: int, kind: str, deltas: Deltas, source: str, idempotency_key: str,
                 actor: Actor, description: str, now: dt.datetime, **links: Any) -> LedgerEntry:
    """The entry as written, without reading it back."""
    entry = LedgerEntry(
        pk=pk, account_id=account_id, kind=kind, amount=deltas.activated + deltas.pending,
        activated_delta=deltas.activated, pending_delta=deltas.pending, held_delta=deltas.held, source=source,
        idempotency_key=idempotency_key, actor_kind=actor.kind, actor_id=str(actor.id)[:64],
        description=description[:300], created_at=now, **links,
    )
    entry._state.adding = False
    entry._state.db = "default"
    return entry


def _audit_params(actor: Actor, action: str, comment: str) -> dict[str, Any]:
    return {"actor_kind": actor.kind, "actor_id": str(actor.id)[:64], "actor_label": actor.label[:150],
            "action": action[:64], "comment": comment}


def credit_write(account: Locked, *, amount: Decimal, pending: bool, kind: str, source: str, idempotency_key: str,
                 actor: Actor, audit_action: str, audit_comment: str = "", description: str = "",
                 activate_at: dt.datetime | None = None, expire_at: dt.datetime | None = None,
                 purchase_id: int | None = None) -> LedgerEntry:
    """Book a credit as a new lot (pending or active) on the locked account, audited: one statement."""
    now = timezone.now()
    deltas = Deltas(pending=amount) if pending else Deltas(activated=amount)
    with prepared_cursor() as cursor:
        cursor.execute(_CREDIT_SQL, {
            "account": account.pk, "amount": amount, "state": Lot.State.PENDING if pending else Lot.State.ACTIVE,
            "activate_at": activate_at, "expire_at": expire_at, "now": now, "kind": kind,
            "activated": deltas.activated, "pending": deltas.pending, "source": source, "key": idempotency_key,
            "purchase": purchase_id, "description": description[:300], "signed": amount,
            **_audit_params(actor, audit_action, audit_comment),
        })
        entry_id, lot_id = cursor.fetchone()
    _follow(account, deltas, now)
    return _entry_built(pk=entry_id, account_id=account.pk, kind=kind, deltas=deltas, source=source,
                        idempotency_key=idempotency_key, actor=actor, description=description, now=now,
                        lot_id=lot_id, purchase_id=purchase_id)


# Several credits on one locked account in one statement (a cheque's bonus lots: one per offer and
# lifetime, often ten or more): ids drawn first so that each entry knows its lot, then the lots,
# the entries, the cached balance once, and one audit event per entry with the balances after
# that entry (the final balance less what the later entries added), as one credit_write each would.
_CREDITS_SQL = f"""
WITH src AS MATERIALIZED (
    SELECT s.n, s.amount, s.state, s.activate_at, s.expire_at, s.key, s.activated, s.pending,
           nextval(pg_get_serial_sequence('crm_lot', 'id')) AS lot_id,
           nextval(pg_get_serial_sequence('crm_ledgerentry', 'id')) AS entry_id
    FROM unnest(%(amounts)s::numeric[], %(states)s::text[], %(activates)s::timestamptz[], %(expires)s::timestamptz[],
                %(keys)s::text[], %(activated)s::numeric[], %(pending)s::numeric[])
         WITH ORDINALITY AS s(amount, state, activate_at, expire_at, key, activated, pending, n)
),
lot AS (
    INSERT INTO crm_lot (id, account_id, amount, remaining, state, activate_at, expire_at, expiring_notified, created_at)
    SELECT lot_id, %(account)s, amount, amount, state, activate_at, expire_at, false, %(now)s FROM src ORDER BY n
),
entry AS (
    INSERT INTO crm_ledgerentry (id, {_ENTRY_COLUMNS})
    SELECT entry_id, %(account)s, %(kind)s, amount, activated, pending, 0, %(source)s, key, %(purchase)s, lot_id, NULL,
           %(actor_kind)s, %(actor_id)s, %(description)s, %(now)s
    FROM src ORDER BY n
),
balance AS (
    UPDATE crm_account SET activated_balance = activated_balance + (SELECT sum(activated) FROM src),
                           pending_balance = pending_balance + (SELECT sum(pending) FROM src), updated_at = %(now)s
    WHERE id = %(account)s
    RETURNING activated_balance, pending_balance, held_balance
),
running AS (
    SELECT src.*,
           coalesce(sum(activated) OVER (ORDER BY n ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0) AS later_activated,
           coalesce(sum(pending) OVER (ORDER BY n ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0) AS later_pending
    FROM src
),
audit AS (
    INSERT INTO core_auditevent (created_at, actor_kind, actor_id, actor_label, action, object_type, object_id,
                                 object_repr, before, after, comment)
    SELECT %(now)s, %(actor_kind)s, %(actor_id)s, %(actor_label)s, %(action)s, 'crm.ledgerentry', r.entry_id::text,
           left(%(kind)s || ' ' || r.amount::numeric(18, 2)::text || ' on #' || %(account)s::text, 200), NULL,
           jsonb_build_object('account', %(account)s::bigint, 'kind', %(kind)s,
                              'amount', r.amount::numeric(18, 2)::text, 'source', %(source)s,
                              'idempotency_key', r.key,
                              'activated_balance', (b.activated_balance - r.later_activated)::numeric(18, 2)::text,
                              'pending_balance', (b.pending_balance - r.later_pending)::numeric(18, 2)::text,
                              'held_balance', b.held_balance::text),
           %(comment)s
    FROM running r, balance b ORDER BY r.n
)
SELECT entry_id, lot_id FROM src ORDER BY n
"""

# A new hold: the hold, its entry (keyed "<hold id>:open"), the held balance and the audit event of
# the entry, as Hold.objects.create + entry_new + account_move + audit_record wrote them in four.
_HOLD_SQL = f"""
WITH hold AS (
    INSERT INTO crm_hold (account_id, amount, state, source, idempotency_key, expires_at, created_at, closed_at)
    VALUES (%(account)s, %(amount)s, 'open', %(source)s, %(key)s, %(expires_at)s, %(now)s, NULL)
    RETURNING id
),
entry AS (
    INSERT INTO crm_ledgerentry ({_ENTRY_COLUMNS})
    SELECT %(account)s, %(kind)s, 0, 0, 0, %(amount)s, %(entry_source)s, hold.id::text || ':open', NULL, NULL, hold.id,
           %(actor_kind)s, %(actor_id)s, %(description)s, %(now)s
    FROM hold
    RETURNING id, idempotency_key
),
balance AS (
    UPDATE crm_account SET held_balance = held_balance + %(amount)s, updated_at = %(now)s WHERE id = %(account)s
    RETURNING activated_balance, pending_balance, held_balance
),
audit AS (
    INSERT INTO core_auditevent (created_at, actor_kind, actor_id, actor_label, action, object_type, object_id,
                                 object_repr, before, after, comment)
    SELECT %(now)s, %(actor_kind)s, %(actor_id)s, %(actor_label)s, %(action)s, 'crm.ledgerentry', entry.id::text,
           left(%(kind)s || ' 0.00 on #' || %(account)s::text, 200), NULL,
           jsonb_build_object('account', %(account)s::bigint, 'kind', %(kind)s, 'amount', '0.00',
                              'source', %(entry_source)s, 'idempotency_key', entry.idempotency_key,
                              'activated_balance', balance.activated_balance::text,
                              'pending_balance', balance.pending_balance::text,
                              'held_balance', balance.held_balance::text),
           %(comment)s
    FROM entry, balance
)
SELECT hold.id, entry.id FROM hold, entry
"""


def hold_write(account: Locked, *, amount: Decimal, source: str, idempotency_key: str, expires_at: dt.datetime,
               entry_source: str, kind: str, actor: Actor, audit_action: str, description: str = "") -> Hold:
    """Open a hold on the locked account (the caller checked the available balance), with its
    entry, the held balance and the audit event: one statement."""
    now = timezone.now()
    with prepared_cursor() as cursor:
        cursor.execute(_HOLD_SQL, {
            "account": account.pk, "amount": amount, "source": source, "key": idempotency_key,
            "expires_at": expires_at, "now": now, "kind": kind, "entry_source": entry_source,
            "description": description[:300], **_audit_params(actor, audit_action, ""),
        })
        hold_id, _entry_id = cursor.fetchone()
    _follow(account, Deltas(held=amount), now)
    hold = Hold(pk=hold_id, account_id=account.pk, amount=amount, state=Hold.State.OPEN, source=source,
                idempotency_key=idempotency_key, expires_at=expires_at, created_at=now)
    hold._state.adding = False
    hold._state.db = "default"
    return hold


# One equality look-up per key (a sum of scalar sub-selects): `idempotency_key = ANY(array)` is
# not an index condition on the second column of ledger_idempotency_unique, and PostgreSQL then
# filtered every entry of the source (milliseconds per cheque once there are many).
_KEYS_LOCK_SQL = """
SELECT a.activated_balance, a.pending_balance, a.held_balance, {booked}
FROM crm_account a WHERE a.id = %s FOR UPDATE OF a
"""
_KEY_BOOKED = "(SELECT count(*) FROM crm_ledgerentry e WHERE e.source = %s AND e.idempotency_key = %s)"


def account_lock_keys(account_id: int, *, source: str, keys: list[str]) -> tuple[Locked, int]:
    """Lock the account (as account_lock) and count the entries these keys already booked."""
    sql = _KEYS_LOCK_SQL.format(booked=" + ".join([_KEY_BOOKED] * len(keys)) if keys else "0")
    with prepared_cursor() as cursor:
        cursor.execute(sql, [value for key in keys for value in (source, key)] + [account_id])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("account_not_found", f"No account #{account_id}.", field="account")
    return Locked(account_id, row[0], row[1], row[2]), row[3]


def credits_write(account: Locked, *, credits: list[tuple[Decimal, bool, str, dt.datetime | None, dt.datetime | None]],
                  kind: str, source: str, actor: Actor, audit_action: str, audit_comment: str = "",
                  description: str = "", purchase_id: int | None = None) -> list[LedgerEntry]:
    """Book `credits` (amount, pending, key, activate_at, expire_at) as new lots on the locked
    account, each with its entry and audit event: one statement."""
    now = timezone.now()
    deltas = [Deltas(pending=amount) if pending else Deltas(activated=amount) for amount, pending, *_ in credits]
    with prepared_cursor() as cursor:
        cursor.execute(_CREDITS_SQL, {
            "amounts": [c[0] for c in credits],
            "states": [Lot.State.PENDING if c[1] else Lot.State.ACTIVE for c in credits],
            "activates": [c[3] for c in credits], "expires": [c[4] for c in credits], "keys": [c[2] for c in credits],
            "activated": [d.activated for d in deltas], "pending": [d.pending for d in deltas],
            "account": account.pk, "now": now, "kind": kind, "source": source, "purchase": purchase_id,
            "description": description[:300], **_audit_params(actor, audit_action, audit_comment),
        })
        rows = cursor.fetchall()
    entries = []
    for (entry_id, lot_id), d, credit in zip(rows, deltas, credits):
        _follow(account, d, now)
        entries.append(_entry_built(pk=entry_id, account_id=account.pk, kind=kind, deltas=d, source=source,
                                    idempotency_key=credit[2], actor=actor, description=description, now=now,
                                    lot_id=lot_id, purchase_id=purchase_id))
    return entries


def debit_write(account: Locked, *, amount: Decimal, kind: str, source: str, idempotency_key: str, actor: Actor,
                audit_action: str, audit_comment: str = "", description: str = "", held: Decimal = ZERO,
                purchase_id: int | None = None, hold_id: int | None = None) -> LedgerEntry:
    """Take `amount` from the locked account's lots, soonest-expiring first (the caller checked the
    available balance), releasing `held` with it, audited: one statement."""
    now = timezone.now()
    deltas = Deltas(activated=-amount, held=-held)
    with prepared_cursor() as cursor:
        cursor.execute(_DEBIT_SQL, {
            "account": account.pk, "amount": amount, "held": held, "kind": kind, "source": source,
            "key": idempotency_key, "purchase": purchase_id, "hold": hold_id, "description": description[:300],
            "now": now, "signed": -amount, **_audit_params(actor, audit_action, audit_comment),
        })
        entry_id, lot_id, taken = cursor.fetchone()
    if taken != amount:
        # The balance said the points were there, the lots disagree: never book on a broken ledger.
        raise RuntimeError(f"ledger inconsistent: account #{account.pk}'s active lots gave {taken} of {amount}")
    _follow(account, deltas, now)
    return _entry_built(pk=entry_id, account_id=account.pk, kind=kind, deltas=deltas, source=source,
                        idempotency_key=idempotency_key, actor=actor, description=description, now=now,
                        lot_id=lot_id, purchase_id=purchase_id, hold_id=hold_id)


def lots_write(changes: Sequence[tuple[int, Decimal, str]]) -> None:
    """Set (remaining, state) of several lots in one statement."""
    if not changes:
        return
    values = ", ".join(["(%s::bigint, %s::numeric, %s::varchar)"] * len(changes))
    params: list[Any] = [v for change in changes for v in change]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE crm_lot AS l SET remaining = v.remaining, state = v.state "
            f"FROM (VALUES {values}) AS v(id, remaining, state) WHERE l.id = v.id",
            params,
        )


def entry_new(*, account_id: int, kind: str, deltas: Deltas, source: str, idempotency_key: str, actor: Actor,
              description: str = "", **links: Any) -> LedgerEntry:
    return LedgerEntry.objects.create(
        account_id=account_id,
        kind=kind,
        amount=deltas.activated + deltas.pending,
        activated_delta=deltas.activated,
        pending_delta=deltas.pending,
        held_delta=deltas.held,
        source=source,
        idempotency_key=idempotency_key,
        actor_kind=actor.kind,
        actor_id=str(actor.id)[:64],
        description=description[:300],
        **links,
    )


def entry_after(entry: LedgerEntry, account: Locked) -> dict[str, Any]:
    """What the audit event records: the booking and the balances it left."""
    return {
        "account": entry.account_id,
        "kind": entry.kind,
        "amount": entry.amount,
        "source": entry.source,
        "idempotency_key": entry.idempotency_key,
        "activated_balance": account.activated_balance,
        "pending_balance": account.pending_balance,
        "held_balance": account.held_balance,
    }


def aware(value: dt.datetime | None, *, field: str) -> dt.datetime | None:
    if value is not None and timezone.is_naive(value):
        raise DomainError("invalid_time", f"{field}: give a time with a time zone.", field=field)
    return value
