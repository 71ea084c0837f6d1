"""The till's sale cheque: calculate (hold), confirm (book), cancel (release), offline (book at once).

Each use case is one transaction. The cheque is a crm.Purchase unique per (till, kind, number);
its row is locked (SELECT ... FOR UPDATE) by every use case that changes it, so a retried or
concurrent calculate/confirm/cancel of one cheque runs one after the other and books once.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from attributes.services import counter_apply_purchase
from catalogue.models import Till
from core import jsontext
from core.actors import Actor
from core.db import prepared_cursor
from core.errors import Conflict, DomainError
from core.rows import cache_related, instance_from
from core.services import audit_json, audit_record
from crm.models import Account, Card, Customer, Hold, Purchase, PurchaseLine, PurchaseLineOffer
from crm.services.accounts import account_open
from crm.services.ledger_base import is_unique_violation
from crm.services.ledger import ledger_accrue_lots, ledger_hold, ledger_hold_confirm, ledger_hold_release
from processing.models import Booking
from processing.selectors import QR_PREFIX, QR_USED_PREFIX, AccountRow, accounts_balances
from processing.services.common import (
    HOLD_TTL,
    SOURCE,
    ZERO,
    Evaluated,
    answer_out,
    card_json,
    cheque_evaluate_for_till,
    coupon_error,
    lines_digest,
    lines_normalize,
    money,
    product_ids,
    request_digest,
    spread,
)

QR_USED_TTL = 3600


# --- helpers --------------------------------------------------------------------------------------

# The cheque locked with its booking (as select_for_update(of=self).select_related("booking") would
# read it, without the trace nobody reads here): raw SQL, as every calculate and confirm starts
# here and compiling the ORM query cost more CPU than running it.
_PURCHASE_COLUMNS = ("id", "till_id", "store_id", "number", "kind", "original_id", "customer_id", "card_id", "state",
                     "purchased_at", "offline", "amount", "discount", "bonus_accrued", "bonus_paid", "answer",
                     "created_at", "confirmed_at")
_BOOKING_COLUMNS = ("purchase_id", "account_id", "hold_id", "seq", "digest", "request_digest", "plan")
_LOCKED_SQL = (
    f"SELECT {', '.join('p.' + c for c in _PURCHASE_COLUMNS)}, {', '.join('b.' + c for c in _BOOKING_COLUMNS)} "
    "FROM crm_purchase p LEFT JOIN processing_booking b ON b.purchase_id = p.id "
    "WHERE p.till_id = %s AND p.kind = %s AND p.number = %s ORDER BY p.id LIMIT 1 FOR UPDATE OF p"
)


def _locked(till: Till, number: str) -> Purchase | None:
    with prepared_cursor() as cursor:
        cursor.execute(_LOCKED_SQL, [till.pk, Purchase.Kind.SALE, number])
        row = cursor.fetchone()
    if row is None:
        return None
    values = dict(zip(_PURCHASE_COLUMNS, row))
    values["answer"] = _json(values["answer"])
    purchase = instance_from(Purchase, values)
    booking = None
    if row[len(_PURCHASE_COLUMNS)] is not None:
        values = dict(zip(_BOOKING_COLUMNS, row[len(_PURCHASE_COLUMNS):]))
        values["plan"] = _json(values["plan"])
        booking = instance_from(Booking, values)
    cache_related(purchase, "booking", booking)
    return purchase


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _locked_or_not_found(till: Till, number: str) -> Purchase:
    """The cheque locked (confirm and cancel act only on one that exists)."""
    purchase = _locked(till, number)
    if purchase is None:
        raise DomainError("operation_not_found", f"No cheque {number} from this till.", field="number", status=404)
    return purchase


def _already_confirmed(number: str) -> Conflict:
    return Conflict("already_confirmed", f"Cheque {number} is already confirmed.", field="number")


def _already_cancelled(number: str) -> Conflict:
    return Conflict("already_cancelled", f"Cheque {number} was cancelled.", field="number")


def _booking(purchase: Purchase) -> Booking | None:
    try:
        return purchase.booking
    except Booking.DoesNotExist:
        return None


def _release(booking: Booking | None, actor: Actor) -> None:
    if booking is not None and booking.hold_id is not None:
        hold = Hold(pk=booking.hold_id, account_id=booking.account_id)
        try:
            ledger_hold_release(hold=hold, actor=actor, description="cheque recalculated or cancelled")
        except DomainError as exc:
            if exc.code != "already_cancelled":  # released by the expiry task meanwhile: nothing to give back
                raise


def _consume_qr(key: str | None, till: Till, number: str, customer_id: int) -> None:
    """A QR code works once: the first calculate that uses it takes it (the same cheque may be
    recalculated with it). Taken after commit so that a refused calculate leaves it usable."""
    if key is None:
        return

    def take() -> None:
        cache.delete(QR_PREFIX + key)
        cache.set(QR_USED_PREFIX + key, [till.pk, number, customer_id], QR_USED_TTL)

    transaction.on_commit(take)


def _spend_account(ev: Evaluated) -> AccountRow | None:
    """The default-currency account the cheque books on: the one with most available (after a merge
    a member may have several), the lowest id on ties."""
    accounts = ev.member.spend_accounts if ev.member else []
    if not accounts:
        return None
    return sorted(accounts, key=lambda a: (-a.available, a.id))[0]


def _coupons_answer(ev: Evaluated) -> tuple[dict[str, Any], list[str]]:
    used = {c.code: c.offer_id for c in ev.result.coupons_used}
    rejected = []
    for code, check in zip(ev.codes, ev.checks):
        if not check.ok:
            rejected.append({"code": code, "reason": check.code, "message": check.message})
        elif check.presented is not None and check.presented.code not in used:
            rejected.append({"code": code, "reason": "not_applicable", "message": "No offer applies to this coupon here."})
    return ({"used": [{"code": code, "offer_id": offer_id} for code, offer_id in used.items()],
             "rejected": rejected,
             "to_issue": [{"offer_id": c.offer_id, "issue_id": c.issue_id, "count": c.count}
                          for c in ev.result.coupons_to_issue]},
            list(used))


def _build(ev: Evaluated, *, bonus_payment: Decimal, offline: bool) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]], dict[str, Any], dict[str, Any]]:
    """Lines to write, their offers (plain dicts with PurchaseLine's / PurchaseLineOffer's field
    names: the new cheque's single statement needs no model instances), the answer (without
    purchase id and state), the booking plan."""
    result = ev.result
    by_position = {l["position"]: l for l in ev.lines}
    paid = spread(bonus_payment, [line.bonus_payment_max for line in result.lines])
    rows: list[dict[str, Any]] = []
    offers: list[list[dict[str, Any]]] = []
    answer_lines = []
    total_discount = ZERO
    for line, line_paid in zip(result.lines, paid):
        src = by_position[line.position]
        discount = ZERO if offline else line.discount
        effects = [e for e in line.offers if not (offline and e.effect == "discount")]
        total_discount += discount
        rows.append({"position": line.position, "sku": line.sku, "name": src["name"][:300], "quantity": src["quantity"],
                     "price": src["price"], "amount": line.amount, "discount": discount, "bonus_accrued": line.bonus,
                     "bonus_paid": line_paid})
        offers.append([{"offer_id": e.offer_id, "offer_name": e.offer_name[:200], "effect": e.effect, "value": e.value}
                       for e in effects])
        answer_lines.append({
            "position": line.position, "sku": line.sku, "quantity": str(src["quantity"]), "price": money(src["price"]),
            "amount": money(line.amount), "discount": money(discount), "bonus_accrued": money(line.bonus),
            "bonus_paid": money(line_paid), "to_pay": money(line.amount - discount - line_paid),
            "bonus_payment_max": money(ZERO if offline else line.bonus_payment_max),
            "offers": [{"offer_id": e.offer_id, "name": e.offer_name, "effect": e.effect, "value": str(e.value)}
                       for e in effects],
        })
    coupons, used_codes = _coupons_answer(ev)
    amount = result.amount
    answer = {
        "number": None, "state": None, "kind": "sale", "offline": offline,
        "purchased_at": ev.moment.astimezone(dt.timezone.utc).isoformat(),
        "member": ev.member.as_json() if ev.member else None,
        "card": card_json(ev.card),
        "lines": answer_lines,
        "totals": {"amount": money(amount), "discount": money(total_discount), "bonus_accrued": money(result.bonus),
                   "bonus_paid": money(bonus_payment), "to_pay": money(amount - total_discount - bonus_payment)},
        "bonus_payment_max": money(ZERO if offline else result.bonus_payment_max),
        "coupons": coupons,
        "messages": [{"offer_id": m.offer_id, "text": m.text, "position": m.position} for m in result.messages],
        "bonus_lots": [{"offer_id": lot.offer_id, "amount": money(lot.amount), "lines": list(lot.positions),
                        "activate_at": lot.activate_at.isoformat() if lot.activate_at else None,
                        "expire_at": lot.expire_at.isoformat() if lot.expire_at else None} for lot in result.lots],
        "balance": [],
    }
    plan = {
        "lots": answer["bonus_lots"],
        "coupons_used": used_codes,
        "coupons_to_issue": coupons["to_issue"],
        "usage": [{"offer_id": u.offer_id, "benefit": str(u.benefit)} for u in result.usage],
        "card_id": ev.card.pk if ev.card is not None else None,
        "card_state": ev.card.state if ev.card is not None else None,
        "partner_id": ev.partner_id,
    }
    return rows, offers, answer, plan


def _payable_available(ev: Evaluated, account: AccountRow | None) -> Decimal:
    if account is None or (ev.card is not None and ev.card.state != Card.State.ACTIVE):
        return ZERO
    return max(min(account.available, ev.result.bonus_payment_max), ZERO)


def _write(*, till: Till, number: str, ev: Evaluated, existing: Purchase | None, rows: list[dict[str, Any]],
           offers: list[list[dict[str, Any]]], answer: dict[str, Any], state: str, offline: bool,
           bonus_payment: Decimal) -> Purchase:
    """Create the purchase (or overwrite the one being recalculated) with its lines and offers."""
    fields = dict(store_id=till.store_id, customer_id=ev.member.id if ev.member else None,
                  card_id=ev.card.pk if ev.card else None, state=state, purchased_at=ev.moment, offline=offline,
                  amount=ev.result.amount, discount=Decimal(answer["totals"]["discount"]),
                  bonus_accrued=ev.result.bonus, bonus_paid=bonus_payment, trace=ev.result.trace_json(), answer=answer)
    if existing is None:
        purchase = Purchase.objects.create(till_id=till.pk, number=number, kind=Purchase.Kind.SALE, **fields)
    else:
        PurchaseLineOffer.objects.filter(line__purchase_id=existing.pk)._raw_delete(PurchaseLineOffer.objects.db)
        PurchaseLine.objects.filter(purchase_id=existing.pk)._raw_delete(PurchaseLine.objects.db)
        Purchase.objects.filter(pk=existing.pk).update(**fields)
        purchase = existing
        for name, value in fields.items():
            setattr(purchase, name, value)
    skus = product_ids([row["sku"] for row in rows])
    lines = PurchaseLine.objects.bulk_create([PurchaseLine(purchase_id=purchase.pk, product_id=skus.get(row["sku"]), **row)
                                              for row in rows])
    line_offers = [PurchaseLineOffer(line_id=line.pk, **effect) for line, effects in zip(lines, offers)
                   for effect in effects]
    if line_offers:
        PurchaseLineOffer.objects.bulk_create(line_offers)
    return purchase


# A new calculated cheque in ONE statement: the purchase, its lines (product ids looked up by sku in
# the same statement), their offers, the booking and the audit event. Five ORM inserts and the
# product look-up were six round trips and most of the ORM's per-request CPU on the till's hot path.
# A concurrent first calculate of the same number still hits purchase_number_unique_per_till here.
_INSERT_SQL = """
WITH src AS (
    SELECT * FROM jsonb_to_recordset(%(lines)s::jsonb) AS x(position int, sku text, name text, quantity numeric,
        price numeric, amount numeric, discount numeric, bonus_accrued numeric, bonus_paid numeric, offers jsonb)
),
purchase AS (
    INSERT INTO crm_purchase (till_id, store_id, number, kind, original_id, customer_id, card_id, state, purchased_at,
                              offline, amount, discount, bonus_accrued, bonus_paid, trace, answer, created_at,
                              confirmed_at)
    VALUES (%(till)s, %(store)s, %(number)s, 'sale', NULL, %(customer)s, %(card)s, %(state)s, %(purchased_at)s,
            %(offline)s, %(amount)s, %(discount)s, %(bonus_accrued)s, %(bonus_paid)s, %(trace)s::jsonb,
            %(answer)s::jsonb, %(now)s, NULL)
    RETURNING id
),
line AS (
    INSERT INTO crm_purchaseline (purchase_id, position, product_id, sku, name, quantity, price, amount, discount,
                                  bonus_accrued, bonus_paid, refunded_quantity)
    -- The product by its unique sku, one index probe per line: as a join the planner guessed 100
    -- lines and hashed the whole catalogue for every cheque.
    SELECT purchase.id, src.position, (SELECT product.id FROM catalogue_product product WHERE product.sku = src.sku),
           src.sku, src.name, src.quantity, src.price, src.amount, src.discount, src.bonus_accrued, src.bonus_paid, 0
    FROM purchase CROSS JOIN src
    ORDER BY src.position
    RETURNING id, position
),
line_offer AS (
    INSERT INTO crm_purchaselineoffer (line_id, offer_id, offer_name, effect, value)
    SELECT line.id, (e.value->>'offer_id')::bigint, e.value->>'offer_name', e.value->>'effect',
           (e.value->>'value')::numeric
    FROM line JOIN src ON src.position = line.position CROSS JOIN LATERAL jsonb_array_elements(src.offers)
         WITH ORDINALITY AS e(value, n)
    ORDER BY line.position, e.n
),
booking AS (
    INSERT INTO processing_booking (purchase_id, account_id, hold_id, seq, digest, request_digest, plan)
    SELECT purchase.id, %(account)s, %(hold)s, %(seq)s, %(digest)s, %(request_digest)s, %(plan)s::jsonb FROM purchase
),
audit AS (
    INSERT INTO core_auditevent (created_at, actor_kind, actor_id, actor_label, action, object_type, object_id,
                                 object_repr, before, after, comment)
    SELECT %(now)s, %(actor_kind)s, %(actor_id)s, %(actor_label)s, %(action)s, 'crm.purchase', purchase.id::text,
           %(repr)s, NULL, %(after)s::jsonb, ''
    FROM purchase
)
SELECT id FROM purchase
"""


def _insert(*, till: Till, number: str, ev: Evaluated, rows: list[dict[str, Any]], offers: list[list[dict[str, Any]]],
            answer: dict[str, Any], bonus_payment: Decimal, booking: dict[str, Any], actor: Actor, action: str,
            audit_after: Callable[[Purchase], Mapping[str, Any]]) -> Purchase:
    """A new calculated cheque with its lines, line offers, booking and audit event: one statement."""
    now = timezone.now()
    lines = [{"position": r["position"], "sku": r["sku"], "name": r["name"], "quantity": str(r["quantity"]),
              "price": str(r["price"]), "amount": str(r["amount"]), "discount": str(r["discount"]),
              "bonus_accrued": str(r["bonus_accrued"]), "bonus_paid": str(r["bonus_paid"]),
              "offers": [{"offer_id": o["offer_id"], "offer_name": o["offer_name"], "effect": o["effect"],
                          "value": str(o["value"])} for o in effects]}
             for r, effects in zip(rows, offers)]
    purchase = Purchase(till_id=till.pk, store_id=till.store_id, number=number, kind=Purchase.Kind.SALE,
                        customer_id=ev.member.id if ev.member else None, card_id=ev.card.pk if ev.card else None,
                        state=Purchase.State.CALCULATED, purchased_at=ev.moment, offline=False, amount=ev.result.amount,
                        discount=Decimal(answer["totals"]["discount"]), bonus_accrued=ev.result.bonus,
                        bonus_paid=bonus_payment, answer=answer, created_at=now)
    with prepared_cursor() as cursor:
        cursor.execute(_INSERT_SQL, {
            "lines": jsontext.dumps(lines), "till": till.pk, "store": till.store_id, "number": number,
            "customer": purchase.customer_id, "card": purchase.card_id, "state": purchase.state,
            "purchased_at": purchase.purchased_at, "offline": False, "amount": purchase.amount,
            "discount": purchase.discount, "bonus_accrued": purchase.bonus_accrued, "bonus_paid": bonus_payment,
            "trace": ev.result.trace_text(), "answer": jsontext.dumps(answer), "now": now,
            "account": booking["account_id"], "hold": booking["hold_id"], "seq": booking["seq"],
            "digest": booking["digest"], "request_digest": booking["request_digest"],
            "plan": jsontext.dumps(booking["plan"]), "actor_kind": actor.kind, "actor_id": str(actor.id)[:64],
            "actor_label": actor.label[:150], "action": action, "repr": str(purchase)[:200],
            "after": audit_json(audit_after(purchase)),
        })
        purchase.pk = cursor.fetchone()[0]
    purchase._state.adding, purchase._state.db = False, connection.alias  # as if loaded: it is stored
    del purchase.trace  # deferred (read from the row if asked), not the default [] a save would write back
    return purchase


def _retrying(use_case):
    """Two first calculates of one new cheque at once: the second insert hits the unique number;
    run it again, it then finds the first one's row (locked) and proceeds as a recalculation."""

    def run(**kwargs):
        try:
            return use_case(**kwargs)
        except IntegrityError as exc:
            if not is_unique_violation(exc, "purchase_number_unique_per_till"):
                raise
        return use_case(**kwargs)

    run.__doc__ = use_case.__doc__
    run.__name__ = use_case.__name__
    return run


# --- calculate ------------------------------------------------------------------------------------

def cheque_calculate(*, till: Till, number: str, lines: Sequence[Mapping[str, Any]], actor: Actor,
                     purchased_at: dt.datetime | None = None, identifier: Mapping[str, Any] | None = None,
                     coupons: Sequence[str] = (), bonus_payment: Decimal = ZERO) -> dict[str, Any]:
    """Evaluate the cheque, hold the bonus payment asked, store the cheque as calculated.

    A second calculate of the same cheque replaces the first (its hold is released first); an
    identical retry answers the stored answer. Confirmed -> already_confirmed, cancelled ->
    already_cancelled.
    """
    number = str(number).strip()
    bonus_payment = Decimal(bonus_payment or 0)
    normalized = lines_normalize(lines)
    digest = request_digest(identifier=identifier, lines=normalized, coupons=list(coupons),
                            bonus_payment=str(bonus_payment), purchased_at=purchased_at)
    with transaction.atomic():
        existing = _locked(till, number)
        booking = _booking(existing) if existing is not None else None
        if existing is not None:
            if existing.state == Purchase.State.CONFIRMED:
                raise _already_confirmed(number)
            if existing.state == Purchase.State.CANCELLED:
                raise _already_cancelled(number)
            if booking is not None and booking.request_digest == digest and (
                    booking.hold_id is None or Hold.objects.filter(pk=booking.hold_id, state=Hold.State.OPEN).exists()):
                return answer_out(existing, replayed=True)
        ev = cheque_evaluate_for_till(till=till, number=number, purchased_at=purchased_at, identifier=identifier,
                                      lines=normalized, coupons=coupons)
        account = _spend_account(ev)
        rows, offers, answer, plan = _build(ev, bonus_payment=bonus_payment, offline=False)
        if existing is not None:
            _release(booking, actor)
        seq = (booking.seq + 1) if booking is not None else 1
        payable_now = _payable_available(ev, account)
        hold = None
        if bonus_payment > 0:
            hold = _hold(ev, account, bonus_payment, key=f"{till.pk}:{number}:{seq}", actor=actor)
        answer.update(number=number, state=Purchase.State.CALCULATED)
        if ev.member is not None:
            answer["balance"] = [a.as_json() for a in ev.member.accounts]
        answer["bonus_payment_available"] = money(payable_now)
        fields = dict(account_id=account.id if account else None, hold_id=hold.pk if hold else None, seq=seq,
                      digest=lines_digest(normalized), request_digest=digest, plan=plan)

        def after(purchase: Purchase) -> dict[str, Any]:
            return {"number": number, "amount": purchase.amount, "discount": purchase.discount,
                    "bonus_accrued": purchase.bonus_accrued, "bonus_paid": bonus_payment, "seq": seq}

        if existing is None:  # the hot path: a new cheque, one statement
            purchase = _insert(till=till, number=number, ev=ev, rows=rows, offers=offers, answer=answer,
                               bonus_payment=bonus_payment, booking=fields, actor=actor, action="purchase.calculate",
                               audit_after=after)
        else:
            purchase = _write(till=till, number=number, ev=ev, existing=existing, rows=rows, offers=offers,
                              answer=answer, state=Purchase.State.CALCULATED, offline=False,
                              bonus_payment=bonus_payment)
            if booking is None:
                Booking.objects.create(purchase=purchase, **fields)
            else:
                Booking.objects.filter(pk=purchase.pk).update(**fields)
            audit_record(actor=actor, action="purchase.calculate", target=purchase, after=after(purchase))
        if ev.identified is not None and ev.member is not None:
            _consume_qr(ev.identified.qr_key, till, number, ev.member.id)
    return answer_out(purchase)


def _hold(ev: Evaluated, account: AccountRow | None, amount: Decimal, *, key: str, actor: Actor) -> Hold:
    if ev.member is None:
        raise DomainError("customer_not_found", "Paying with points needs an identified member.", field="identifier",
                          status=404)
    if ev.card is not None and ev.card.state == Card.State.NOT_ACTIVATED:
        raise DomainError("card_not_activated", f"Card {ev.card.number} is not activated: it earns but cannot spend.",
                          field="bonus_payment")
    if amount > ev.result.bonus_payment_max:
        raise DomainError("bonus_payment_too_high", f"At most {money(ev.result.bonus_payment_max)} of this cheque may "
                          f"be paid with points; {money(amount)} asked.", field="bonus_payment",
                          extra={"bonus_payment_max": money(ev.result.bonus_payment_max)})
    available = account.available if account else ZERO
    if account is None or amount > available:
        raise DomainError("not_enough_points", f"Not enough points: {money(available)} available, {money(amount)} "
                          "asked.", field="bonus_payment", extra={"available": money(available)})
    target = Account(pk=account.id, activated_balance=account.activated, pending_balance=account.pending,
                     held_balance=account.held)
    try:
        # No savepoint: the key is the locked cheque's (till, number, seq), so no other booking can
        # take it meanwhile, and any error here ends the calculate anyway.
        hold = ledger_hold(account=target, amount=amount, source=SOURCE, idempotency_key=key, ttl=HOLD_TTL,
                           actor=actor, description=f"cheque {key}", savepoint=False)
    except DomainError as exc:
        if exc.code == "not_enough_points":  # another till spent them meanwhile (checked under the lock)
            raise DomainError("not_enough_points", exc.message, field="bonus_payment", extra=exc.extra) from exc
        raise
    account.activated, account.pending, account.held = (target.activated_balance, target.pending_balance,
                                                        target.held_balance)
    return hold


# --- confirm --------------------------------------------------------------------------------------

def cheque_confirm(*, till: Till, number: str, actor: Actor,
                   lines: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Book the calculated cheque in one transaction. A retry answers the stored answer."""
    number = str(number).strip()
    with transaction.atomic():
        purchase = _locked_or_not_found(till, number)
        if purchase.state == Purchase.State.CONFIRMED:
            return answer_out(purchase, replayed=True)
        if purchase.state == Purchase.State.CANCELLED:
            raise _already_cancelled(number)
        booking = _booking(purchase)
        if lines and booking is not None and lines_digest(lines_normalize(lines)) != booking.digest:
            raise Conflict("different_cheque", f"The lines differ from cheque {number} as calculated; calculate it "
                           "again.", field="lines")
        answer = _book(purchase, booking, actor=actor)
    return answer_out(purchase) if answer is None else {"purchase_id": purchase.pk, **answer}


def _book(purchase: Purchase, booking: Booking | None, *, actor: Actor) -> dict[str, Any]:
    """Everything a confirm moves: redeem the hold, accrue the lots, use and issue coupons, count the
    offers' usage, mark the purchase confirmed, feed the counters, emit the event."""
    plan = booking.plan if booking is not None else {}
    customer_id = purchase.customer_id
    key = f"purchase:{purchase.pk}"
    notes: list[str] = []
    if booking is not None and booking.hold_id is not None:
        try:
            # No savepoints in the ledger's bookings below: their keys derive from the cheque, whose
            # row this transaction holds locked, and any error ends the confirm anyway.
            ledger_hold_confirm(hold=Hold(pk=booking.hold_id, account_id=booking.account_id, amount=purchase.bonus_paid),
                                actor=actor, purchase=purchase, description=f"cheque {purchase.number}",
                                savepoint=False)
        except DomainError as exc:
            if exc.code == "already_cancelled":
                raise Conflict("already_cancelled", "The points held for this cheque were released (the hold expired); "
                               "calculate it again.", field="number") from exc
            raise
    account_id = booking.account_id if booking is not None else None
    accrued: Account | None = None
    lots = [lot for lot in plan.get("lots", []) if Decimal(lot["amount"]) > 0]
    if lots and customer_id is not None:
        if account_id is None:
            account_id = account_open(customer=Customer(pk=customer_id), actor=actor).pk
            Booking.objects.filter(pk=purchase.pk).update(account_id=account_id)
        now = timezone.now()
        target = Account(pk=account_id)
        booked = []
        for index, lot in enumerate(lots):
            expire_at = dt.datetime.fromisoformat(lot["expire_at"]) if lot["expire_at"] else None
            activate_at = dt.datetime.fromisoformat(lot["activate_at"]) if lot["activate_at"] else None
            if expire_at is not None and expire_at <= max(now, activate_at or now):
                notes.append(f"lot of offer #{lot['offer_id']} expired before it was booked ({lot['amount']})")
                continue
            booked.append((Decimal(lot["amount"]), activate_at, expire_at, f"{key}:lot:{index}"))
        # All the lots in one statement (one per offer and lifetime: ten or more with many offers).
        entries = ledger_accrue_lots(account=target, lots=booked, source=SOURCE, actor=actor, purchase=purchase,
                                     description=f"cheque {purchase.number}", savepoint=False)
        if entries and not any(getattr(e, "replayed", False) for e in entries):  # a replay leaves no balances
            accrued = target  # the ledger left on it the balances it set under the account's lock
    if plan.get("coupons_used"):
        from offers.services.coupons import coupon_redeem

        for code in plan["coupons_used"]:
            try:
                coupon_redeem(code=code, customer_id=customer_id, key=key, actor=actor,
                              partner_id=plan.get("partner_id"),
                              at=purchase.purchased_at if purchase.offline else None)
            except Conflict as exc:
                if exc.code == "coupon_error":
                    raise coupon_error(exc) from exc
                raise
    issued: list[str] = []
    if plan.get("coupons_to_issue") and customer_id is not None:
        from offers.models import CouponIssue
        from offers.services.coupons import coupon_grant

        issues = CouponIssue.objects.in_bulk([c["issue_id"] for c in plan["coupons_to_issue"]])
        for item in plan["coupons_to_issue"]:
            issue = issues.get(item["issue_id"])
            if issue is None:
                continue
            granted = coupon_grant(issue=issue, customer_id=customer_id, key=f"{key}:offer:{item['offer_id']}",
                                   actor=actor, count=item["count"])
            issued.extend(c.code for c in granted)
    if plan.get("usage"):
        from offers.services.usage import offer_usage_record

        for item in plan["usage"]:
            offer_usage_record(offer_id=item["offer_id"], customer_id=customer_id, key=key,
                               benefit=Decimal(item["benefit"]), actor=actor)
    now = timezone.now()
    answer = dict(purchase.answer)
    answer["state"] = Purchase.State.CONFIRMED
    answer["coupons"] = {**answer.get("coupons", {}), "issued": issued}
    if notes:
        answer["notes"] = notes
    if booking is not None and customer_id is not None:
        ids = [a["account_id"] for a in answer.get("balance", [])] or ([account_id] if account_id else [])
        answer["balance"] = [a.as_json() for a in _balances_after(ids, accrued, answer.get("balance", []))]
    purchase.state, purchase.confirmed_at, purchase.answer = Purchase.State.CONFIRMED, now, answer
    _confirm_write(purchase, actor=actor, issued=issued)
    counter_apply_purchase(purchase_id=purchase.pk, known=(purchase.state, customer_id))
    if customer_id is not None:
        transaction.on_commit(lambda: _status_upgrade_later(customer_id))
    return answer


def _balances_after(ids: list[int], accrued: Account | None, shown: list[dict[str, Any]]) -> list[AccountRow]:
    """The balances a confirm answers. When the only account is the one the accrual just booked on,
    the ledger left its balances (read and moved under the account's lock, so current) on `accrued`:
    no query. Otherwise read them."""
    if accrued is not None and ids == [accrued.pk] and len(shown) == 1:
        row = shown[0]
        return [AccountRow(id=accrued.pk, currency=row["currency"], is_default=True,
                           activated=accrued.activated_balance, pending=accrued.pending_balance,
                           held=accrued.held_balance)]
    return accounts_balances(account_ids=ids)


def _status_upgrade_later(customer_id: int) -> None:
    """After commit: the status upgrade by task, unless no status system is active (then the task
    would find nothing to do; see statuses.active)."""
    from statuses.active import status_systems_active

    if status_systems_active():
        from statuses.tasks import status_upgrade

        status_upgrade.delay(customer_id)


# The confirmed state and answer, the purchase_confirmed event (the outbox; once per purchase) and the
# audit event: one statement instead of three round trips.
_CONFIRM_SQL = """
WITH purchase AS (
    UPDATE crm_purchase SET state = %(state)s, confirmed_at = %(now)s, answer = %(answer)s::jsonb
    WHERE id = %(purchase)s RETURNING id
),
event AS (
    INSERT INTO core_domainevent (kind, customer_id, payload, dedup_key, created_at, processed_at)
    SELECT 'purchase_confirmed', %(customer)s, %(payload)s::jsonb, %(dedup)s, %(now)s, NULL FROM purchase
    ON CONFLICT DO NOTHING
),
audit AS (
    INSERT INTO core_auditevent (created_at, actor_kind, actor_id, actor_label, action, object_type, object_id,
                                 object_repr, before, after, comment)
    SELECT %(now)s, %(actor_kind)s, %(actor_id)s, %(actor_label)s, 'purchase.confirm', 'crm.purchase',
           purchase.id::text, %(repr)s, NULL, %(after)s::jsonb, ''
    FROM purchase
)
SELECT id FROM purchase
"""


def _confirm_write(purchase: Purchase, *, actor: Actor, issued: list[str]) -> None:
    answer = purchase.answer
    payload = {"purchase_id": purchase.pk, "number": purchase.number, "till_id": purchase.till_id,
               "store_id": purchase.store_id, "card_id": purchase.card_id, "offline": purchase.offline,
               "purchased_at": purchase.purchased_at, "amount": purchase.amount, "discount": purchase.discount,
               "bonus_accrued": purchase.bonus_accrued, "bonus_paid": purchase.bonus_paid,
               "skus": [l["sku"] for l in answer.get("lines", [])]}
    after = {"state": purchase.state, "bonus_accrued": purchase.bonus_accrued, "bonus_paid": purchase.bonus_paid,
             "coupons_issued": issued}
    with prepared_cursor() as cursor:
        cursor.execute(_CONFIRM_SQL, {
            "state": purchase.state, "now": purchase.confirmed_at, "answer": jsontext.dumps(answer), "purchase": purchase.pk,
            "customer": purchase.customer_id, "payload": audit_json(payload),
            "dedup": f"purchase_confirmed:{purchase.pk}", "actor_kind": actor.kind, "actor_id": str(actor.id)[:64],
            "actor_label": actor.label[:150], "repr": str(purchase)[:200], "after": audit_json(after),
        })


# --- cancel ---------------------------------------------------------------------------------------

def cheque_cancel(*, till: Till, number: str, actor: Actor) -> dict[str, Any]:
    """Release the hold; the cheque ends cancelled. Twice answers the same."""
    number = str(number).strip()
    with transaction.atomic():
        purchase = _locked_or_not_found(till, number)
        if purchase.state == Purchase.State.CONFIRMED:
            raise _already_confirmed(number)
        if purchase.state == Purchase.State.CANCELLED:
            return answer_out(purchase, replayed=True)
        booking = _booking(purchase)
        _release(booking, actor)
        answer = dict(purchase.answer)
        answer["state"] = Purchase.State.CANCELLED
        if booking is not None and answer.get("balance"):
            answer["balance"] = [a.as_json() for a in accounts_balances(
                account_ids=[a["account_id"] for a in answer["balance"]])]
        Purchase.objects.filter(pk=purchase.pk).update(state=Purchase.State.CANCELLED, answer=answer)
        purchase.state, purchase.answer = Purchase.State.CANCELLED, answer
        audit_record(actor=actor, action="purchase.cancel", target=purchase, after={"state": purchase.state})
    return answer_out(purchase)


# --- offline --------------------------------------------------------------------------------------

def cheque_offline(*, till: Till, number: str, lines: Sequence[Mapping[str, Any]], actor: Actor,
                   purchased_at: dt.datetime | None = None, identifier: Mapping[str, Any] | None = None,
                   coupons: Sequence[str] = (), bonus_payment: Decimal = ZERO) -> dict[str, Any]:
    """A cheque a till stored while offline, sent later with its time: evaluated with the offers of
    that time, accrual only (no points spent, discounts reported as 0), booked at once. Idempotent."""
    number = str(number).strip()
    if Decimal(bonus_payment or 0) > 0:
        raise DomainError("validation_error", "An offline cheque cannot be paid with points.", field="bonus_payment")
    normalized = lines_normalize(lines)
    with transaction.atomic():
        existing = _locked(till, number)
        booking = _booking(existing) if existing is not None else None
        if existing is not None:
            if existing.state == Purchase.State.CONFIRMED:
                return answer_out(existing, replayed=True)
            if existing.state == Purchase.State.CANCELLED:
                raise _already_cancelled(number)
            _release(booking, actor)  # calculated online, then the connection was lost: book it offline
        ev = cheque_evaluate_for_till(till=till, number=number, purchased_at=purchased_at, identifier=identifier,
                                      lines=normalized, coupons=coupons, offline=True)
        account = _spend_account(ev)
        rows, offers, answer, plan = _build(ev, bonus_payment=ZERO, offline=True)
        answer.update(number=number, state=Purchase.State.CALCULATED)
        if ev.member is not None:
            answer["balance"] = [a.as_json() for a in ev.member.accounts]
        purchase = _write(till=till, number=number, ev=ev, existing=existing, rows=rows, offers=offers, answer=answer,
                          state=Purchase.State.CALCULATED, offline=True, bonus_payment=ZERO)
        fields = dict(account_id=account.id if account else None, hold_id=None,
                      seq=(booking.seq + 1) if booking else 1, digest=lines_digest(normalized), plan=plan)
        if booking is None:
            booking = Booking.objects.create(purchase=purchase, **fields)
        else:
            Booking.objects.filter(pk=purchase.pk).update(**fields)
            for name, value in fields.items():
                setattr(booking, name, value)
        audit_record(actor=actor, action="purchase.offline", target=purchase,
                     after={"number": number, "purchased_at": purchase.purchased_at, "amount": purchase.amount,
                            "bonus_accrued": purchase.bonus_accrued})
        answer = _book(purchase, booking, actor=actor)
    return {"purchase_id": purchase.pk, **answer}


cheque_calculate = _retrying(cheque_calculate)
cheque_offline = _retrying(cheque_offline)
