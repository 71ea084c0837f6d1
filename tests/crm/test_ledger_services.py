"""Ledger services one at a time: accrual, redemption order, holds, adjustments, reversals, idempotency,
amounts, card states, audit, and the queries a booking costs."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from core.errors import DomainError
from core.models import AuditEvent
from crm.models import Card, Hold, LedgerEntry, Lot, LotConsumption
from crm.services import ledger_base
from crm.services.ledger import (
    ledger_accrue,
    ledger_adjust,
    ledger_hold,
    ledger_hold_confirm,
    ledger_hold_release,
    ledger_redeem,
    ledger_reverse,
)
from tests.crm.ledger_checks import assert_ledger_consistent
from tests.factories.crm import AccountFactory, CardFactory
from tests.factories.ledger import TEST_ACTOR, accrue, funded_account, next_key

pytestmark = pytest.mark.django_db
D = Decimal


def _balances(account) -> tuple[Decimal, Decimal, Decimal]:
    account.refresh_from_db()
    return account.activated_balance, account.pending_balance, account.held_balance


def redeem(account, amount: str, **kwargs) -> LedgerEntry:
    kwargs.setdefault("idempotency_key", next_key())
    return ledger_redeem(account=account, amount=D(amount), source="test", actor=TEST_ACTOR, **kwargs)


# --- accrual ------------------------------------------------------------------------------------

def test_accrual_now_is_spendable_and_in_the_future_is_pending():
    account = AccountFactory()
    now = timezone.now()
    active = accrue(account, "10.00", expire_at=now + dt.timedelta(days=30))
    pending = accrue(account, "5.50", activate_at=now + dt.timedelta(days=14))
    assert (active.activated_delta, active.pending_delta) == (D("10.00"), D("0"))
    assert (pending.activated_delta, pending.pending_delta) == (D("0"), D("5.50"))
    assert Lot.objects.get(pk=pending.lot_id).state == Lot.State.PENDING
    assert _balances(account) == (D("10.00"), D("5.50"), D("0"))
    assert_ledger_consistent([account.pk])


def test_accrual_updates_the_callers_instance():
    account = AccountFactory()
    accrue(account, "7.00")
    assert account.activated_balance == D("7.00")  # no refresh needed by the caller


@pytest.mark.parametrize(("amount", "reason"), [
    (0.5, "not float"), ("1.005", "at most 2 decimal places"), ("0", "must not be zero"),
    ("-3", "must be positive"), ("abc", "is not a number"), ("NaN", "is not a number"), ("1e20", "too large"),
])
def test_bad_amounts_are_refused_naming_the_field(amount, reason):
    account = AccountFactory()
    with pytest.raises(DomainError) as error:
        ledger_accrue(account=account, amount=amount, source="test", idempotency_key="k", actor=TEST_ACTOR)
    assert error.value.code == "invalid_amount" and error.value.field == "amount"
    assert reason in error.value.message
    assert not LedgerEntry.objects.exists()


def test_expiry_before_activation_or_in_the_past_is_refused():
    account = AccountFactory()
    now = timezone.now()
    for activate_at, expire_at in ((now + dt.timedelta(days=5), now + dt.timedelta(days=2)),
                                   (None, now - dt.timedelta(seconds=1))):
        with pytest.raises(DomainError) as error:
            ledger_accrue(account=account, amount=D("1"), source="t", idempotency_key=next_key(),
                          activate_at=activate_at, expire_at=expire_at, actor=TEST_ACTOR)
        assert error.value.field == "expire_at"
    with pytest.raises(DomainError) as missing_key:
        ledger_accrue(account=account, amount=D("1"), source="t", idempotency_key=" ", actor=TEST_ACTOR)
    assert missing_key.value.field == "idempotency_key"


def test_retry_with_the_same_key_returns_the_original_and_books_nothing():
    account = AccountFactory()
    first = ledger_accrue(account=account, amount=D("10"), source="purchase", idempotency_key="cheque-1", actor=TEST_ACTOR)
    again = ledger_accrue(account=account, amount=D("10"), source="purchase", idempotency_key="cheque-1", actor=TEST_ACTOR)
    assert again.pk == first.pk and again.replayed
    assert not getattr(first, "replayed", False)
    assert LedgerEntry.objects.count() == 1 and Lot.objects.count() == 1
    assert _balances(account)[0] == D("10.00")
    # the same key in another source is another booking
    ledger_accrue(account=account, amount=D("10"), source="other", idempotency_key="cheque-1", actor=TEST_ACTOR)
    assert _balances(account)[0] == D("20.00")


def test_same_key_for_a_different_operation_is_a_conflict():
    account = AccountFactory()
    ledger_accrue(account=account, amount=D("10"), source="purchase", idempotency_key="k", actor=TEST_ACTOR)
    with pytest.raises(DomainError) as error:
        ledger_accrue(account=account, amount=D("11"), source="purchase", idempotency_key="k", actor=TEST_ACTOR)
    assert error.value.code == "idempotency_key_reused" and error.value.status == 409
    with pytest.raises(DomainError):
        ledger_redeem(account=account, amount=D("10"), source="purchase", idempotency_key="k", actor=TEST_ACTOR)
    assert _balances(account)[0] == D("10.00")


def test_unique_constraint_is_the_last_wall_when_the_check_misses():
    # given a booking, and a locking statement that (as in a race) does not see it
    account = AccountFactory()
    first = ledger_accrue(account=account, amount=D("5"), source="s", idempotency_key="k", actor=TEST_ACTOR)
    real = ledger_base.account_lock
    calls = []

    def blind(*args, **kwargs):
        locked = real(*args, **kwargs)
        calls.append(locked.booked_entry_id)
        if len(calls) == 1:
            locked.booked_entry_id = None
        return locked

    # when the same key comes again, the insert hits the unique constraint inside a savepoint
    with mock.patch("crm.services.ledger.account_lock", side_effect=blind):
        again = ledger_accrue(account=account, amount=D("5"), source="s", idempotency_key="k", actor=TEST_ACTOR)
    # then the original comes back and nothing was booked twice (the lot was rolled back too)
    assert calls == [first.pk]
    assert again.pk == first.pk and again.replayed
    assert Lot.objects.count() == 1
    assert_ledger_consistent()


# --- redemption -----------------------------------------------------------------------------------

def test_redemption_spends_the_soonest_expiring_lots_first():
    account = AccountFactory()
    now = timezone.now()
    never = accrue(account, "10")
    late = accrue(account, "10", expire_at=now + dt.timedelta(days=90))
    soon = accrue(account, "10", expire_at=now + dt.timedelta(days=10))
    pending = accrue(account, "10", activate_at=now + dt.timedelta(days=1), expire_at=now + dt.timedelta(days=2))
    entry = redeem(account, "15.00")
    taken = {c.lot_id: c.amount for c in LotConsumption.objects.filter(entry=entry)}
    assert taken == {soon.lot_id: D("10.00"), late.lot_id: D("5.00")}
    lots = {lot.pk: lot for lot in Lot.objects.all()}
    assert (lots[soon.lot_id].state, lots[soon.lot_id].remaining) == (Lot.State.EXHAUSTED, D("0"))
    assert (lots[late.lot_id].state, lots[late.lot_id].remaining) == (Lot.State.ACTIVE, D("5.00"))
    assert lots[never.lot_id].remaining == D("10.00") and lots[pending.lot_id].state == Lot.State.PENDING
    redeem(account, "15.00")  # then the rest of `late`, then the never-expiring lot
    assert Lot.objects.get(pk=never.lot_id).remaining == D("0.00")
    assert _balances(account) == (D("0.00"), D("10.00"), D("0"))
    assert_ledger_consistent()


def test_redemption_refuses_more_than_available_and_changes_nothing():
    account = funded_account("10.00")
    accrue(account, "50", activate_at=timezone.now() + dt.timedelta(days=1))  # pending: not spendable
    with pytest.raises(DomainError) as error:
        redeem(account, "10.01")
    assert error.value.code == "not_enough_points" and error.value.field == "amount"
    assert error.value.extra == {"available": "10.00"}
    assert LedgerEntry.objects.filter(kind="redemption").count() == 0
    assert _balances(account)[0] == D("10.00")


def test_card_states_decide_earning_and_spending():
    account = funded_account("10.00")
    card = CardFactory(customer=account.customer, state=Card.State.NOT_ACTIVATED)
    card.accounts.add(account)
    # a not-activated card earns but cannot spend
    ledger_accrue(account=account, amount=D("1"), source="t", idempotency_key=next_key(), card=card, actor=TEST_ACTOR)
    with pytest.raises(DomainError) as not_activated:
        redeem(account, "1", card=card)
    assert not_activated.value.code == "card_not_activated"
    card.state = Card.State.BLOCKED
    with pytest.raises(DomainError) as blocked:
        ledger_accrue(account=account, amount=D("1"), source="t", idempotency_key=next_key(), card=card, actor=TEST_ACTOR)
    assert blocked.value.code == "card_blocked"
    other = CardFactory(state=Card.State.ACTIVE)  # holds no account of this customer
    with pytest.raises(DomainError) as foreign:
        redeem(account, "1", card=other)
    assert foreign.value.code == "card_account_mismatch" and foreign.value.field == "card"
    card.state = Card.State.ACTIVE
    redeem(account, "1", card=card)
    assert _balances(account)[0] == D("10.00")


def test_one_account_shared_by_two_cards_and_one_card_with_two_accounts():
    shared = funded_account("10")
    second_currency_account = AccountFactory(customer=shared.customer,
                                             currency__code="miles", currency__name="Miles", currency__is_default=False)
    card_a = CardFactory(customer=shared.customer)
    card_b = CardFactory(customer=shared.customer)
    card_a.accounts.add(shared, second_currency_account)
    card_b.accounts.add(shared)
    redeem(shared, "3", card=card_a)
    redeem(shared, "3", card=card_b)
    ledger_accrue(account=second_currency_account, amount=D("2"), source="t", idempotency_key=next_key(), card=card_a,
                  actor=TEST_ACTOR)
    assert _balances(shared)[0] == D("4.00")
    assert _balances(second_currency_account)[0] == D("2.00")


# --- holds --------------------------------------------------------------------------------------------

def test_hold_reserves_points_until_confirmed():
    account = funded_account("100")
    hold = ledger_hold(account=account, amount=D("60"), source="till", idempotency_key="calc-1",
                       ttl=dt.timedelta(minutes=10), actor=TEST_ACTOR)
    assert _balances(account) == (D("100.00"), D("0"), D("60.00"))
    with pytest.raises(DomainError) as error:
        redeem(account, "41")  # 40 available
    assert error.value.code == "not_enough_points"
    again = ledger_hold(account=account, amount=D("60"), source="till", idempotency_key="calc-1",
                        ttl=dt.timedelta(minutes=10), actor=TEST_ACTOR)
    assert again.pk == hold.pk and Hold.objects.count() == 1
    entry = ledger_hold_confirm(hold=hold, actor=TEST_ACTOR)
    assert (entry.kind, entry.amount, entry.held_delta) == ("redemption", D("-60.00"), D("-60.00"))
    assert _balances(account) == (D("40.00"), D("0"), D("0"))
    assert ledger_hold_confirm(hold=hold, actor=TEST_ACTOR).pk == entry.pk  # twice is a replay
    with pytest.raises(DomainError) as released:
        ledger_hold_release(hold=hold, actor=TEST_ACTOR)
    assert released.value.code == "already_confirmed"
    assert_ledger_consistent()


def test_partial_confirm_spends_less_and_releases_the_rest():
    account = funded_account("100")
    hold = ledger_hold(account=account, amount=D("60"), source="till", idempotency_key="calc-2",
                       ttl=dt.timedelta(minutes=10), actor=TEST_ACTOR)
    with pytest.raises(DomainError):
        ledger_hold_confirm(hold=hold, amount=D("61"), actor=TEST_ACTOR)
    ledger_hold_confirm(hold=hold, amount=D("25"), actor=TEST_ACTOR)
    assert _balances(account) == (D("75.00"), D("0"), D("0"))
    assert_ledger_consistent()


def test_released_hold_gives_points_back_and_cannot_be_confirmed():
    account = funded_account("100")
    hold = ledger_hold(account=account, amount=D("30"), source="till", idempotency_key="calc-3",
                       ttl=dt.timedelta(minutes=10), actor=TEST_ACTOR)
    release = ledger_hold_release(hold=hold, actor=TEST_ACTOR)
    assert release.held_delta == D("-30.00") and release.amount == 0
    assert ledger_hold_release(hold=hold, actor=TEST_ACTOR).pk == release.pk
    with pytest.raises(DomainError) as error:
        ledger_hold_confirm(hold=hold, actor=TEST_ACTOR)
    assert error.value.code == "already_cancelled"
    assert _balances(account) == (D("100.00"), D("0"), D("0"))
    with pytest.raises(DomainError) as too_much:
        ledger_hold(account=account, amount=D("100.01"), source="till", idempotency_key="calc-4",
                    ttl=dt.timedelta(minutes=1), actor=TEST_ACTOR)
    assert too_much.value.code == "not_enough_points"
    assert_ledger_consistent()


# --- adjustments ----------------------------------------------------------------------------------

def test_adjustment_with_reason_both_ways_and_audited(admin_operator):
    from core.actors import Actor

    account = funded_account("10")
    operator = Actor.operator(admin_operator)
    plus = ledger_adjust(account=account, amount=D("5"), reason="goodwill", idempotency_key="a1", actor=operator)
    minus = ledger_adjust(account=account, amount=D("-12"), reason="fraud", idempotency_key="a2", actor=operator)
    assert Lot.objects.get(pk=plus.lot_id).expire_at is None
    assert sum(c.amount for c in minus.consumptions.all()) == D("12.00")
    assert _balances(account)[0] == D("3.00")
    events = AuditEvent.objects.filter(action="ledger.adjust").order_by("id")
    assert [(e.actor_label, e.comment, e.after["amount"]) for e in events] == [
        (admin_operator.username, "goodwill", "5.00"), (admin_operator.username, "fraud", "-12.00")]
    assert LedgerEntry.objects.get(pk=minus.pk).actor_id == str(admin_operator.pk)
    with pytest.raises(DomainError) as negative:
        ledger_adjust(account=account, amount=D("-3.01"), reason="x", idempotency_key="a3", actor=operator)
    assert negative.value.code == "not_enough_points"
    with pytest.raises(DomainError) as no_reason:
        ledger_adjust(account=account, amount=D("1"), reason="  ", idempotency_key="a4", actor=operator)
    assert no_reason.value.field == "reason"
    assert_ledger_consistent()


def test_every_booking_leaves_an_audit_event():
    account = funded_account("10")
    redeem(account, "1")
    hold = ledger_hold(account=account, amount=D("1"), source="t", idempotency_key="h", ttl=dt.timedelta(minutes=1),
                       actor=TEST_ACTOR)
    ledger_hold_release(hold=hold, actor=TEST_ACTOR)
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["ledger.accrue", "ledger.redeem", "ledger.hold", "ledger.hold_release"]
    assert AuditEvent.objects.filter(object_type="crm.ledgerentry").count() == 4
    # the hot paths write the audit row in their booking statement: the same row audit_record writes
    redemption = LedgerEntry.objects.get(kind="redemption")
    written = AuditEvent.objects.get(action="ledger.redeem")
    by_audit_record = AuditEvent.objects.get(action="ledger.hold")
    assert (written.actor_kind, written.actor_label, written.object_id, written.object_repr) == (
        "system", "test", str(redemption.pk), str(redemption))
    assert written.after == {"account": account.pk, "kind": "redemption", "amount": "-1.00", "source": "test",
                             "idempotency_key": redemption.idempotency_key, "activated_balance": "9.00",
                             "pending_balance": "0.00", "held_balance": "0.00"}
    assert set(written.after) == set(by_audit_record.after) and written.before is None


# --- reversals ------------------------------------------------------------------------------------

def test_reversing_an_accrual_takes_back_what_remains_or_says_it_was_spent():
    account = AccountFactory()
    accrual = accrue(account, "10")
    redeem(account, "4")
    with pytest.raises(DomainError) as spent:
        ledger_reverse(entry=accrual, idempotency_key="r1", actor=TEST_ACTOR)
    assert spent.value.code == "points_already_spent" and spent.value.extra == {"remaining": "6.00"}
    partial = ledger_reverse(entry=accrual, amount=D("6"), idempotency_key="r1", actor=TEST_ACTOR)
    assert (partial.amount, partial.reverses_id) == (D("-6.00"), accrual.pk)
    assert Lot.objects.get(pk=accrual.lot_id).state == Lot.State.EXHAUSTED
    assert ledger_reverse(entry=accrual, amount=D("6"), idempotency_key="r1", actor=TEST_ACTOR).pk == partial.pk
    with pytest.raises(DomainError) as over:
        ledger_reverse(entry=accrual, amount=D("4.01"), idempotency_key="r2", actor=TEST_ACTOR)
    assert over.value.code == "over_reversal"
    assert _balances(account)[0] == D("0.00")
    assert_ledger_consistent()


def test_reversing_a_pending_accrual_takes_from_pending():
    account = AccountFactory()
    accrual = accrue(account, "10", activate_at=timezone.now() + dt.timedelta(days=3))
    ledger_reverse(entry=accrual, idempotency_key="r", actor=TEST_ACTOR)
    assert _balances(account) == (D("0"), D("0.00"), D("0"))
    with pytest.raises(DomainError) as twice:
        ledger_reverse(entry=accrual, idempotency_key="r-again", actor=TEST_ACTOR)
    assert twice.value.code == "already_reversed"
    assert_ledger_consistent()


def test_reversing_a_redemption_gives_back_to_the_lots_it_took_from():
    account = AccountFactory()
    now = timezone.now()
    soon = accrue(account, "10", expire_at=now + dt.timedelta(days=5))
    late = accrue(account, "10", expire_at=now + dt.timedelta(days=50))
    redemption = redeem(account, "15")
    # a refund of 3 goes back to the lot taken last (late), then 4 more: 5 to late, then 2 to soon
    ledger_reverse(entry=redemption, amount=D("3"), idempotency_key="refund-1", actor=TEST_ACTOR)
    assert Lot.objects.get(pk=late.lot_id).remaining == D("8.00")
    ledger_reverse(entry=redemption, amount=D("4"), idempotency_key="refund-2", actor=TEST_ACTOR)
    soon_lot = Lot.objects.get(pk=soon.lot_id)
    assert (soon_lot.remaining, soon_lot.state) == (D("2.00"), Lot.State.ACTIVE)
    assert Lot.objects.get(pk=late.lot_id).remaining == D("10.00")
    with pytest.raises(DomainError) as over:
        ledger_reverse(entry=redemption, amount=D("8.01"), idempotency_key="refund-3", actor=TEST_ACTOR)
    assert over.value.code == "over_reversal"
    reversal = ledger_reverse(entry=redemption, idempotency_key="refund-3", actor=TEST_ACTOR)  # the rest: 8
    assert reversal.amount == D("8.00")
    assert _balances(account)[0] == D("20.00")
    with pytest.raises(DomainError) as not_reversible:
        ledger_reverse(entry=reversal, idempotency_key="refund-4", actor=TEST_ACTOR)
    assert not_reversible.value.code == "not_reversible"
    assert_ledger_consistent()


def test_points_given_back_to_an_expired_lot_go_to_a_new_lot_with_its_expiry():
    from crm.services.ledger_periodic import ledger_expire_due

    account = AccountFactory()
    expire_at = timezone.now() + dt.timedelta(days=1)
    accrual = accrue(account, "10", expire_at=expire_at)
    redemption = redeem(account, "4")
    ledger_expire_due(now=expire_at)
    assert _balances(account)[0] == D("0.00")
    reversal = ledger_reverse(entry=redemption, idempotency_key="refund", actor=TEST_ACTOR)
    new_lot = Lot.objects.get(pk=reversal.lot_id)
    assert new_lot.pk != accrual.lot_id
    assert (new_lot.remaining, new_lot.expire_at, new_lot.state) == (D("4.00"), expire_at, Lot.State.ACTIVE)
    # the next expiry run takes them, visibly
    assert ledger_expire_due(now=expire_at).rows == 1
    assert _balances(account)[0] == D("0.00")
    assert_ledger_consistent()


# --- cost of a booking ------------------------------------------------------------------------

def test_accrual_and_redemption_query_counts(django_assert_num_queries):
    account = funded_account("100")
    # savepoint, lock with key check, lot + entry + balance + audit event, release savepoint
    with django_assert_num_queries(4):
        accrue(account, "10")
    # savepoint, lock with key check, lots + entry + consumptions + balance + audit event, release
    with django_assert_num_queries(4):
        redeem(account, "15")
    # a retry: savepoint, lock with key check, the original entry, release
    key = LedgerEntry.objects.filter(kind="accrual").last().idempotency_key
    with django_assert_num_queries(4):
        ledger_accrue(account=account, amount=D("10"), source="test", idempotency_key=key, actor=TEST_ACTOR)
