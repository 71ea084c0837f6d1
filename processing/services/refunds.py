"""Refunds: a purchase of kind refund, linked to its original sale, that gives back the points the
refunded part of the sale was paid with and takes back the points it earned.

Exactness: for each ledger entry of the original (each accrued lot, the redemption), the total to
undo after this refund is `round(entry amount x refunded weight / total weight)` where the weight
of a line is its points (accrued or paid) times the share of its quantity refunded so far. This
refund books that total minus what earlier refunds booked, so several partial refunds add up to
exactly a full one. The original's row is locked for the whole use case: two refunds of one sale
run one after the other, and `refunded_quantity` never exceeds `quantity` (a CHECK constraint too).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from attributes.services import counter_apply_purchase
from catalogue.models import Till
from core.actors import Actor
from core.errors import Conflict, DomainError
from core.services import audit_record, event_emit
from crm.models import LedgerEntry, Purchase, PurchaseLine
from crm.services.ledger import ledger_reverse
from crm.services.ledger_base import is_unique_violation
from processing.models import Booking
from processing.selectors import accounts_balances
from processing.services.common import CENT, ZERO, money

Q3 = Decimal("0.001")


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _share(total: Decimal, weight: Decimal, whole: Decimal) -> Decimal:
    if whole <= 0:
        return ZERO
    return _round(total * weight / whole)


def cheque_refund(*, till: Till, number: str, original_number: str, actor: Actor,
                  lines: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Refund `lines` ({position, quantity}) of a confirmed sale of this till (all of what is left
    when no lines are given). Idempotent by (till, refund number)."""
    number, original_number = str(number).strip(), str(original_number).strip()
    try:
        return _refund(till=till, number=number, original_number=original_number, actor=actor, lines=lines)
    except IntegrityError as exc:  # the same refund number twice at once: the second answers the first
        if not is_unique_violation(exc, "purchase_number_unique_per_till"):
            raise
    return _refund(till=till, number=number, original_number=original_number, actor=actor, lines=lines)


def _refund(*, till: Till, number: str, original_number: str, actor: Actor,
            lines: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    with transaction.atomic():
        sales = Purchase.objects.select_for_update(of=("self",)).filter(kind=Purchase.Kind.SALE, number=original_number)
        # The sale of this till; else the one of another till of the same store (refund at another desk).
        original = sales.filter(till_id=till.pk).first() or sales.filter(store_id=till.store_id).order_by("id").first()
        if original is None:
            raise DomainError("operation_not_found", f"No sale {original_number} in this store.",
                              field="original_number", status=404)
        done = Purchase.objects.filter(till_id=till.pk, kind=Purchase.Kind.REFUND, number=number).first()
        if done is not None:
            if done.original_id != original.pk:
                raise Conflict("operation_not_unique", f"Refund {number} was already made for another cheque.",
                               field="number")
            return {"purchase_id": done.pk, **done.answer, "replayed": True}
        if original.state != Purchase.State.CONFIRMED:
            raise Conflict("wrong_operation_order", f"Cheque {original_number} is {original.state}: only a confirmed "
                           "cheque can be refunded.", field="original_number")
        sale_lines = {line.position: line for line in PurchaseLine.objects.filter(purchase_id=original.pk)}
        wanted = _wanted(sale_lines, lines)
        if not wanted:
            raise Conflict("already_refunded", f"Cheque {original_number} is already fully refunded.",
                           field="original_number")
        refund = Purchase.objects.create(
            till_id=till.pk, store_id=original.store_id, number=number, kind=Purchase.Kind.REFUND, original=original,
            customer_id=original.customer_id, card_id=original.card_id, state=Purchase.State.CONFIRMED,
            purchased_at=timezone.now(), confirmed_at=timezone.now())
        rows, answer_lines = [], []
        for position, quantity in wanted.items():
            line = sale_lines[position]
            share = quantity / line.quantity
            amount, discount = _round(line.amount * share), _round(line.discount * share)
            rows.append(PurchaseLine(purchase=refund, position=position, product_id=line.product_id, sku=line.sku,
                                     name=line.name, quantity=quantity, price=line.price, amount=amount,
                                     discount=discount))
        # Points: per original entry, what is to be undone in total after this refund minus what was.
        before = {p: l.refunded_quantity for p, l in sale_lines.items()}
        after = {p: before[p] + wanted.get(p, ZERO) for p in sale_lines}
        lots = (original.answer or {}).get("bonus_lots", [])
        entries = list(LedgerEntry.objects.filter(purchase_id=original.pk, kind__in=(LedgerEntry.Kind.ACCRUAL,
                                                                                     LedgerEntry.Kind.REDEMPTION))
                       .order_by("id"))
        undone = dict(LedgerEntry.objects.filter(reverses__in=entries).values("reverses_id")
                      .annotate(total=Sum("amount")).values_list("reverses_id", "total")) if entries else {}
        taken_back = given_back = ZERO
        shortfall = ZERO
        for entry in entries:
            if entry.kind == LedgerEntry.Kind.REDEMPTION:
                weights = {p: l.bonus_paid for p, l in sale_lines.items()}
            else:
                index = entry.idempotency_key.rpartition(":lot:")[2]
                lot = lots[int(index)] if index.isdigit() and int(index) < len(lots) else {}
                weights = {p: l.bonus_accrued for p, l in sale_lines.items()}
                if lot.get("lines"):
                    weights = {p: w for p, w in weights.items() if p in lot["lines"]}
            whole = sum((w for w in weights.values()), ZERO)
            if whole <= 0:  # no line earned or paid: weigh by amount
                weights = {p: l.amount for p, l in sale_lines.items()}
                whole = sum(weights.values(), ZERO)
            total = abs(entry.amount)
            target = _share(total, sum((w * after[p] / sale_lines[p].quantity for p, w in weights.items()), ZERO),
                            whole)
            if all(after[p] == sale_lines[p].quantity for p in sale_lines):
                target = total  # a full refund undoes everything, whatever the rounding said
            already = abs(undone.get(entry.pk) or ZERO)
            amount = target - already
            if amount <= 0:
                continue
            booked, missing = _reverse(entry, amount, key=f"refund:{refund.pk}:{entry.pk}", actor=actor,
                                       description=f"refund {number} of cheque {original_number}")
            shortfall += missing
            if entry.kind == LedgerEntry.Kind.REDEMPTION:
                given_back += booked
            else:
                taken_back += booked
        for row in rows:
            line = sale_lines[row.position]
            row.bonus_accrued = _round(line.bonus_accrued * row.quantity / line.quantity)
            row.bonus_paid = _round(line.bonus_paid * row.quantity / line.quantity)
            answer_lines.append({"position": row.position, "sku": row.sku, "quantity": str(row.quantity),
                                 "amount": money(row.amount), "discount": money(row.discount),
                                 "bonus_accrued": money(row.bonus_accrued), "bonus_paid": money(row.bonus_paid),
                                 "refunded_quantity": str(after[row.position]), "offers": []})
        PurchaseLine.objects.bulk_create(rows)
        with connection.cursor() as cursor:
            cursor.executemany("UPDATE crm_purchaseline SET refunded_quantity = %s WHERE purchase_id = %s AND position = %s",
                               [(after[p], original.pk, p) for p in wanted])
        amount = sum((r.amount for r in rows), ZERO)
        discount = sum((r.discount for r in rows), ZERO)
        balance = []
        account_ids = sorted({e.account_id for e in entries})
        if account_ids:
            balance = [a.as_json() for a in accounts_balances(account_ids=account_ids)]
        answer = {
            "number": number, "state": Purchase.State.CONFIRMED, "kind": "refund", "original_number": original_number,
            "original_purchase_id": original.pk, "lines": answer_lines,
            "totals": {"amount": money(amount), "discount": money(discount), "bonus_accrued": money(-taken_back),
                       "bonus_paid": money(-given_back), "to_pay": money(-(amount - discount - given_back))},
            "points_taken_back": money(taken_back), "points_returned": money(given_back),
            "points_not_recovered": money(shortfall), "balance": balance,
        }
        Purchase.objects.filter(pk=refund.pk).update(amount=amount, discount=discount, bonus_accrued=taken_back,
                                                     bonus_paid=given_back, answer=answer)
        Booking.objects.create(purchase=refund, account_id=account_ids[0] if account_ids else None,
                               plan={"reversed": {"taken_back": str(taken_back), "returned": str(given_back)}})
        counter_apply_purchase(purchase_id=refund.pk)
        event_emit(kind="purchase_refunded", customer_id=original.customer_id, dedup_key=f"purchase_refunded:{refund.pk}",
                   payload={"purchase_id": refund.pk, "original_purchase_id": original.pk, "number": number,
                            "amount": amount, "points_taken_back": taken_back, "points_returned": given_back})
        audit_record(actor=actor, action="purchase.refund", target=refund,
                     after={"original": original.pk, "lines": {str(p): q for p, q in wanted.items()},
                            "points_taken_back": taken_back, "points_returned": given_back,
                            "points_not_recovered": shortfall})
    return {"purchase_id": refund.pk, **answer}


def _wanted(sale_lines: dict[int, PurchaseLine], lines: Sequence[Mapping[str, Any]] | None) -> dict[int, Decimal]:
    """position -> quantity to refund now, checked against what is left of each line."""
    if not lines:
        return {p: l.quantity - l.refunded_quantity for p, l in sorted(sale_lines.items())
                if l.quantity > l.refunded_quantity}
    out: dict[int, Decimal] = {}
    for index, item in enumerate(lines):
        position = int(item["position"])
        line = sale_lines.get(position)
        if line is None:
            raise DomainError("validation_error", f"The cheque has no line {position}.", field=f"lines.{index}.position")
        if position in out:
            raise DomainError("validation_error", f"Position {position} appears twice.", field=f"lines.{index}.position")
        left = line.quantity - line.refunded_quantity
        quantity = line.quantity if item.get("quantity") is None else Decimal(item["quantity"])
        if quantity > left:
            raise DomainError("validation_error", f"Only {left.normalize()} of line {position} is left to refund.",
                              field=f"lines.{index}.quantity")
        out[position] = quantity
    return out


def _reverse(entry: LedgerEntry, amount: Decimal, *, key: str, actor: Actor, description: str) -> tuple[Decimal, Decimal]:
    """Reverse `amount` of an entry; when the member already spent the points an accrual gave (or
    holds them for another cheque), take back what remains. Returns (booked, not recovered)."""
    try:
        ledger_reverse(entry=entry, idempotency_key=key, actor=actor, amount=amount, source="pos-refund",
                       description=description)
        return amount, ZERO
    except DomainError as exc:
        if exc.code not in ("points_already_spent", "not_enough_points"):
            raise
        remaining = Decimal(exc.extra.get("remaining") or exc.extra.get("available") or "0")
        remaining = min(max(remaining, ZERO), amount)
        if remaining > 0:
            ledger_reverse(entry=entry, idempotency_key=key, actor=actor, amount=remaining, source="pos-refund",
                           description=description)
        return remaining, amount - remaining
