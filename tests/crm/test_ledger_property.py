"""Property test: any sequence of bookings, retries and periodic runs keeps the ledger's invariants,
and a debit is refused exactly when the available balance is short."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.errors import DomainError
from crm.models import Hold, LedgerEntry
from crm.services.ledger import (
    ledger_accrue,
    ledger_adjust,
    ledger_hold,
    ledger_hold_confirm,
    ledger_hold_release,
    ledger_redeem,
    ledger_reverse,
)
from crm.services.ledger_periodic import ledger_activate_due, ledger_expire_due, ledger_release_expired_holds
from tests.crm.ledger_checks import ledger_problems
from tests.factories.crm import AccountFactory
from tests.factories.ledger import TEST_ACTOR

cents = st.integers(min_value=1, max_value=5_000).map(lambda c: Decimal(c) / 100)
days = st.one_of(st.none(), st.integers(min_value=1, max_value=4))
operations = st.lists(
    st.one_of(
        st.tuples(st.just("accrue"), cents, days, days),
        st.tuples(st.just("redeem"), cents),
        st.tuples(st.just("hold"), cents, st.integers(min_value=1, max_value=60 * 24 * 3)),
        st.tuples(st.just("confirm"), st.integers(min_value=0, max_value=9), st.booleans()),
        st.tuples(st.just("release"), st.integers(min_value=0, max_value=9)),
        st.tuples(st.just("adjust"), cents, st.booleans()),
        st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=30), st.one_of(st.none(), cents)),
        st.tuples(st.just("retry"), st.integers(min_value=0, max_value=30)),
        st.tuples(st.just("tick"), st.integers(min_value=1, max_value=72)),
    ),
    min_size=1,
    max_size=25,
)


class _Rollback(Exception):
    pass


def _available(account) -> Decimal:
    account.refresh_from_db()
    return account.activated_balance - account.held_balance


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(ops=operations)
# an open hold over points that expire: the expiry waits for the hold (then the hold is released)
@example(ops=[("accrue", Decimal("10"), None, 1), ("hold", Decimal("5"), 60 * 24 * 3), ("tick", 48), ("tick", 48)])
def test_any_sequence_of_operations_keeps_the_ledger_consistent(ops):
    try:
        with transaction.atomic():  # each example starts from an empty ledger
            _play(ops)
            raise _Rollback
    except _Rollback:
        pass


def _play(ops: list[tuple]) -> None:
    account = AccountFactory()
    real_now = timezone.now()
    clock = real_now
    entries: list[LedgerEntry] = []
    holds: list[Hold] = []
    calls: list[dict] = []  # the keyword arguments of every booking, to retry them
    for n, op in enumerate(ops):
        kind, *args = op
        key = f"op-{n}"
        try:
            if kind == "accrue":
                amount, activate_in, expire_in = args
                activate_at = real_now + dt.timedelta(days=activate_in) if activate_in else None
                expire_at = (activate_at or real_now) + dt.timedelta(days=expire_in) if expire_in else None
                call = {"fn": ledger_accrue, "account": account, "amount": amount, "source": "p", "idempotency_key": key,
                        "activate_at": activate_at, "expire_at": expire_at, "actor": TEST_ACTOR}
                entries.append(_call(call))
                calls.append(call)
            elif kind in ("redeem", "adjust"):
                amount = args[0] if kind == "redeem" or args[1] else -args[0]
                available = _available(account)
                if kind == "redeem":
                    call = {"fn": ledger_redeem, "account": account, "amount": amount, "source": "p",
                            "idempotency_key": key, "actor": TEST_ACTOR}
                else:
                    call = {"fn": ledger_adjust, "account": account, "amount": amount, "reason": "r",
                            "idempotency_key": key, "actor": TEST_ACTOR}
                debit = amount if kind == "redeem" else -amount
                try:
                    entries.append(_call(call))
                    calls.append(call)
                    assert debit <= available, f"{kind} of {debit} booked with only {available} available"
                except DomainError as exc:
                    assert exc.code == "not_enough_points" and debit > available, (exc, debit, available)
            elif kind == "hold":
                amount, minutes = args
                available = _available(account)
                try:
                    holds.append(ledger_hold(account=account, amount=amount, source="till", idempotency_key=key,
                                             ttl=dt.timedelta(minutes=minutes), actor=TEST_ACTOR))
                    assert amount <= available
                except DomainError as exc:
                    assert exc.code == "not_enough_points" and amount > available
            elif kind == "confirm" and holds:
                hold = holds[args[0] % len(holds)]
                partial = (hold.amount / 2).quantize(Decimal("0.01")) if args[1] else None
                entries.append(ledger_hold_confirm(hold=hold, amount=partial or None, actor=TEST_ACTOR))
            elif kind == "release" and holds:
                ledger_hold_release(hold=holds[args[0] % len(holds)], actor=TEST_ACTOR)
            elif kind == "reverse" and entries:
                entry = entries[args[0] % len(entries)]
                ledger_reverse(entry=entry, amount=args[1], idempotency_key=key, actor=TEST_ACTOR)
            elif kind == "retry" and calls:
                call = calls[args[0] % len(calls)]
                before = LedgerEntry.objects.count()
                again = _call(call)
                assert getattr(again, "replayed", False) and LedgerEntry.objects.count() == before
            elif kind == "tick":
                clock += dt.timedelta(hours=args[0])
                # expiry before release: an open hold makes its account wait (the postponed path)
                ledger_activate_due(now=clock)
                ledger_expire_due(now=clock)
                ledger_release_expired_holds(now=clock)
        except DomainError as exc:
            # refusals a random sequence may meet; anything else is a bug
            assert exc.code in {"already_confirmed", "already_cancelled", "points_already_spent", "over_reversal",
                                "already_reversed", "not_reversible", "not_enough_points", "invalid_amount"}, exc
        problems = ledger_problems([account.pk])
        assert not problems, (n, op, problems)


def _call(call: dict):
    kwargs = {k: v for k, v in call.items() if k != "fn"}
    return call["fn"](**kwargs)
