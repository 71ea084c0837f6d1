"""Pieces the till's use cases share: time, money, digests, the engine's cheque, the answer."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.utils import timezone

from catalogue.models import Product, Till
from core.errors import Conflict, DomainError
from crm.models import Card, Purchase
from offers.engine import evaluate
from offers.engine.types import Cheque, Line, PresentedCoupon, Result
from offers.services.coupons import coupons_present
from offers.snapshot import snapshot_get
from processing.selectors import Identified, Member, card_facts, member_identify, member_load

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
HOLD_TTL = dt.timedelta(minutes=30)
SOURCE = "pos"  # ledger source of every booking processing makes


def money(value: Decimal) -> str:
    return str(Decimal(value).quantize(CENT))


def store_zone(till: Till) -> str:
    return till.store.timezone or "UTC"


def local_moment(value: dt.datetime | None, tz: str) -> dt.datetime:
    """The till's time: naive = the store's local time, an offset is taken as given; stored in UTC."""
    if value is None:
        return timezone.now()
    if timezone.is_naive(value):
        return value.replace(tzinfo=zoneinfo.ZoneInfo(tz))
    return value


def lines_digest(lines: Sequence[Mapping[str, Any]]) -> str:
    """What a confirm's lines must match: position, sku, quantity, amount of every line."""
    rows = sorted((int(l["position"]), str(l["sku"]), str(Decimal(l["quantity"]).normalize()),
                   str(Decimal(l.get("amount") if l.get("amount") is not None else
                               Decimal(l["price"]) * Decimal(l["quantity"])).quantize(CENT)))
                  for l in lines)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def request_digest(**parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def lines_normalize(lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Lines with their amount (price x quantity when not given), checked: unique positions."""
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for index, line in enumerate(lines):
        position = int(line["position"])
        if position in seen:
            raise DomainError("validation_error", f"Position {position} appears twice.", field=f"lines.{index}.position")
        seen.add(position)
        quantity, price = Decimal(line["quantity"]), Decimal(line["price"])
        amount = line.get("amount")
        amount = (price * quantity).quantize(CENT) if amount is None else Decimal(amount)
        out.append({"position": position, "sku": str(line["sku"]).strip(), "name": line.get("name") or "",
                    "quantity": quantity, "price": price, "amount": amount})
    return out


@dataclass
class Evaluated:
    moment: dt.datetime
    tz: str
    identified: Identified | None
    member: Member | None
    card: Card | None
    lines: list[dict[str, Any]]
    result: Result
    checks: list  # offers.services.coupons.CouponCheck per presented code
    limited: frozenset[int]
    partner_id: int | None = None
    codes: list[str] | None = None


def cheque_evaluate_for_till(*, till: Till, number: str, purchased_at: dt.datetime | None,
                             identifier: Mapping[str, Any] | None, lines: list[dict[str, Any]],
                             coupons: Sequence[str], offline: bool = False) -> Evaluated:
    """Identify the member, load their facts (one query), check the coupons, run the engine."""
    tz = store_zone(till)
    moment = local_moment(purchased_at, tz)
    identified = None
    if identifier:
        identified = member_identify(kind=identifier.get("kind", ""), value=identifier.get("value", ""),
                                     till_id=till.pk, number=number)
    snapshot = snapshot_get()
    member = None
    if identified is not None and identified.customer_id is not None:
        member = member_load(customer_id=identified.customer_id,
                             card_id=identified.card.pk if identified.card is not None else None, tz=tz,
                             today=moment.astimezone(zoneinfo.ZoneInfo(tz)).date(),
                             limited_offer_ids=snapshot.limited_offer_ids, history_groups=snapshot.history_groups)
    presented: tuple[PresentedCoupon, ...] = ()
    checks: list = []
    codes = [c.strip() for c in coupons if c and c.strip()]
    if codes:
        presented, checks = coupons_present(codes=codes, customer_id=member.id if member else None,
                                            partner_id=till.store.partner_id, at=moment if offline else None)
    cheque = Cheque(
        purchased_at=moment,
        lines=tuple(Line(position=l["position"], sku=l["sku"], quantity=l["quantity"], price=l["price"],
                         amount=l["amount"]) for l in lines),
        timezone=tz,
        store_id=till.store_id,
        partner_id=till.store.partner_id,
        customer=member.facts if member else None,
        card=card_facts(identified.card) if identified is not None else None,
        coupons=presented,
        usage=member.usage if member else {},
    )
    result = evaluate(snapshot, cheque)
    return Evaluated(moment=moment, tz=tz, identified=identified, member=member,
                     card=identified.card if identified is not None else None, lines=lines, result=result,
                     checks=checks, limited=snapshot.limited_offer_ids, partner_id=till.store.partner_id, codes=codes)


def spread(total: Decimal, caps: Sequence[Decimal]) -> list[Decimal]:
    """`total` over lines in proportion to each line's cap (largest remainder, in cents); no line
    gets more than its cap; the parts add up to `total` exactly (total <= sum(caps))."""
    whole = sum(caps, Decimal(0))
    if total <= 0 or whole <= 0:
        return [ZERO for _ in caps]
    raw = [total * cap / whole for cap in caps]
    parts = [r.quantize(CENT, rounding=ROUND_DOWN) for r in raw]
    left = int(((total - sum(parts, Decimal(0))) / CENT).to_integral_value())
    order = sorted(range(len(caps)), key=lambda i: (raw[i] - parts[i], -i), reverse=True)
    for i in order:
        if left <= 0:
            break
        if parts[i] + CENT <= caps[i]:
            parts[i] += CENT
            left -= 1
    return parts


def product_ids(skus: Sequence[str]) -> dict[str, int]:
    return dict(Product.objects.filter(sku__in=list(set(skus))).values_list("sku", "id"))


def coupon_error(exc: Conflict) -> DomainError:
    reason = exc.extra.get("reason", "other")
    return DomainError("coupon_invalid", exc.message, field="coupons", extra={"reason": reason})


def answer_out(purchase: Purchase, *, replayed: bool = False) -> dict[str, Any]:
    out = {"purchase_id": purchase.pk, **purchase.answer}
    if replayed:
        out["replayed"] = True
    return out


def card_json(card: Card | None) -> dict[str, Any] | None:
    return None if card is None else {"number": card.number, "state": card.state}
