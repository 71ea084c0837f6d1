"""Opening bonus accounts and linking cards to them. Balances move only through crm.services.ledger.

Invariants kept here:
- every customer who holds a card has an account in the default currency (opened on bind);
- a bound card is linked (CardAccount) to every account of its customer, so whichever card the
  customer shows, the till reaches the same balances. After a merge a customer may own several
  accounts in one currency (they were moved, not booked over); all of their cards reach all of them.
"""
from __future__ import annotations

from django.db import IntegrityError, transaction

from core.actors import Actor
from core.services import audit_record, snapshot
from crm.models import Account, Card, CardAccount, Currency, Customer
from crm.services.common import customer_lock

DEFAULT_CURRENCY_CODE = "points"


def currency_default() -> Currency:
    """The default currency; created as 'points' when the program has none yet."""
    currency = Currency.objects.filter(is_default=True).first()
    if currency is not None:
        return currency
    try:
        with transaction.atomic():
            currency, created = Currency.objects.get_or_create(
                code=DEFAULT_CURRENCY_CODE, defaults={"name": "Points", "is_default": True}
            )
            if not created and not currency.is_default:
                currency.is_default = True
                currency.save(update_fields=["is_default"])
            if created:
                audit_record(actor=Actor.system("crm"), action="currency.create", target=currency, after=snapshot(currency))
            return currency
    except IntegrityError:
        # Another process made a default at the same moment (one_default_currency): use it.
        return Currency.objects.get(is_default=True)


@transaction.atomic
def account_open(*, customer: Customer, currency: Currency | None = None, actor: Actor) -> Account:
    """The customer's account in `currency` (default currency when None), opened if absent.

    Idempotent: a customer has one account per currency unless a merge brought a second one; this
    returns the oldest. The customer row is locked so two concurrent calls open one account.
    """
    currency = currency or currency_default()
    customer_lock(customer.pk)
    account = Account.objects.filter(customer=customer, currency=currency).order_by("id").first()
    if account is not None:
        return account
    account = Account.objects.create(customer=customer, currency=currency)
    audit_record(actor=actor, action="account.open", target=account, after=snapshot(account))
    return account


@transaction.atomic
def card_accounts_link(*, card: Card, actor: Actor) -> int:
    """Link a bound card to all accounts of its customer (opening the default one when missing).

    Returns how many links were added. Set-based: one INSERT ... ON CONFLICT DO NOTHING.
    """
    if card.customer_id is None:
        return 0
    account_open(customer=card.customer, actor=actor)
    account_ids = list(Account.objects.filter(customer_id=card.customer_id).values_list("id", flat=True))
    return _link(cards=[card.pk], account_ids=account_ids, actor=actor, target=card)


@transaction.atomic
def customer_cards_link_all(*, customer: Customer, actor: Actor) -> int:
    """Link every card of the customer to every account of the customer (after a merge)."""
    card_ids = list(Card.objects.filter(customer=customer).values_list("id", flat=True))
    if not card_ids:
        return 0
    account_ids = list(Account.objects.filter(customer=customer).values_list("id", flat=True))
    return _link(cards=card_ids, account_ids=account_ids, actor=actor, target=customer)


@transaction.atomic
def card_accounts_copy(*, source: Card, target: Card, actor: Actor) -> int:
    """Give `target` the same account links as `source` (card replacement: the balance follows)."""
    account_ids = list(CardAccount.objects.filter(card=source).values_list("account_id", flat=True))
    return _link(cards=[target.pk], account_ids=account_ids, actor=actor, target=target)


def _link(*, cards: list[int], account_ids: list[int], actor: Actor, target) -> int:
    existing = set(
        CardAccount.objects.filter(card_id__in=cards, account_id__in=account_ids).values_list("card_id", "account_id")
    )
    rows = [
        CardAccount(card_id=card_id, account_id=account_id)
        for card_id in cards
        for account_id in account_ids
        if (card_id, account_id) not in existing
    ]
    if not rows:
        return 0
    CardAccount.objects.bulk_create(rows, ignore_conflicts=True)
    audit_record(
        actor=actor,
        action="card.accounts_link",
        target=target,
        after={"links": sorted([row.card_id, row.account_id] for row in rows)},
    )
    return len(rows)
