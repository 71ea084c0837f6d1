"""Demo customers, contacts, cards and accounts. Idempotent: every row is keyed (external UID, card number).

What `make run` shows (admin, agent / demo-pass-123):
- 20 customers; phones +7 916 000-00-01 .. -20 (1-12 verified), emails for 1-10 (1-6 verified);
- cards 7000000000000001.. in every state: active (1-15, 20), blocked (16), replaced (17's old card
  7000000000000017 -> 7000000000000117), not activated (18, 19: anonymous holders, cards used at a
  till before registration), three unbound cards in stock (7000000000000901..903), a virtual card for 1;
- card categories (standard, gold, employee) and groups (print run 2025, app virtual cards);
- an account in the default currency for everyone (balances come from the ledger's demo);
- a few cheques of Anna Petrova (customer 1) at the demo store, so the purchase history has rows.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from catalogue.models import Store, Till
from core.actors import Actor
from crm.models import Card, CardCategory, CardGroup, Customer, ProgramSettings, Purchase, PurchaseLine
from crm.services.accounts import currency_default
from crm.services.cards import card_block, card_customer_ensure, card_issue, card_replace
from crm.services.customers import customer_create
from crm.services.notifiers import notifier_add

ACTOR = Actor.system("demo")

PEOPLE = [
    # first, last, gender, birth date, time zone
    ("Anna", "Petrova", "female", "1990-05-17", "Europe/Moscow"),
    ("Ivan", "Sidorov", "male", "1985-11-02", "Europe/Moscow"),
    ("Maria", "Ivanova", "female", "1994-02-28", "Europe/Moscow"),
    ("Dmitry", "Smirnov", "male", "1979-07-09", "Asia/Novosibirsk"),
    ("Elena", "Kuznetsova", "female", "1988-12-24", "Europe/Moscow"),
    ("Sergey", "Popov", "male", "1992-03-15", "Asia/Novosibirsk"),
    ("Olga", "Vasilieva", "female", "1975-09-30", "Europe/Moscow"),
    ("Alexey", "Sokolov", "male", "2000-01-01", "Europe/Moscow"),
    ("Natalia", "Mikhailova", "female", "1983-06-06", "Europe/Moscow"),
    ("Pavel", "Novikov", "male", "1996-10-10", "Asia/Novosibirsk"),
    ("Tatiana", "Fedorova", "female", "1970-04-21", "Europe/Moscow"),
    ("Andrey", "Morozov", "male", "1987-08-18", "Europe/Moscow"),
    ("Irina", "Volkova", "female", "1999-11-11", "Europe/Moscow"),
    ("Mikhail", "Alekseev", "male", "1981-05-05", "Europe/Moscow"),
    ("Svetlana", "Lebedeva", "female", "1993-07-27", "Asia/Novosibirsk"),
    ("Nikolay", "Semenov", "male", "1968-02-14", "Europe/Moscow"),
    ("Yulia", "Egorova", "female", "1997-09-03", "Europe/Moscow"),
    ("", "", "", None, "UTC"),  # 18: anonymous, card only
    ("", "", "", None, "UTC"),  # 19: anonymous, card only
    ("Roman", "Pavlov", "male", "1990-01-20", "Europe/Moscow"),
]


def _phone(i: int) -> str:
    return f"+7916000{i:04d}"


def _card_number(i: int) -> str:
    return f"70000000000{i:05d}"


def _categories() -> tuple[dict[str, CardCategory], dict[str, CardGroup]]:
    categories = {
        code: CardCategory.objects.get_or_create(code=code, defaults={"name": name})[0]
        for code, name in (("standard", "Standard"), ("gold", "Gold"), ("employee", "Employee"))
    }
    groups = {
        code: CardGroup.objects.get_or_create(code=code, defaults={"name": name})[0]
        for code, name in (("print-2025", "Print run 2025"), ("virtual", "App virtual cards"))
    }
    return categories, groups


def _purchases(customer: Customer, card: Card) -> None:
    till = Till.objects.filter(store__code="msk-01").select_related("store").first()
    if till is None or Purchase.objects.filter(till=till, number__startswith="DEMO-CRM-").exists():
        return
    now = timezone.now().replace(microsecond=0)
    for n, (days_ago, lines) in enumerate(((20, [("MILK-1L", "79.90", 2), ("BREAD-W", "49.90", 1)]),
                                           (9, [("COFFEE-250", "499.00", 1)]),
                                           (2, [("CHEESE-200", "249.00", 1), ("TEA-100", "329.00", 1)])), start=1):
        amount = sum(Decimal(price) * qty for _, price, qty in lines)
        purchase = Purchase.objects.create(
            till=till, store=till.store, number=f"DEMO-CRM-{n}", customer=customer, card=card,
            state=Purchase.State.CONFIRMED, purchased_at=now - dt.timedelta(days=days_ago),
            confirmed_at=now - dt.timedelta(days=days_ago), amount=amount,
        )
        PurchaseLine.objects.bulk_create([
            PurchaseLine(purchase=purchase, position=pos, sku=sku, name=sku, quantity=Decimal(qty), price=Decimal(price),
                         amount=Decimal(price) * qty)
            for pos, (sku, price, qty) in enumerate(lines, start=1)
        ])


def load() -> str:
    if not ProgramSettings.objects.filter(pk=1).exists():
        ProgramSettings().save()
    currency_default()
    categories, groups = _categories()
    store = Store.objects.filter(code="msk-01").first()
    for i, (first, last, gender, birth, tz) in enumerate(PEOPLE, start=1):
        number = _card_number(i)
        category = categories["gold" if i in (1, 4, 7) else "employee" if i == 12 else "standard"]
        if not first:  # anonymous: the card was shown at a till before anyone registered
            card, _ = card_issue(number=number, barcode=f"29{number}", category=category, group=groups["print-2025"],
                                 actor=ACTOR)
            card_customer_ensure(card=card, actor=ACTOR)
            continue
        customer, _ = customer_create(
            actor=ACTOR, channel=Customer.Channel.TILL if i % 3 else Customer.Channel.APP, external_uid=f"demo-{i:03d}",
            first_name=first, last_name=last, gender=gender, birth_date=birth, timezone=tz,
            registration_store=store,
        )
        notifier_add(customer=customer, kind="phone", value=_phone(i), verified=i <= 12, actor=ACTOR)
        if i <= 10:
            notifier_add(customer=customer, kind="email", value=f"{first}.{last}@example.com", verified=i <= 6,
                         actor=ACTOR)
        card, _ = card_issue(number=number, barcode=f"29{number}", category=category, group=groups["print-2025"],
                             customer=customer, actor=ACTOR)
        if i == 1:
            card_issue(number="7100000000000001", kind=Card.Kind.VIRTUAL, group=groups["virtual"], customer=customer,
                       actor=ACTOR)
            _purchases(customer, card)
        if i == 16:
            card_block(card=card, reason="reported lost by phone", actor=ACTOR)
        if i == 17 and card.state != Card.State.REPLACED:
            card_replace(card=card, new_number=_card_number(117), reason="damaged", actor=ACTOR)
    for n in (901, 902, 903):
        card_issue(number=_card_number(n), barcode=f"29{_card_number(n)}", category=categories["standard"],
                   group=groups["print-2025"], actor=ACTOR)
    from crm import demo_ledger

    points = demo_ledger.load(customers=10)
    states = {state: Card.objects.filter(state=state).count() for state in Card.State.values}
    return (f"{Customer.objects.count()} customers, {Card.objects.count()} cards "
            f"({', '.join(f'{n} {s}' for s, n in states.items())}); {points}")
