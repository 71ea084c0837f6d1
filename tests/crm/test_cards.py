"""Cards: issue, bind (accounts follow), states, block/unblock with reason, replace with history."""
from __future__ import annotations

import pytest

from core.actors import Actor
from core.errors import DomainError
from core.models import AuditEvent
from crm.models import Account, Card, CardAccount, Currency, Customer
from crm.services.accounts import account_open, currency_default
from crm.services.cards import (
    card_activate,
    card_bind,
    card_block,
    card_customer_ensure,
    card_issue,
    card_replace,
    card_unblock,
)
from tests.factories.crm import CardCategoryFactory, CardFactory, CustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def _linked(card: Card) -> set[int]:
    return set(CardAccount.objects.filter(card=card).values_list("account_id", flat=True))


def test_currency_default_is_created_once():
    assert not Currency.objects.exists()
    first = currency_default()
    assert (first.code, first.is_default) == ("points", True)
    assert currency_default().pk == first.pk
    assert Currency.objects.count() == 1


def test_account_open_is_idempotent_and_audited():
    customer = CustomerFactory()
    account = account_open(customer=customer, actor=ACTOR)
    assert account_open(customer=customer, actor=ACTOR).pk == account.pk
    assert account.currency.is_default
    assert AuditEvent.objects.filter(action="account.open", object_id=str(account.pk)).count() == 1


def test_issue_is_not_activated_and_safe_to_retry():
    category = CardCategoryFactory()
    card, created = card_issue(number=" 7000 0000 00001 ", barcode="2000000000011", category=category, actor=ACTOR)
    assert created and card.number == "7000000000001"
    assert card.state == Card.State.NOT_ACTIVATED and card.can_accrue and not card.can_redeem
    again, created_again = card_issue(number="7000000000001", barcode="2000000000011", actor=ACTOR)
    assert (again.pk, created_again) == (card.pk, False)
    with pytest.raises(DomainError) as caught:
        card_issue(number="7000000000001", barcode="other", actor=ACTOR)
    assert (caught.value.code, caught.value.status, caught.value.field) == ("card_exists", 409, "number")
    with pytest.raises(DomainError) as caught:
        card_issue(number="7000000000002", barcode="2000000000011", actor=ACTOR)
    assert caught.value.field == "barcode"
    with pytest.raises(DomainError) as caught:
        card_issue(number="bad number!", actor=ACTOR)
    assert caught.value.code == "card_code_invalid"
    assert AuditEvent.objects.filter(action="card.issue").count() == 1


def test_binding_to_a_registered_customer_activates_and_links_accounts():
    customer = CustomerFactory()
    card, _ = card_issue(number="7000000000010", actor=ACTOR)
    card = card_bind(card=card, customer=customer, actor=ACTOR)
    assert card.customer_id == customer.pk and card.state == Card.State.ACTIVE and card.can_redeem
    account = Account.objects.get(customer=customer)
    assert _linked(card) == {account.pk}
    assert AuditEvent.objects.filter(action="card.bind", object_id=str(card.pk)).exists()


def test_unbound_card_used_first_gets_an_anonymous_customer_once():
    card, _ = card_issue(number="7000000000020", actor=ACTOR)
    customer = card_customer_ensure(card=card, actor=ACTOR)
    assert customer.state == Customer.State.ANONYMOUS
    assert card_customer_ensure(card=card, actor=ACTOR).pk == customer.pk
    card.refresh_from_db()
    assert card.state == Card.State.NOT_ACTIVATED  # anonymous: earns, cannot spend
    assert _linked(card) == set(Account.objects.filter(customer=customer).values_list("id", flat=True))


def test_binding_an_anonymous_card_merges_its_holder_and_keeps_the_points_account():
    card, _ = card_issue(number="7000000000030", actor=ACTOR)
    anonymous = card_customer_ensure(card=card, actor=ACTOR)
    anonymous_account = Account.objects.get(customer=anonymous)
    purchase = PurchaseFactory(customer=anonymous, card=card)
    registered = CustomerFactory()

    card = card_bind(card=card, customer=registered, actor=ACTOR)

    assert card.customer_id == registered.pk and card.state == Card.State.ACTIVE
    anonymous.refresh_from_db()
    assert anonymous.state == Customer.State.MERGED and anonymous.merged_into_id == registered.pk
    anonymous_account.refresh_from_db()
    assert anonymous_account.customer_id == registered.pk
    purchase.refresh_from_db()
    assert purchase.customer_id == registered.pk
    assert anonymous_account.pk in _linked(card)


def test_a_card_of_another_known_customer_cannot_be_bound():
    card = CardFactory()
    with pytest.raises(DomainError) as caught:
        card_bind(card=card, customer=CustomerFactory(), actor=ACTOR)
    assert caught.value.code == "card_bound_to_other"


def test_block_needs_a_reason_and_unblock_restores_the_previous_use():
    card = CardFactory(state=Card.State.NOT_ACTIVATED)
    with pytest.raises(DomainError) as caught:
        card_block(card=card, reason=" ", actor=ACTOR)
    assert (caught.value.code, caught.value.field) == ("reason_required", "reason")
    card = card_block(card=card, reason="lost", actor=ACTOR)
    assert card.state == Card.State.BLOCKED and not card.can_accrue and not card.can_redeem
    assert card.state_reason == "lost"
    card = card_unblock(card=card, reason="found", actor=ACTOR)
    assert card.state == Card.State.NOT_ACTIVATED  # never activated: back to earning only
    card = card_activate(card=card, actor=ACTOR)
    card = card_unblock(card=card_block(card=card, reason="fraud check", actor=ACTOR), reason="ok", actor=ACTOR)
    assert card.state == Card.State.ACTIVE
    events = list(AuditEvent.objects.filter(object_id=str(card.pk), action__in=["card.block", "card.unblock"])
                  .order_by("id").values_list("action", "comment"))
    assert events == [("card.block", "lost"), ("card.unblock", "found"), ("card.block", "fraud check"), ("card.unblock", "ok")]


def test_replace_keeps_history_and_the_balance_follows():
    customer = CustomerFactory()
    old, _ = card_issue(number="7000000000040", customer=customer, actor=ACTOR)
    old = card_block(card=old, reason="lost", actor=ACTOR)
    accounts = _linked(old)

    new = card_replace(card=old, new_number="7000000000041", reason="lost card", actor=ACTOR)

    old.refresh_from_db()
    assert old.state == Card.State.REPLACED and old.replaced_by_id == new.pk
    assert not old.can_accrue and not old.can_redeem
    assert new.customer_id == customer.pk and new.state == Card.State.ACTIVE
    assert _linked(new) == accounts and accounts
    assert new.replaces == old  # history readable both ways
    with pytest.raises(DomainError) as caught:
        card_block(card=old, reason="x", actor=ACTOR)
    assert caught.value.code == "card_replaced"
    with pytest.raises(DomainError):
        card_replace(card=new, new_number=new.number, actor=ACTOR)


def test_replace_by_an_existing_card_of_someone_else_is_refused():
    customer_card = CardFactory()
    other = CardFactory()
    with pytest.raises(DomainError) as caught:
        card_replace(card=customer_card, new_number=other.number, actor=ACTOR)
    assert (caught.value.code, caught.value.field) == ("card_bound_to_other", "new_number")
    customer_card.refresh_from_db()
    assert customer_card.state == Card.State.ACTIVE
