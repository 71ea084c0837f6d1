"""The ledger's one-statement writes (several lots; a hold) book and audit what the step-by-step writes did."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from core.actors import Actor
from core.models import AuditEvent
from crm.models import LedgerEntry, Lot
from crm.services.ledger import ledger_accrue, ledger_accrue_lots
from tests.factories.crm import AccountFactory

ACTOR = Actor.system("test")


def lots(prefix: str) -> list:
    now = timezone.now()
    return [(Decimal("10.00"), None, None, f"{prefix}:0"),
            (Decimal("2.50"), now + dt.timedelta(days=14), now + dt.timedelta(days=200), f"{prefix}:1"),
            (Decimal("7.25"), None, now + dt.timedelta(days=30), f"{prefix}:2")]


def booked(account_id: int) -> list:
    rows = []
    for entry in LedgerEntry.objects.filter(account_id=account_id).order_by("id"):
        audit = AuditEvent.objects.get(object_type="crm.ledgerentry", object_id=str(entry.pk))
        after = {k: v for k, v in audit.after.items() if k not in ("account", "idempotency_key")}
        lot = Lot.objects.get(pk=entry.lot_id)
        rows.append((entry.kind, entry.amount, entry.activated_delta, entry.pending_delta, lot.state, lot.remaining,
                     audit.action, audit.object_repr.split(" on ")[0], after))
    return rows


@pytest.mark.django_db
def test_lots_book_as_single_accruals_do():
    one, many = AccountFactory(), AccountFactory()
    for amount, activate_at, expire_at, key in lots("one"):
        ledger_accrue(account=one, amount=amount, source="pos", idempotency_key=key, actor=ACTOR,
                      activate_at=activate_at, expire_at=expire_at)
    entries = ledger_accrue_lots(account=many, lots=lots("many"), source="pos", actor=ACTOR)
    assert [e.idempotency_key for e in entries] == ["many:0", "many:1", "many:2"]
    assert booked(one.pk) == booked(many.pk)
    one.refresh_from_db()
    assert (many.activated_balance, many.pending_balance) == (one.activated_balance, one.pending_balance) \
        == (Decimal("17.25"), Decimal("2.50"))


@pytest.mark.django_db
def test_a_booked_key_replays_lot_by_lot():
    account = AccountFactory()
    ledger_accrue_lots(account=account, lots=lots("k")[:1], source="pos", actor=ACTOR)
    entries = ledger_accrue_lots(account=account, lots=lots("k"), source="pos", actor=ACTOR)
    assert [getattr(e, "replayed", False) for e in entries] == [True, False, False]
    assert LedgerEntry.objects.filter(account=account).count() == 3


@pytest.mark.django_db
def test_a_hold_in_one_statement_books_and_audits_as_before():
    from crm.models import Hold
    from crm.services.ledger import ledger_hold

    account = AccountFactory()
    ledger_accrue(account=account, amount=Decimal("50.00"), source="pos", idempotency_key="h:0", actor=ACTOR)
    hold = ledger_hold(account=account, amount=Decimal("12.00"), source="pos", idempotency_key="h:1",
                       ttl=dt.timedelta(minutes=30), actor=ACTOR, description="cheque 1")
    stored = Hold.objects.get(pk=hold.pk)
    assert (stored.state, stored.amount, stored.account_id, stored.expires_at) == (
        Hold.State.OPEN, Decimal("12.00"), account.pk, hold.expires_at)
    entry = LedgerEntry.objects.get(hold_id=hold.pk)
    assert (entry.kind, entry.amount, entry.held_delta, entry.source, entry.idempotency_key, entry.description) == (
        "hold", Decimal("0.00"), Decimal("12.00"), "hold", f"{hold.pk}:open", "cheque 1")
    audit = AuditEvent.objects.get(object_type="crm.ledgerentry", object_id=str(entry.pk))
    assert (audit.action, audit.object_repr) == ("ledger.hold", str(entry))
    assert audit.after == {"account": account.pk, "kind": "hold", "amount": "0.00", "source": "hold",
                           "idempotency_key": f"{hold.pk}:open", "activated_balance": "50.00",
                           "pending_balance": "0.00", "held_balance": "12.00"}
    account.refresh_from_db()
    assert account.held_balance == Decimal("12.00")
    again = ledger_hold(account=account, amount=Decimal("12.00"), source="pos", idempotency_key="h:1",
                        ttl=dt.timedelta(minutes=30), actor=ACTOR)
    assert again.pk == hold.pk and again.replayed
