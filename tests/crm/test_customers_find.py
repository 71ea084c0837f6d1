"""Finding a customer by any identifier (no Identifier table: notifiers, cards, customers by their indexes)."""
from __future__ import annotations

import pytest

from core.actors import Actor
from core.errors import DomainError
from crm.models import Customer
from crm.selectors.customers import customer_detail, customer_find, customer_search, identifier_resolve
from crm.services.merge import customer_merge
from tests.factories.crm import AccountFactory, CardFactory, CustomerFactory, NotifierFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna():
    customer = CustomerFactory(first_name="Anna", last_name="Petrova", external_uid="ext-anna")
    NotifierFactory(customer=customer, value="+79161234567", verified=True)
    NotifierFactory(customer=customer, kind="email", value="anna@example.com", verified=True)
    CardFactory(customer=customer, number="7000111122223333", barcode="2900000000017", track=";7000111122223333=4912?")
    return customer


@pytest.mark.parametrize(
    "kind, value",
    [
        ("phone", "8 (916) 123-45-67"),
        ("email", "ANNA@example.com"),
        ("card_number", "7000 1111 2222 3333"),
        ("barcode", "2900000000017"),
        ("track", ";7000111122223333=4912?"),
        ("external_uid", "ext-anna"),
        ("any", "+7 916 123 45 67"),
        ("any", "Anna@Example.com"),
        ("any", "7000111122223333"),
        ("any", "2900000000017"),
        ("any", "ext-anna"),
    ],
)
def test_find_by_each_identifier(anna, kind, value, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        assert customer_find(kind=kind, value=value) == anna


def test_resolve_tells_which_card_and_kind_matched(anna):
    found = identifier_resolve(kind="any", value="2900000000017")
    assert found.kind == "barcode" and found.card.number == "7000111122223333" and found.customer == anna


def test_unknown_and_malformed_values(anna):
    assert customer_find(kind="any", value="nothing-like-it") is None
    assert customer_find(kind="any", value="") is None
    with pytest.raises(DomainError) as caught:
        customer_find(kind="phone", value="12")
    assert (caught.value.code, caught.value.field) == ("phone_invalid", "value")
    with pytest.raises(DomainError) as caught:
        customer_find(kind="passport", value="x")
    assert caught.value.code == "identifier_kind_invalid"


def test_an_unverified_phone_identifies_only_when_one_customer_has_it():
    lone = CustomerFactory()
    NotifierFactory(customer=lone, value="+79160000777")
    assert customer_find(kind="phone", value="+79160000777") == lone
    NotifierFactory(value="+79160000777")
    assert customer_find(kind="phone", value="+79160000777") is None  # ambiguous
    # ... but the agent's search shows both.
    assert len(customer_search(query="+79160000777")) == 2


def test_a_merged_customer_is_followed_to_the_target(anna):
    duplicate = CustomerFactory(external_uid="ext-dup")
    CardFactory(customer=duplicate, number="7000999")
    customer_merge(source=duplicate, target=anna, actor=Actor.system("test"))
    assert customer_find(kind="card_number", value="7000999") == anna
    assert Customer.objects.get(pk=duplicate.pk).state == Customer.State.MERGED


def test_search_by_name_uses_exact_last_name(anna):
    CustomerFactory(first_name="Boris", last_name="Petrova-Smith")
    assert [c.pk for c in customer_search(query="petrova")] == [anna.pk]
    assert [c.pk for c in customer_search(query="Petrova Anna")] == [anna.pk]
    assert customer_search(query="Petrova Olga") == []
    assert [c.pk for c in customer_search(query=f"#{anna.pk}")] == [anna.pk]


def test_search_results_carry_contacts_and_cards_without_more_queries(anna, django_assert_num_queries):
    for _ in range(3):
        other = CustomerFactory(last_name="Petrova")
        NotifierFactory(customer=other)
        CardFactory(customer=other)
    results = customer_search(query="Petrova")
    with django_assert_num_queries(0):
        contacts = [(n.value for n in c.notifiers.all()) for c in results]
        cards = [[card.number for card in c.cards.all()] for c in results]
    assert len(contacts) == 4 and all(cards)


def test_customer_detail_is_a_fixed_number_of_queries(anna, django_assert_num_queries):
    AccountFactory(customer=anna)
    CardFactory(customer=anna)
    with django_assert_num_queries(4):
        customer = customer_detail(customer_id=anna.pk)
        _ = [(c.number, c.category, c.group, c.replaced_by) for c in customer.cards.all()]
        _ = [(a.activated_balance, a.currency.code) for a in customer.accounts.all()]
        _ = [n.value for n in customer.notifiers.all()]
        _ = customer.registration_store
