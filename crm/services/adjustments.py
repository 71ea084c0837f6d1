"""Operator adjustments by any identifier: one at a time (admin, API) and in batches (CSV import).

A batch is applied set-based: the accounts of a whole chunk are locked in pk order in one
statement, the keys already booked are found in one query, the rows are checked in file order
against running balances in memory (a row that would make a balance negative is refused, the rows
after it still apply), and the writes go out as a handful of bulk statements.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from core.actors import Actor
from core.services import audit_bulk
from crm.models import LedgerEntry, Lot, LotConsumption
from crm.selectors.ledger import account_find
from crm.services.ledger import ledger_adjust
from crm.services.ledger_base import ZERO, accounts_lock, lots_write

BATCH_SOURCE = "batch"


def ledger_adjust_by_identifier(
    *,
    identifier_type: str,
    identifier: str,
    amount: Decimal,
    reason: str,
    idempotency_key: str,
    actor: Actor,
    currency: str | None = None,
    source: str = "adjustment",
) -> LedgerEntry:
    """Find the account (phone, email, card number, barcode or external UID) and adjust it."""
    account = account_find(identifier_type=identifier_type, identifier=identifier, currency=currency)
    return ledger_adjust(account=account, amount=amount, reason=reason, idempotency_key=idempotency_key,
                         actor=actor, source=source)


@dataclass(frozen=True, slots=True)
class BatchRow:
    line: int
    account_id: int
    amount: Decimal  # signed, already validated (2 places, not zero)
    reason: str
    idempotency_key: str


@dataclass(eq=False, slots=True)
class _MemLot:
    """A lot as this batch sees it: an existing row (`lot_id`) or one it creates (`new`)."""

    lot_id: int | None
    remaining: Decimal
    new: Lot | None = None

    @property
    def pk(self) -> int:
        return self.lot_id if self.lot_id is not None else self.new.pk  # type: ignore[union-attr]


@dataclass(slots=True)
class _Planned:
    row: BatchRow
    lot: Lot | None = None  # a positive row's new lot
    takes: list[tuple[_MemLot, Decimal]] | None = None  # a negative row's (lot, amount taken)


def adjustments_apply_batch(*, rows: list[BatchRow], actor: Actor, source: str = BATCH_SOURCE) -> dict[int, str]:
    """Apply the rows; returns {line: reason} for the refused ones. Rows whose key is already booked
    are skipped silently (the same file again applies nothing twice). Runs in the caller's
    transaction (a savepoint), so the import framework commits it with the chunk's progress."""
    refused: dict[int, str] = {}
    if not rows:
        return refused
    with transaction.atomic():
        accounts = accounts_lock(r.account_id for r in rows)
        done = set(
            LedgerEntry.objects.filter(source=source, idempotency_key__in=[r.idempotency_key for r in rows])
            .values_list("idempotency_key", flat=True)
        )
        todo = sorted((r for r in rows if r.idempotency_key not in done), key=lambda r: r.line)
        lots = _active_lots({r.account_id for r in todo if r.amount < 0})
        available = {pk: a.activated_balance - a.held_balance for pk, a in accounts.items()}
        planned: list[_Planned] = []
        for row in todo:
            if row.account_id not in accounts:
                refused[row.line] = f"account #{row.account_id} no longer exists"
                continue
            if row.amount > 0:
                lot = Lot(account_id=row.account_id, amount=row.amount, remaining=row.amount, state=Lot.State.ACTIVE)
                planned.append(_Planned(row, lot=lot))
                # Never expiring and newest, the new lot is the last in spend order, as in the database.
                lots[row.account_id].append(_MemLot(None, row.amount, lot))
            elif -row.amount > available[row.account_id]:
                refused[row.line] = (f"would make the balance negative: {available[row.account_id]} available, "
                                     f"{-row.amount} to take")
                continue
            else:
                planned.append(_Planned(row, takes=_take(lots[row.account_id], -row.amount)))
            available[row.account_id] += row.amount
        if planned:
            _write(planned, actor=actor, source=source)
    return refused


def _active_lots(account_ids: set[int]) -> dict[int, list[_MemLot]]:
    """The active lots of the accounts, in spend order (soonest-expiring first, never-expiring last)."""
    lots: dict[int, list[_MemLot]] = defaultdict(list)
    if not account_ids:
        return lots
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT account_id, id, remaining FROM crm_lot WHERE account_id = ANY(%s) AND state = 'active' "
            "ORDER BY account_id, expire_at ASC NULLS LAST, id",
            [sorted(account_ids)],
        )
        for account_id, lot_id, remaining in cursor.fetchall():
            lots[account_id].append(_MemLot(lot_id, remaining))
    return lots


def _take(lots: list[_MemLot], amount: Decimal) -> list[tuple[_MemLot, Decimal]]:
    takes: list[tuple[_MemLot, Decimal]] = []
    rest = amount
    for lot in lots:
        if rest <= 0:
            break
        take = min(rest, lot.remaining)
        if take > 0:
            lot.remaining -= take
            rest -= take
            takes.append((lot, take))
    if rest > 0:
        raise RuntimeError(f"ledger inconsistent: active lots lack {rest} points for this debit")
    return takes


def _write(planned: list[_Planned], *, actor: Actor, source: str) -> None:
    # New lots first: entries and consumptions refer to their ids (bulk_create returns them).
    Lot.objects.bulk_create([p.lot for p in planned if p.lot is not None])
    entries = LedgerEntry.objects.bulk_create([
        LedgerEntry(account_id=p.row.account_id, kind=LedgerEntry.Kind.ADJUSTMENT, amount=p.row.amount,
                    activated_delta=p.row.amount, source=source, idempotency_key=p.row.idempotency_key, lot=p.lot,
                    actor_kind=actor.kind, actor_id=str(actor.id)[:64], description=p.row.reason[:300])
        for p in planned
    ])
    consumptions: list[LotConsumption] = []
    touched: dict[int, _MemLot] = {}
    for p, entry in zip(planned, entries):
        for lot, take in p.takes or []:
            consumptions.append(LotConsumption(entry=entry, lot_id=lot.pk, amount=take))
            touched[lot.pk] = lot
    LotConsumption.objects.bulk_create(consumptions)
    # Each touched lot once, with what it keeps after the whole batch.
    lots_write([(pk, lot.remaining, Lot.State.EXHAUSTED if lot.remaining == 0 else Lot.State.ACTIVE)
                for pk, lot in touched.items()])
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for p in planned:
        totals[p.row.account_id] += p.row.amount
    values = ", ".join(["(%s::bigint, %s::numeric)"] * len(totals))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE crm_account AS a SET activated_balance = a.activated_balance + v.delta, updated_at = %s "
            f"FROM (VALUES {values}) AS v(id, delta) WHERE a.id = v.id",
            [timezone.now(), *[x for item in totals.items() for x in item]],
        )
    audit_bulk(actor=actor, action="ledger.adjust", object_type="crm.ledgerentry", rows=[
        (str(e.pk), {"account": e.account_id, "amount": e.amount, "source": source,
                     "idempotency_key": e.idempotency_key, "reason": e.description})
        for e in entries
    ])
