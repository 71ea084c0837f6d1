"""Demo segments, RFM scores and a static list. Idempotent: segments are keyed by name, cheques by number.

What `make run` shows (admin: marketer / demo-pass-123, Segments and RFM):
- a purchase history for demo customers 2..15 (cheques DEMO-SEG-*, dairy and other products, spread
  over two years with different rhythms), so RFM cells and purchase conditions have something to find;
- segments "Has a verified phone", "Spent over 1000 in 365 days", "Bought dairy (90 days)",
  "RFM champions", "Parents (children in the questionnaire)", "Lapsed: no purchase for 180 days",
  refreshed on load; a static "VIP list";
- the RFM matrix (Segments and RFM -> RFM settings) with its chart.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from attributes.services import counter_apply_purchase
from catalogue.models import Product, Till
from core.actors import Actor
from crm.models import Customer, Purchase, PurchaseLine
from segments.models import Segment
from segments.services import (
    customer_stats_rebuild,
    rfm_recompute,
    segment_create,
    segment_members_add,
    segment_refresh,
    segment_update,
)

ACTOR = Actor.system("demo")

SEGMENTS = [
    ("Has a verified phone", "Customers we can text: a verified phone number.",
     {"kind": "notifier", "channel": "phone", "verified": True}),
    ("Spent over 1000 in 365 days", "Net spending (sales minus refunds) above 1000 in the last year.",
     {"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "1000", "window_days": 365}),
    ("Bought dairy (90 days)", "At least one dairy product in the last 90 days.",
     {"kind": "purchases", "aggregate": "count", "op": "gte", "value": 1, "product_groups": ["dairy"],
      "window_days": 90}),
    ("RFM champions", "Recent, frequent, big spenders (RFM cell).", {"kind": "rfm", "cells": ["champions"]}),
    ("Parents (children in the questionnaire)", "At least one child in the questionnaire's children group.",
     {"kind": "questionnaire_group_count", "group": "children", "op": "gte", "value": 1}),
    ("Lapsed: no purchase for 180 days, verified phone", "Bought before, nothing for half a year; reachable by SMS.",
     {"op": "and", "children": [
         {"kind": "purchases", "aggregate": "last_date", "op": "more_than_days_ago", "value": 180},
         {"kind": "notifier", "channel": "phone", "verified": True},
         {"op": "not", "children": [{"kind": "profile", "field": "state", "op": "eq", "value": "blocked"}]}]}),
]

# customer number (demo-NNN) -> cheques as (days ago, [(sku, quantity)])
HISTORY: dict[int, list[tuple[int, list[tuple[str, int]]]]] = {
    2: [(d, [("MILK-1L", 2), ("CHEESE-200", 1)]) for d in (3, 12, 25, 40, 61, 90, 120, 150, 200, 260)],
    3: [(d, [("COFFEE-250", 2), ("WINE-RED", 1)]) for d in (5, 30, 70, 110, 190)],
    4: [(d, [("DIAPER-M", 2), ("TOY-CAR", 1), ("KEFIR-1L", 1)]) for d in (1, 8, 15, 22, 36, 50, 64, 80)],
    5: [(2, [("BREAD-W", 1)])],
    6: [(9, [("TEA-100", 1), ("CHOC-90", 1)])],
    7: [(d, [("WINE-RED", 3), ("CHEESE-200", 2)]) for d in (200, 230, 260, 300, 330)],
    8: [(d, [("MILK-1L", 1)]) for d in (150, 170)],
    9: [(340, [("CHOC-90", 1)])],
    10: [(d, [("COFFEE-250", 1), ("MILK-1L", 1)]) for d in (45, 75, 100)],
    11: [(d, [("DIAPER-M", 3)]) for d in (300, 320, 345, 360)],
    12: [(d, [("KEFIR-1L", 1), ("BREAD-W", 2)]) for d in (20, 48, 95)],
    13: [(400, [("TEA-100", 1)]), (500, [("COFFEE-250", 1)])],
    14: [(4, [("WINE-RED", 2), ("COFFEE-250", 2), ("CHEESE-200", 2)]), (33, [("WINE-RED", 1)])],
    15: [(130, [("MILK-1L", 1), ("BREAD-W", 1)]), (180, [("KEFIR-1L", 1)])],
}


def _purchases() -> int:
    till = Till.objects.filter(store__code="msk-01").select_related("store").first()
    if till is None or Purchase.objects.filter(till=till, number__startswith="DEMO-SEG-").exists():
        return 0
    products = {p.sku: p for p in Product.objects.all()}
    customers = {c.external_uid: c for c in Customer.objects.filter(external_uid__startswith="demo-")}
    now = timezone.now().replace(microsecond=0)
    made = 0
    for number, cheques in HISTORY.items():
        customer = customers.get(f"demo-{number:03d}")
        if customer is None:
            continue
        card = customer.cards.order_by("id").first()
        for n, (days_ago, lines) in enumerate(cheques, start=1):
            rows = [(products[sku], qty) for sku, qty in lines if sku in products]
            if not rows:
                continue
            when = now - dt.timedelta(days=days_ago, hours=number)
            purchase = Purchase.objects.create(
                till=till, store=till.store, number=f"DEMO-SEG-{number}-{n}", customer=customer, card=card,
                state=Purchase.State.CONFIRMED, purchased_at=when, confirmed_at=when,
                amount=sum((p.price or Decimal(0)) * qty for p, qty in rows))
            PurchaseLine.objects.bulk_create([
                PurchaseLine(purchase=purchase, position=pos, product=p, sku=p.sku, name=p.name, quantity=Decimal(qty),
                             price=p.price or Decimal(0), amount=(p.price or Decimal(0)) * qty)
                for pos, (p, qty) in enumerate(rows, start=1)])
            counter_apply_purchase(purchase_id=purchase.pk)  # as processing does when a cheque is confirmed
            made += 1
    return made


def load() -> str:
    cheques = _purchases()
    customer_stats_rebuild(actor=ACTOR)
    scored = rfm_recompute(actor=ACTOR)
    refreshed = []
    for name, description, definition in SEGMENTS:
        segment = Segment.objects.filter(name=name).first()
        if segment is None:
            segment = segment_create(name=name, description=description, definition=definition, actor=ACTOR)
        elif segment.definition != definition:
            segment = segment_update(segment=segment, definition=definition, actor=ACTOR)
        refreshed.append(f"{name}: {segment_refresh(segment_id=segment.pk, actor=ACTOR).members}")
    vip = Segment.objects.filter(name="VIP list").first() or segment_create(
        name="VIP list", kind=Segment.Kind.STATIC, description="Hand-picked customers (upload a CSV to change it).",
        actor=ACTOR)
    vip_ids = list(Customer.objects.filter(external_uid__in=["demo-001", "demo-004", "demo-014"]).values_list("id", flat=True))
    segment_members_add(segment_id=vip.pk, customer_ids=vip_ids, actor=ACTOR)
    return f"{cheques} demo cheques, {scored} customers RFM-scored; segments: " + "; ".join(refreshed)
