"""Build snapshots and cheques for engine tests without a database."""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from offers.engine import Cheque, CustomerFacts, Line, OfferSpec, RuleSpec, compile_snapshot
from offers.engine.compile import Snapshot

UTC = dt.timezone.utc
# A Tuesday, 12:00 in Moscow.
NOON = dt.datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
CATALOGUE = {
    "MILK": ["dairy"],
    "KEFIR": ["dairy"],
    "CHEESE": ["dairy", "deli"],
    "COFFEE": ["coffee-tea"],
    "TEA": ["coffee-tea"],
    "TOY": ["kids"],
    "BREAD": [],
}
_ids = itertools.count(1000)


def rule(*filters: dict[str, Any], actions: list[dict[str, Any]], name: str = "rule", id: int | None = None) -> RuleSpec:
    return RuleSpec(id=id or next(_ids), name=name, position=0, filters=list(filters), actions=actions)


def offer(id: int, *rules: RuleSpec, name: str | None = None, **fields: Any) -> OfferSpec:
    return OfferSpec(id=id, name=name or f"offer {id}", rules=tuple(rules), **fields)


def percent_off(value: str, scope: str = "line") -> dict[str, Any]:
    return {"type": "discount", "mode": "percent", "value": value, "scope": scope}


def group(*codes: str) -> dict[str, Any]:
    return {"type": "product_group", "groups": list(codes)}


def snap(*offers: OfferSpec, catalogue: dict[str, list[str]] | None = None) -> Snapshot:
    return compile_snapshot(offers, catalogue if catalogue is not None else CATALOGUE, version="test")


def line(position: int, sku: str, amount: str, quantity: str = "1") -> Line:
    qty = Decimal(quantity)
    total = Decimal(amount)
    return Line(position=position, sku=sku, quantity=qty, price=(total / qty).quantize(Decimal("0.01")), amount=total)


def cheque(*lines: Line, at: dt.datetime = NOON, customer: CustomerFacts | None = None, **fields: Any) -> Cheque:
    fields.setdefault("timezone", "Europe/Moscow")
    return Cheque(purchased_at=at, lines=tuple(lines), customer=customer, **fields)


def member(**fields: Any) -> CustomerFacts:
    fields.setdefault("id", 7)
    return CustomerFacts(**fields)


def effects(result, position: int) -> list[tuple[int, str, str]]:
    for item in result.lines:
        if item.position == position:
            return [(e.offer_id, e.effect, str(e.value)) for e in item.offers]
    raise KeyError(position)


def trace_of(result, offer_id: int):
    return next(entry for entry in result.trace if entry.offer_id == offer_id)
