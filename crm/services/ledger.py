"""The bonus ledger: accrue, redeem, hold and confirm or release, adjust, reverse.

Each function is one use case in one transaction (a savepoint when the caller already has one):
lock the account, check the idempotency key, check the rule, write the entry and move the lots and
the cached balances, record the audit event. A retry with the same (source, idempotency_key)
returns the original entry and books nothing. Periodic set-based work (activation, expiry, expired
holds) lives in `ledger_periodic`, batch adjustments in `adjustments`.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from core.actors import Actor
from core.errors import Conflict, DomainError
from core.services import audit_record
from crm.models import Account, Card, Hold, LedgerEntry, Lot, LotConsumption, Purchase
from crm.services.ledger_base import (
    ZERO,
    Deltas,
    Locked,
    account_lock,
    account_lock_keys,
    account_move,
    aware,
    balances_copy,
    card_check,
    credit_write,
    credits_write,
    debit_write,
    entry_after,
    entry_find,
    entry_new,
    entry_replay,
    hold_write,
    key_check,
    lots_write,
    points,
    run_idempotent,
)

Kind = LedgerEntry.Kind
HOLD_SOURCE = "hold"  # entries of a hold are keyed by the hold's id: "<hold id>:open|confirm|release"


def _not_enough(account: Locked, amount: Decimal) -> DomainError:
    available = account.available
    return DomainError(
        "not_enough_points",
        f"Not enough points: {available} available, {amount} asked.",
        field="amount",
        extra={"available": str(available)},
    )


def _replay_or_conflict(*, source: str, idempotency_key: str, account_id: int, kind: str,
                        amount: Decimal | None) -> LedgerEntry:
    original = entry_find(source=source, idempotency_key=idempotency_key)
    if original is None:  # the conflicting writer rolled back after all: the caller may retry
        raise Conflict("idempotency_key_busy", "This idempotency key is being booked right now; retry.",
                       field="idempotency_key")
    return entry_replay(original, account_id=account_id, kind=kind, amount=amount)


def _booked(locked: Locked, *, kind: str, amount: Decimal | None) -> LedgerEntry | None:
    """The entry this key already booked (found by the locking statement), checked to be the same ask."""
    if locked.booked_entry_id is None:
        return None
    original = LedgerEntry.objects.get(pk=locked.booked_entry_id)
    return entry_replay(original, account_id=locked.pk, kind=kind, amount=amount)


# --- accrual ----------------------------------------------------------------------------------------

def ledger_accrue(
    *,
    account: Account,
    amount: Decimal,
    source: str,
    idempotency_key: str,
    actor: Actor,
    activate_at: dt.datetime | None = None,
    expire_at: dt.datetime | None = None,
    purchase: Purchase | None = None,
    card: Card | None = None,
    description: str = "",
    savepoint: bool = True,
) -> LedgerEntry:
    """Accrue `amount` as a new lot: pending until `activate_at` when that is in the future, active
    otherwise; it expires at `expire_at` (never when None). With `card`, the card must hold the
    account and may not be blocked or replaced."""
    amount = points(amount)
    key_check(source=source, idempotency_key=idempotency_key)
    aware(activate_at, field="activate_at")
    aware(expire_at, field="expire_at")
    now = timezone.now()
    pending = activate_at is not None and activate_at > now
    if expire_at is not None and expire_at <= (activate_at if pending else now):
        raise DomainError("invalid_expire_at", "expire_at: must be after the activation time (and in the future).",
                          field="expire_at")

    def write() -> LedgerEntry:
        locked = account_lock(account.pk, source=source, idempotency_key=idempotency_key)
        original = _booked(locked, kind=Kind.ACCRUAL, amount=amount)
        if original is not None:
            return original
        if card is not None:
            card_check(card=card, account_id=locked.pk, spend=False)
        entry = credit_write(locked, amount=amount, pending=pending, kind=Kind.ACCRUAL, source=source,
                             idempotency_key=idempotency_key, actor=actor, description=description,
                             activate_at=activate_at, expire_at=expire_at, audit_action="ledger.accrue",
                             purchase_id=purchase.pk if purchase is not None else None)
        balances_copy(account, locked)
        return entry

    return run_idempotent(write, on_conflict=lambda: _replay_or_conflict(
        source=source, idempotency_key=idempotency_key, account_id=account.pk, kind=Kind.ACCRUAL, amount=amount),
        savepoint=savepoint)


def ledger_accrue_lots(
    *,
    account: Account,
    lots: Sequence[tuple[Decimal, dt.datetime | None, dt.datetime | None, str]],
    source: str,
    actor: Actor,
    purchase: Purchase | None = None,
    description: str = "",
    savepoint: bool = True,
) -> list[LedgerEntry]:
    """`ledger_accrue` of several lots (amount, activate_at, expire_at, idempotency_key) on one
    account: the same checks, lots, entries and audit events, with one lock and one statement
    instead of two statements per lot (a cheque's bonus lots: one per offer and lifetime). If any
    key was booked before, each lot goes through `ledger_accrue` (replay or conflict, as there)."""
    now = timezone.now()
    credits = []
    for amount, activate_at, expire_at, key in lots:
        amount = points(amount)
        key_check(source=source, idempotency_key=key)
        aware(activate_at, field="activate_at")
        aware(expire_at, field="expire_at")
        pending = activate_at is not None and activate_at > now
        if expire_at is not None and expire_at <= (activate_at if pending else now):
            raise DomainError("invalid_expire_at", "expire_at: must be after the activation time (and in the future).",
                              field="expire_at")
        credits.append((amount, pending, key, activate_at, expire_at))
    if not credits:
        return []

    def write() -> list[LedgerEntry] | None:
        locked, booked = account_lock_keys(account.pk, source=source, keys=[c[2] for c in credits])
        if booked:
            return None
        entries = credits_write(locked, credits=credits, kind=Kind.ACCRUAL, source=source, actor=actor,
                                audit_action="ledger.accrue", description=description,
                                purchase_id=purchase.pk if purchase is not None else None)
        balances_copy(account, locked)
        return entries

    entries = run_idempotent(write, on_conflict=lambda: None, savepoint=savepoint)
    if entries is not None:
        return entries
    return [ledger_accrue(account=account, amount=amount, source=source, idempotency_key=key, actor=actor,
                          activate_at=activate_at, expire_at=expire_at, purchase=purchase, description=description,
                          savepoint=savepoint)
            for amount, activate_at, expire_at, key in lots]


# --- redemption -----------------------------------------------------------------------------------

def ledger_redeem(
    *,
    account: Account,
    amount: Decimal,
    source: str,
    idempotency_key: str,
    actor: Actor,
    purchase: Purchase | None = None,
    card: Card | None = None,
    description: str = "",
) -> LedgerEntry:
    """Spend `amount` activated points, soonest-expiring lots first. Refuses with `not_enough_points`
    when the available balance (activated minus held) is short. With `card`, the card must be active."""
    amount = points(amount)
    key_check(source=source, idempotency_key=idempotency_key)

    def write() -> LedgerEntry:
        locked = account_lock(account.pk, source=source, idempotency_key=idempotency_key)
        original = _booked(locked, kind=Kind.REDEMPTION, amount=-amount)
        if original is not None:
            return original
        if card is not None:
            card_check(card=card, account_id=locked.pk, spend=True)
        if amount > locked.available:
            raise _not_enough(locked, amount)
        entry = debit_write(locked, amount=amount, kind=Kind.REDEMPTION, source=source, idempotency_key=idempotency_key,
                            actor=actor, description=description, audit_action="ledger.redeem",
                            purchase_id=purchase.pk if purchase is not None else None)
        balances_copy(account, locked)
        return entry

    return run_idempotent(write, on_conflict=lambda: _replay_or_conflict(
        source=source, idempotency_key=idempotency_key, account_id=account.pk, kind=Kind.REDEMPTION, amount=-amount))


# --- holds ------------------------------------------------------------------------------------------

def ledger_hold(
    *,
    account: Account,
    amount: Decimal,
    source: str,
    idempotency_key: str,
    ttl: dt.timedelta,
    actor: Actor,
    card: Card | None = None,
    description: str = "",
    savepoint: bool = True,
) -> Hold:
    """Reserve `amount` activated points for a cheque being calculated, until confirmed or released
    (an open hold past `ttl` is released by the periodic task). A retry returns the same hold."""
    amount = points(amount)
    key_check(source=source, idempotency_key=idempotency_key)
    if not isinstance(ttl, dt.timedelta) or ttl.total_seconds() <= 0:
        raise DomainError("invalid_ttl", "ttl: a positive duration.", field="ttl")

    def replay(hold: Hold) -> Hold:
        if hold.account_id != account.pk or hold.amount != amount:
            raise Conflict("idempotency_key_reused",
                           f"This idempotency key already holds {hold.amount} on account #{hold.account_id}.",
                           field="idempotency_key")
        hold.replayed = True  # type: ignore[attr-defined]
        return hold

    def write() -> Hold:
        locked = account_lock(account.pk)
        existing = Hold.objects.filter(source=source, idempotency_key=idempotency_key).first()
        if existing is not None:
            return replay(existing)
        if card is not None:
            card_check(card=card, account_id=locked.pk, spend=True)
        if amount > locked.available:
            raise _not_enough(locked, amount)
        hold = hold_write(locked, amount=amount, source=source, idempotency_key=idempotency_key,
                          expires_at=timezone.now() + ttl, entry_source=HOLD_SOURCE, kind=Kind.HOLD, actor=actor,
                          audit_action="ledger.hold", description=description)
        balances_copy(account, locked)
        return hold

    def on_conflict() -> Hold:
        existing = Hold.objects.filter(source=source, idempotency_key=idempotency_key).first()
        if existing is None:
            raise Conflict("idempotency_key_busy", "This idempotency key is being booked right now; retry.",
                           field="idempotency_key")
        return replay(existing)

    return run_idempotent(write, on_conflict=on_conflict, constraint="hold_idempotency_unique", savepoint=savepoint)


def _hold_closed(hold: Hold, wanted: str) -> LedgerEntry:
    """A hold already closed: the same closing again is a replay, the other one is refused."""
    if hold.state == wanted:
        entry = LedgerEntry.objects.get(source=HOLD_SOURCE, idempotency_key=f"{hold.pk}:{'confirm' if wanted == Hold.State.CONFIRMED else 'release'}")
        entry.replayed = True  # type: ignore[attr-defined]
        return entry
    if hold.state == Hold.State.CONFIRMED:
        raise DomainError("already_confirmed", f"Hold #{hold.pk} is already confirmed.", field="hold")
    raise DomainError("already_cancelled", f"Hold #{hold.pk} was released (cancelled or expired).", field="hold")


def ledger_hold_confirm(
    *,
    hold: Hold,
    actor: Actor,
    amount: Decimal | None = None,
    purchase: Purchase | None = None,
    description: str = "",
    savepoint: bool = True,
) -> LedgerEntry:
    """Spend the held points (or `amount` of them, the rest being released): a redemption entry that
    also takes the hold off the held balance. Confirming twice returns the same entry."""
    if amount is not None:
        amount = points(amount)
        if amount > hold.amount:
            raise DomainError("invalid_amount", f"amount: more than the {hold.amount} held.", field="amount")

    def write() -> LedgerEntry:
        locked = account_lock(hold.account_id)
        current = Hold.objects.get(pk=hold.pk)  # holds change only under their account's lock
        if current.state != Hold.State.OPEN:
            return _hold_closed(current, Hold.State.CONFIRMED)
        spend = current.amount if amount is None else amount
        # The held points are part of the activated balance, so they are there to spend.
        entry = debit_write(locked, amount=spend, kind=Kind.REDEMPTION, source=HOLD_SOURCE,
                            idempotency_key=f"{current.pk}:confirm", actor=actor, description=description,
                            held=current.amount, hold_id=current.pk, audit_action="ledger.hold_confirm",
                            purchase_id=purchase.pk if purchase is not None else None)
        now = timezone.now()
        Hold.objects.filter(pk=current.pk).update(state=Hold.State.CONFIRMED, closed_at=now)
        hold.state, hold.closed_at = Hold.State.CONFIRMED, now
        return entry

    return run_idempotent(write, on_conflict=lambda: _hold_closed(Hold.objects.get(pk=hold.pk), Hold.State.CONFIRMED),
                          savepoint=savepoint)


def ledger_hold_release(*, hold: Hold, actor: Actor, description: str = "") -> LedgerEntry:
    """Give the held points back to the available balance (the till cancelled). Twice is a replay."""

    def write() -> LedgerEntry:
        locked = account_lock(hold.account_id)
        current = Hold.objects.get(pk=hold.pk)
        if current.state != Hold.State.OPEN:
            return _hold_closed(current, Hold.State.RELEASED)
        deltas = Deltas(held=-current.amount)
        entry = entry_new(account_id=locked.pk, kind=Kind.RELEASE, deltas=deltas, source=HOLD_SOURCE,
                          idempotency_key=f"{current.pk}:release", actor=actor, description=description, hold=current)
        account_move(locked, deltas)
        now = timezone.now()
        Hold.objects.filter(pk=current.pk).update(state=Hold.State.RELEASED, closed_at=now)
        hold.state, hold.closed_at = Hold.State.RELEASED, now
        audit_record(actor=actor, action="ledger.hold_release", target=entry, after=entry_after(entry, locked))
        return entry

    return run_idempotent(write, on_conflict=lambda: _hold_closed(Hold.objects.get(pk=hold.pk), Hold.State.RELEASED))


# --- operator adjustment ------------------------------------------------------------------------

def ledger_adjust(
    *,
    account: Account,
    amount: Decimal,
    reason: str,
    idempotency_key: str,
    actor: Actor,
    source: str = "adjustment",
    expire_at: dt.datetime | None = None,
) -> LedgerEntry:
    """An operator's correction, with its reason. Positive: a new active lot (expiring at `expire_at`,
    never by default). Negative: taken like a redemption; refused if the available balance is short."""
    amount = points(amount, signed=True)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", "reason: say why the points are adjusted.", field="reason")
    key_check(source=source, idempotency_key=idempotency_key)
    aware(expire_at, field="expire_at")
    if expire_at is not None and (amount < 0 or expire_at <= timezone.now()):
        raise DomainError("invalid_expire_at", "expire_at: only for a positive adjustment, and in the future.",
                          field="expire_at")

    def write() -> LedgerEntry:
        locked = account_lock(account.pk, source=source, idempotency_key=idempotency_key)
        original = _booked(locked, kind=Kind.ADJUSTMENT, amount=amount)
        if original is not None:
            return original
        if amount > 0:
            entry = credit_write(locked, amount=amount, pending=False, kind=Kind.ADJUSTMENT, source=source,
                                 idempotency_key=idempotency_key, actor=actor, description=reason, expire_at=expire_at,
                                 audit_action="ledger.adjust", audit_comment=reason)
        else:
            if -amount > locked.available:
                raise _not_enough(locked, -amount)
            entry = debit_write(locked, amount=-amount, kind=Kind.ADJUSTMENT, source=source,
                                idempotency_key=idempotency_key, actor=actor, description=reason,
                                audit_action="ledger.adjust", audit_comment=reason)
        balances_copy(account, locked)
        return entry

    return run_idempotent(write, on_conflict=lambda: _replay_or_conflict(
        source=source, idempotency_key=idempotency_key, account_id=account.pk, kind=Kind.ADJUSTMENT, amount=amount))


# --- reversal -----------------------------------------------------------------------------------

CREDITS = (Kind.ACCRUAL, Kind.ADJUSTMENT)  # with a lot of their own when positive
DEBITS = (Kind.REDEMPTION, Kind.ADJUSTMENT)  # with LotConsumption rows when negative


def ledger_reverse(
    *,
    entry: LedgerEntry,
    idempotency_key: str,
    actor: Actor,
    amount: Decimal | None = None,
    source: str = "reversal",
    description: str = "",
) -> LedgerEntry:
    """Undo an accrual or a redemption (a refund), in full or `amount` of it.

    - A credit (accrual, positive adjustment) takes back from its lot what remains of it; if more
      was asked than remains (already spent or expired), it refuses with `points_already_spent`.
    - A debit (redemption, negative adjustment) gives back to the lots it took from, the last taken
      first; a lot that has expired since is not revived: a new lot with its expiry takes the points
      (and the next expiry run expires them, visibly).
    Several partial reversals never undo more than the entry booked.
    """
    key_check(source=source, idempotency_key=idempotency_key)
    credit = entry.kind in CREDITS and entry.amount > 0
    debit = entry.kind in DEBITS and entry.amount < 0
    if not (credit or debit):
        raise DomainError("not_reversible", f"A {entry.kind} entry cannot be reversed (only accruals, redemptions "
                          "and adjustments).", field="entry")
    if amount is not None:
        amount = points(amount)

    def write() -> LedgerEntry:
        locked = account_lock(entry.account_id, source=source, idempotency_key=idempotency_key)
        original = _booked(locked, kind=Kind.REVERSAL, amount=None)
        if original is not None:
            if original.reverses_id != entry.pk:
                raise Conflict("idempotency_key_reused", "This idempotency key already reversed another entry.",
                               field="idempotency_key")
            return original
        # Reversals of a credit are negative, of a debit positive: what is done is their absolute sum.
        done = abs(LedgerEntry.objects.filter(reverses=entry).aggregate(total=Sum("amount"))["total"] or ZERO)
        left = abs(entry.amount) - done
        want = left if amount is None else amount
        if left <= 0:
            raise DomainError("already_reversed", f"Entry #{entry.pk} is already fully reversed.", field="entry")
        if want > left:
            raise DomainError("over_reversal", f"amount: only {left} of entry #{entry.pk} is left to reverse.",
                              field="amount")
        if credit:
            reversal = _reverse_credit(locked, entry, want, source=source, key=idempotency_key, actor=actor,
                                       description=description)
        else:
            reversal = _reverse_debit(locked, entry, want, already=done, source=source, key=idempotency_key,
                                      actor=actor, description=description)
        audit_record(actor=actor, action="ledger.reverse", target=reversal, after=entry_after(reversal, locked),
                     comment=description)
        return reversal

    def on_conflict() -> LedgerEntry:
        return _replay_or_conflict(source=source, idempotency_key=idempotency_key, account_id=entry.account_id,
                                   kind=Kind.REVERSAL, amount=None)

    return run_idempotent(write, on_conflict=on_conflict)


def _reverse_credit(locked: Locked, entry: LedgerEntry, want: Decimal, *, source: str, key: str, actor: Actor,
                    description: str) -> LedgerEntry:
    lot = Lot.objects.get(pk=entry.lot_id)  # lots change only under the account lock we hold
    if lot.remaining < want:
        raise DomainError(
            "points_already_spent",
            f"Only {lot.remaining} of this accrual remain (the rest was spent or expired); {want} asked.",
            field="amount", extra={"remaining": str(lot.remaining)},
        )
    if lot.state == Lot.State.PENDING:
        deltas = Deltas(pending=-want)
    else:
        if want > locked.available:
            raise _not_enough(locked, want)  # part of the lot is held for a cheque in progress
        deltas = Deltas(activated=-want)
    left = lot.remaining - want
    lots_write([(lot.pk, left, Lot.State.EXHAUSTED if left == 0 else lot.state)])
    reversal = entry_new(account_id=locked.pk, kind=Kind.REVERSAL, deltas=deltas, source=source, idempotency_key=key,
                         actor=actor, description=description, lot=lot, reverses=entry)
    account_move(locked, deltas)
    return reversal


def _reverse_debit(locked: Locked, entry: LedgerEntry, want: Decimal, *, already: Decimal, source: str, key: str,
                   actor: Actor, description: str) -> LedgerEntry:
    # Give back in the reverse order of taking; the first `already` points were given back before.
    taken = list(LotConsumption.objects.filter(entry=entry).select_related("lot").order_by("-id"))
    skip, rest = already, want
    revive: list[tuple[int, Decimal, str]] = []
    new_lots: list[Lot] = []
    for consumption in taken:
        share = consumption.amount
        if skip >= share:
            skip -= share
            continue
        share, skip = share - skip, ZERO
        give = min(share, rest)
        rest -= give
        lot = consumption.lot
        if lot.state == Lot.State.EXPIRED:
            new_lots.append(Lot(account_id=locked.pk, amount=give, remaining=give, state=Lot.State.ACTIVE,
                                expire_at=lot.expire_at))
        else:
            lot.remaining += give
            revive.append((lot.pk, lot.remaining, Lot.State.ACTIVE))
        if rest <= 0:
            break
    if rest > 0:
        raise RuntimeError(f"ledger inconsistent: entry #{entry.pk} has no consumptions for {rest} points")
    lots_write(revive)
    created = Lot.objects.bulk_create(new_lots)
    deltas = Deltas(activated=want)
    reversal = entry_new(account_id=locked.pk, kind=Kind.REVERSAL, deltas=deltas, source=source, idempotency_key=key,
                         actor=actor, description=description, reverses=entry,
                         lot=created[0] if len(created) == 1 and not revive else None)
    account_move(locked, deltas)
    return reversal
