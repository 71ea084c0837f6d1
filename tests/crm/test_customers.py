"""Customer profile: create, update, register, block, merge."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from core.models import AuditEvent, DomainEvent
from crm.models import Account, Card, CardAccount, Customer, CustomerToken, Notifier
from crm.services.cards import card_issue
from crm.services.customers import customer_block, customer_create, customer_register, customer_unblock, customer_update
from crm.services.merge import customer_merge
from crm.signals import customer_merged
from tests.factories.crm import (
    CardFactory,
    CustomerFactory,
    NotifierFactory,
    PurchaseFactory,
    customer_token_for,
)

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def test_create_normalises_contacts_opens_an_account_and_emits_registration():
    customer, created = customer_create(
        actor=ACTOR, channel="call_center", first_name=" Anna ", last_name="Petrova", gender="female",
        birth_date="1990-05-17", timezone="Europe/Moscow", phone="8 916 123 45 67", email="Anna@Example.com",
    )
    assert created and customer.state == Customer.State.REGISTERED and customer.registered_at
    assert customer.first_name == "Anna" and customer.birth_date == dt.date(1990, 5, 17)
    assert set(customer.notifiers.values_list("kind", "value", "verified")) == {
        ("phone", "+79161234567", False), ("email", "anna@example.com", False)
    }
    assert Account.objects.filter(customer=customer, currency__is_default=True).count() == 1
    assert DomainEvent.objects.filter(kind="customer_registered", customer_id=customer.pk).exists()
    assert AuditEvent.objects.filter(action="customer.create", object_id=str(customer.pk)).exists()


@pytest.mark.parametrize(
    "kwargs, code, field",
    [
        ({"phone": "123"}, "phone_invalid", "phone"),
        ({"email": "nope"}, "email_invalid", "email"),
        ({"birth_date": "2999-01-01"}, "birth_date_invalid", "birth_date"),
        ({"timezone": "Mars/Olympus"}, "timezone_invalid", "timezone"),
        ({"gender": "x"}, "gender_invalid", "gender"),
    ],
)
def test_create_refuses_bad_input_per_field_and_writes_nothing(kwargs, code, field):
    with pytest.raises(DomainError) as caught:
        customer_create(actor=ACTOR, channel="admin", **kwargs)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert not Customer.objects.exists()


def test_create_with_external_uid_is_safe_to_retry():
    first, created = customer_create(actor=ACTOR, channel="import", external_uid="crm-42")
    again, created_again = customer_create(actor=ACTOR, channel="import", external_uid="crm-42")
    assert created and not created_again and first.pk == again.pk
    assert Customer.objects.count() == 1


def test_update_validates_audits_the_change_and_refuses_a_taken_uid():
    CustomerFactory(external_uid="taken")
    customer = CustomerFactory(first_name="Ivan")
    customer_update(customer=customer, actor=ACTOR, first_name="Ioann", timezone="Asia/Novosibirsk")
    event = AuditEvent.objects.get(action="customer.update", object_id=str(customer.pk))
    assert event.before == {"first_name": "Ivan", "timezone": "UTC"}
    assert event.after == {"first_name": "Ioann", "timezone": "Asia/Novosibirsk"}
    with pytest.raises(DomainError) as caught:
        customer_update(customer=customer, actor=ACTOR, external_uid="taken")
    assert (caught.value.code, caught.value.status) == ("external_uid_taken", 409)
    with pytest.raises(DomainError) as caught:
        customer_update(customer=customer, actor=ACTOR, allowed=("first_name",), external_uid="mine")
    assert caught.value.code == "field_not_allowed"


def test_registration_activates_the_anonymous_cards():
    anonymous = CustomerFactory(state=Customer.State.ANONYMOUS, registered_at=None)
    card = CardFactory(customer=anonymous, state=Card.State.NOT_ACTIVATED)
    customer_register(customer=anonymous, actor=ACTOR, channel="app")
    anonymous.refresh_from_db()
    card.refresh_from_db()
    assert anonymous.state == Customer.State.REGISTERED and anonymous.registration_channel == "app"
    assert card.state == Card.State.ACTIVE and card.activated_at
    assert AuditEvent.objects.filter(action="card.activate", object_id=str(card.pk)).exists()


def test_block_and_unblock():
    customer = CustomerFactory()
    customer_block(customer=customer, reason="fraud", actor=ACTOR)
    customer.refresh_from_db()
    assert (customer.state, customer.blocked_reason) == (Customer.State.BLOCKED, "fraud")
    customer_unblock(customer=customer, reason="cleared", actor=ACTOR)
    customer.refresh_from_db()
    assert customer.state == Customer.State.REGISTERED and customer.blocked_reason == ""
    assert AuditEvent.objects.filter(object_id=str(customer.pk), action__in=["customer.block", "customer.unblock"]).count() == 2


def test_merge_moves_cards_accounts_history_and_contacts():
    target = CustomerFactory(first_name="Anna", birth_date=None)
    source = CustomerFactory(first_name="A.", birth_date=dt.date(1985, 1, 2), external_uid="old-uid")
    target_card, _ = card_issue(number="7100000000001", customer=target, actor=ACTOR)
    source_card, _ = card_issue(number="7100000000002", customer=source, actor=ACTOR)
    source_account = Account.objects.get(customer=source)
    target_account = Account.objects.get(customer=target)
    purchase = PurchaseFactory(customer=source, card=source_card)
    NotifierFactory(customer=target, value="+79160000100", verified=False)
    NotifierFactory(customer=source, value="+79160000100", verified=True)  # the verified copy wins
    NotifierFactory(customer=source, kind="email", value="a@example.com")
    customer_token_for(source)
    heard = []

    def receiver(sender, source, target, actor, **kwargs):
        heard.append((source.pk, target.pk))

    customer_merged.connect(receiver)
    try:
        customer_merge(source=source, target=target, actor=ACTOR, comment="duplicate")
    finally:
        customer_merged.disconnect(receiver)

    source.refresh_from_db()
    target.refresh_from_db()
    assert source.state == Customer.State.MERGED and source.merged_into_id == target.pk
    assert source.external_uid is None and target.external_uid == "old-uid"
    assert target.first_name == "Anna" and target.birth_date == dt.date(1985, 1, 2)
    assert set(Card.objects.filter(customer=target).values_list("number", flat=True)) == {"7100000000001", "7100000000002"}
    assert set(Account.objects.filter(customer=target).values_list("id", flat=True)) == {source_account.pk, target_account.pk}
    # Every card reaches every account: the whole balance is visible whichever card is shown.
    assert CardAccount.objects.filter(card__in=[target_card, source_card]).count() == 4
    purchase.refresh_from_db()
    assert purchase.customer_id == target.pk
    assert list(target.notifiers.order_by("kind").values_list("kind", "value", "verified")) == [
        ("email", "a@example.com", False), ("phone", "+79160000100", True)
    ]
    assert not Notifier.objects.filter(customer=source).exists()
    assert CustomerToken.objects.get(customer=source).revoked_at is not None
    assert heard == [(source.pk, target.pk)]
    assert AuditEvent.objects.filter(action="customer.merge", object_id=str(target.pk), comment="duplicate").exists()
    assert AuditEvent.objects.filter(action="customer.merged_into", object_id=str(source.pk)).exists()
    assert DomainEvent.objects.filter(kind="customer_merged", customer_id=target.pk).exists()


def test_merge_refuses_self_and_merged_customers():
    customer = CustomerFactory()
    with pytest.raises(DomainError) as caught:
        customer_merge(source=customer, target=customer, actor=ACTOR)
    assert caught.value.code == "merge_same_customer"
    other = CustomerFactory()
    customer_merge(source=other, target=customer, actor=ACTOR)
    with pytest.raises(DomainError) as caught:
        customer_merge(source=other, target=CustomerFactory(), actor=ACTOR)
    assert caught.value.code == "customer_merged"


def test_an_anonymous_target_takes_the_registration_of_the_source():
    anonymous = CustomerFactory(state=Customer.State.ANONYMOUS, registered_at=None)
    card = CardFactory(customer=anonymous, state=Card.State.NOT_ACTIVATED)
    registered = CustomerFactory(registered_at=timezone.now() - dt.timedelta(days=3))
    customer_merge(source=registered, target=anonymous, actor=ACTOR)
    anonymous.refresh_from_db()
    card.refresh_from_db()
    assert anonymous.state == Customer.State.REGISTERED and anonymous.registered_at == registered.registered_at
    assert card.state == Card.State.ACTIVE
