"""Demo cheques through the till services on the demo till msk-01: three confirmed (one paid
partly with points, one with the COFFEE20 public code), one cancelled, one refunded, one offline.
Idempotent: a cheque whose number exists is left as it is."""
from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

from django.utils import timezone

from catalogue.models import Till
from core.actors import Actor
from crm.models import Card, Purchase
from processing.services import cheque_calculate, cheque_cancel, cheque_confirm, cheque_offline, cheque_refund

ACTOR = Actor(kind="till", id="demo", label="demo till msk-01")
TILL_KEY, TILL_SECRET = "demo-till-msk-01", "demo-secret-msk-01"


def _card(i: int) -> str | None:
    number = f"70000000000000{i:02d}"
    return number if Card.objects.filter(number=number, state=Card.State.ACTIVE).exists() else None


def _line(position: int, sku: str, price: str, quantity: int = 1) -> dict:
    return {"position": position, "sku": sku, "quantity": str(quantity), "price": price,
            "amount": str(Decimal(price) * quantity)}


CHEQUES = [
    # number, card index, lines, coupons, points, what then
    ("DEMO-POS-1", 2, [_line(1, "MILK-1L", "79.90", 2), _line(2, "BREAD-W", "49.90")], [], "0", "confirm"),
    ("DEMO-POS-2", 3, [_line(1, "CHEESE-200", "249.00"), _line(2, "WINE-RED", "899.00")], [], "50.00", "confirm"),
    ("DEMO-POS-3", 4, [_line(1, "COFFEE-250", "499.00"), _line(2, "TEA-100", "329.00")], ["COFFEE20"], "0", "confirm"),
    ("DEMO-POS-4", 5, [_line(1, "CHOC-90", "119.00", 3)], [], "20.00", "cancel"),
    ("DEMO-POS-5", 6, [_line(1, "TOY-CAR", "599.00"), _line(2, "DIAPER-M", "1299.00")], [], "0", "refund"),
]


def load() -> str:
    till = Till.objects.select_related("store").filter(api_key=TILL_KEY).first()
    if till is None:
        return "no demo till (catalogue demo not loaded)"
    done = 0
    now = timezone.now().astimezone(till.store.tzinfo).replace(tzinfo=None, microsecond=0)
    for number, card_index, lines, coupons, points, then in CHEQUES:
        if Purchase.objects.filter(till=till, number=number).exists():
            continue
        card = _card(card_index)
        identifier = {"kind": "card", "value": card} if card else None
        cheque_calculate(till=till, number=number, lines=lines, coupons=coupons, identifier=identifier,
                         bonus_payment=Decimal(points) if card else Decimal(0), purchased_at=now, actor=ACTOR)
        if then == "cancel":
            cheque_cancel(till=till, number=number, actor=ACTOR)
        else:
            cheque_confirm(till=till, number=number, actor=ACTOR)
        if then == "refund":
            cheque_refund(till=till, number=f"{number}-R", original_number=number, lines=[{"position": 1}],
                          actor=ACTOR)
        done += 1
    if not Purchase.objects.filter(till=till, number="DEMO-POS-OFF-1").exists():
        card = _card(7)
        cheque_offline(till=till, number="DEMO-POS-OFF-1", purchased_at=now - dt.timedelta(days=1),
                       identifier={"kind": "card", "value": card} if card else None,
                       lines=[_line(1, "KEFIR-1L", "89.90", 2)], actor=ACTOR)
    if done:
        _segments_refresh()
    curl = (f"curl -X POST http://127.0.0.1:{os.environ.get('PORT', '8000')}/api/v1/pos/calculate -H 'Authorization: Till {TILL_KEY}:{TILL_SECRET}' "
            "-H 'Content-Type: application/json' -d '{\"number\": \"MY-1\", \"identifier\": {\"kind\": \"card\", "
            "\"value\": \"7000000000000001\"}, \"lines\": [{\"position\": 1, \"sku\": \"MILK-1L\", \"quantity\": \"2\", "
            "\"price\": \"79.90\"}], \"bonus_payment\": \"10.00\"}'")
    total = Purchase.objects.filter(till=till, number__startswith="DEMO-POS-").count()
    return f"{total} demo till cheques ({done} new: confirmed, cancelled, refunded, offline); try: {curl}"


def _segments_refresh() -> None:
    """The segments' demo ran before these cheques existed: bring the stats, RFM scores and dynamic
    segments up to date, so that a second load_demo finds nothing to change."""
    from segments.models import Segment
    from segments.services import customer_stats_rebuild, rfm_recompute, segment_refresh

    customer_stats_rebuild(actor=ACTOR)
    rfm_recompute(actor=ACTOR)
    for segment_id in Segment.objects.exclude(kind=Segment.Kind.STATIC).values_list("pk", flat=True):
        segment_refresh(segment_id=segment_id, actor=ACTOR)
