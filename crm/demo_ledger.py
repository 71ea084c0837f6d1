"""Demo points for the demo customers: accruals (one expiring soon), a pending lot, a redemption, an
operator adjustment, and the "expiring soon" events. Called by crm/demo.py after the customers and
their accounts exist. Idempotent: every booking has a fixed idempotency key, so a second load books
nothing."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from core.actors import Actor
from crm.models import Account, Currency
from crm.services.ledger import ledger_accrue, ledger_adjust, ledger_redeem
from crm.services.ledger_periodic import ledger_notify_expiring

DEMO_SOURCE = "demo"
ACTOR = Actor.system("demo")


def load(*, customers: int = 3) -> str:
    currency = Currency.objects.filter(is_default=True).first()
    if currency is None:
        return "no default currency yet: no demo points"
    accounts = list(Account.objects.filter(currency=currency).order_by("customer_id", "id").distinct("customer_id")[:customers])
    if not accounts:
        return "no demo customer has an account yet: no demo points"
    now = timezone.now()
    for account in accounts:
        key = f"demo:{account.customer_id}"
        ledger_accrue(account=account, amount=Decimal("500.00"), source=DEMO_SOURCE, idempotency_key=f"{key}:welcome",
                      expire_at=now + dt.timedelta(days=180), description="welcome bonus", actor=ACTOR)
        ledger_accrue(account=account, amount=Decimal("120.00"), source=DEMO_SOURCE, idempotency_key=f"{key}:promo",
                      expire_at=now + dt.timedelta(days=3), description="weekend promo (expires soon)", actor=ACTOR)
        ledger_accrue(account=account, amount=Decimal("80.00"), source=DEMO_SOURCE, idempotency_key=f"{key}:pending",
                      activate_at=now + dt.timedelta(days=14), expire_at=now + dt.timedelta(days=200),
                      description="cashback, activates after the return period", actor=ACTOR)
        ledger_redeem(account=account, amount=Decimal("100.00"), source=DEMO_SOURCE, idempotency_key=f"{key}:paid",
                      description="paid part of a cheque with points (taken from the promo lot first)", actor=ACTOR)
        ledger_adjust(account=account, amount=Decimal("50.00"), reason="call-center goodwill: late delivery",
                      source=DEMO_SOURCE, idempotency_key=f"{key}:goodwill", actor=ACTOR)
    events = ledger_notify_expiring(now=now)
    return f"points on {len(accounts)} accounts, {events} expiring-soon events"
