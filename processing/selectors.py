"""Reads for the till API: who the identifier names, what is known about them (the engine's
`CustomerFacts`), their accounts and balances, and stored cheques.

`member_load` reads the customer, the statuses, segments, attribute values, questionnaire groups,
personal products, offer usage and past purchases of the groups offers look back at, and the
accounts with their balances, in ONE statement (json sub-selects): a till's calculate pays one
round trip for the whole context, whatever the number of offers or lines.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.cache import cache

from core.db import prepared_cursor
from core.errors import DomainError
from core.rows import cache_related, instance_from
from crm.models import Card, CardCategory, Customer, Purchase
from crm.identifiers import card_code_normalize
from crm.selectors.customers import CARD_FIELDS, identifier_resolve
from offers.engine.types import CardFacts, CustomerFacts, UsageFacts

IDENTIFIER_KINDS = ("card", "barcode", "track", "phone", "email", "external_uid", "qr", "coupon")
CARD_KINDS = {"card": "card_number", "barcode": "barcode", "track": "track"}
QR_PREFIX = "processing:qr:"
QR_USED_PREFIX = "processing:qr-used:"
ZERO = Decimal("0")


def qr_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Identified:
    """The member (None: not found) and the card the till presented (None: identified otherwise)."""

    customer_id: int | None
    card: Card | None = None
    kind: str = ""
    qr_key: str | None = None  # the QR token's hash, consumed by calculate


def member_identify(*, kind: str, value: str, till_id: int | None = None, number: str | None = None) -> Identified:
    """Resolve a till's identifier; raises the original's codes: card_not_found, card_blocked,
    customer_not_found, coupon_invalid (with reason), customer_blocked."""
    value = (value or "").strip() if isinstance(value, str) else str(value or "")
    if kind not in IDENTIFIER_KINDS:
        raise DomainError("validation_error", f"kind must be one of: {', '.join(IDENTIFIER_KINDS)}.",
                          field="identifier.kind")
    if not value:
        raise DomainError("validation_error", "Give the identifier's value.", field="identifier.value")
    if kind in CARD_KINDS:
        code = card_code_normalize(value, field="identifier.value", max_length=128)
        card = _card_by(CARD_FIELDS[CARD_KINDS[kind]], code)
        if card is None:
            raise DomainError("card_not_found", f"No card {value}.", field="identifier.value", status=404)
        if card.state == Card.State.BLOCKED:
            raise DomainError("card_blocked", f"Card {card.number} is blocked; identify the member another way "
                              "(e.g. by phone).", field="identifier.value")
        if card.state == Card.State.REPLACED:
            raise DomainError("card_blocked", f"Card {card.number} was replaced; use the new card.",
                              field="identifier.value")
        customer = card.customer
        if customer is None:
            raise DomainError("customer_not_found", f"Card {card.number} is not issued to any member.",
                              field="identifier.value", status=404)
        if customer.state == Customer.State.MERGED:
            customer = Customer.objects.filter(pk=customer.merged_into_id).first() or customer
        _check_customer(customer)
        return Identified(customer_id=customer.pk, card=card, kind=kind)
    if kind == "qr":
        key = qr_hash(value)
        customer_id = cache.get(QR_PREFIX + key)
        if customer_id is None:
            used = cache.get(QR_USED_PREFIX + key)
            if used and till_id is not None and number is not None and used[:2] == [till_id, number]:
                customer_id = used[2]  # the same cheque recalculated with the same code
            else:
                raise DomainError("customer_not_found", "The QR code is unknown, expired or already used.",
                                  field="identifier.value", status=404)
        state = Customer.objects.filter(pk=customer_id).values_list("state", flat=True).first()
        if state is None:
            raise DomainError("customer_not_found", "The QR code's member no longer exists.",
                              field="identifier.value", status=404)
        _check_customer(Customer(pk=customer_id, state=state))
        return Identified(customer_id=int(customer_id), kind=kind, qr_key=key)
    if kind == "coupon":
        from offers.models import Coupon

        row = Coupon.objects.filter(code=value).values_list("customer_id", "customer__state",
                                                            "customer__merged_into_id").first()
        if row is None:
            raise DomainError("coupon_invalid", "No coupon has this code.", field="identifier.value",
                              extra={"reason": "not_found"})
        if row[0] is None:
            raise DomainError("customer_not_found", "This coupon belongs to no member.", field="identifier.value",
                              status=404)
        customer_id, state = row[0], row[1]
        if state == Customer.State.MERGED:
            customer_id = row[2]
            state = Customer.objects.filter(pk=customer_id).values_list("state", flat=True).first()
        _check_customer(Customer(pk=customer_id, state=state))
        return Identified(customer_id=customer_id, kind=kind)
    try:
        found = identifier_resolve(kind=kind, value=value, strict=True)
    except DomainError as exc:
        raise DomainError("validation_error", exc.message, field="identifier.value") from exc
    if found is None or found.customer is None:
        raise DomainError("customer_not_found", f"No member is known by this {kind}.", field="identifier.value",
                          status=404)
    _check_customer(found.customer)
    return Identified(customer_id=found.customer.pk, kind=kind)


_CARD_COLUMNS = tuple(f.attname for f in Card._meta.concrete_fields)
_CARD_SQL = (f"SELECT {', '.join('c.' + c for c in _CARD_COLUMNS)}, cu.id, cu.state, cu.merged_into_id, cat.id, cat.code "
             "FROM crm_card c LEFT JOIN crm_customer cu ON cu.id = c.customer_id "
             "LEFT JOIN crm_cardcategory cat ON cat.id = c.category_id WHERE c.{column} = %s ORDER BY c.id LIMIT 1")


def _card_by(column: str, code: str) -> Card | None:
    """The card with its member (id, state, merged into) and category (code), as
    select_related("customer", "category") would give them: raw SQL, as every identified cheque
    starts here and compiling the ORM query cost more CPU than running it."""
    if column not in ("number", "barcode", "track"):
        raise ValueError(column)
    with prepared_cursor() as cursor:
        cursor.execute(_CARD_SQL.format(column=column), [code])
        row = cursor.fetchone()
    if row is None:
        return None
    n = len(_CARD_COLUMNS)
    card = instance_from(Card, dict(zip(_CARD_COLUMNS, row[:n])))
    customer_id, state, merged_into_id, category_id, category_code = row[n:]
    cache_related(card, "customer", None if customer_id is None else instance_from(
        Customer, {"id": customer_id, "state": state, "merged_into_id": merged_into_id}))
    cache_related(card, "category", None if category_id is None else instance_from(
        CardCategory, {"id": category_id, "code": category_code}))
    return card


def _check_customer(customer: Customer) -> None:
    if customer.state == Customer.State.BLOCKED:
        raise DomainError("customer_blocked", "This member is blocked.", field="identifier.value")
    if customer.state == Customer.State.MERGED:
        raise DomainError("customer_not_found", "This member was merged away.", field="identifier.value", status=404)


@dataclass
class AccountRow:
    id: int
    currency: str
    is_default: bool
    activated: Decimal
    pending: Decimal
    held: Decimal

    @property
    def available(self) -> Decimal:
        return self.activated - self.held

    def as_json(self) -> dict[str, Any]:
        return {"account_id": self.id, "currency": self.currency, "activated": str(self.activated),
                "pending": str(self.pending), "held": str(self.held), "available": str(self.available)}


@dataclass
class Member:
    id: int
    name: str
    state: str
    facts: CustomerFacts
    statuses: list[dict[str, str]]
    accounts: list[AccountRow]
    usage: dict[int, UsageFacts] = field(default_factory=dict)

    @property
    def spend_accounts(self) -> list[AccountRow]:
        """Accounts in the default currency: what the till's points are booked on."""
        return [a for a in self.accounts if a.is_default]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "state": self.state, "statuses": self.statuses}


_MEMBER_SQL = """
SELECT c.id, c.first_name, c.last_name, c.state, c.birth_date, c.registered_at,
  (SELECT json_agg(json_build_array(sy.code, st.code, st.name, cs.since, sy.name) ORDER BY sy.name)
     FROM statuses_customerstatus cs JOIN statuses_statussystem sy ON sy.id = cs.system_id AND sy.is_active
     JOIN statuses_status st ON st.id = cs.status_id WHERE cs.customer_id = c.id),
  (SELECT array_agg(m.segment_id) FROM segments_membership m WHERE m.customer_id = c.id),
  (SELECT json_agg(json_build_array(a.code, v.value_bool, v.value_int, v.value_dec::text, v.value_text,
                                    v.value_date, v.value_list))
     FROM attributes_value v JOIN attributes_attribute a ON a.id = v.attribute_id WHERE v.customer_id = c.id),
  (SELECT json_agg(json_build_array(g.code, i.data) ORDER BY g.code, i.position)
     FROM attributes_groupitem i JOIN attributes_questiongroup g ON g.id = i.group_id WHERE i.customer_id = c.id),
  (SELECT json_agg(json_build_array(pc.product_set_id, p.sku))
     FROM offers_personalproductchoice pc JOIN offers_personalproductset ps ON ps.id = pc.product_set_id AND ps.is_active
     JOIN catalogue_product p ON p.id = pc.product_id
     WHERE pc.customer_id = c.id AND (pc.valid_until IS NULL OR pc.valid_until >= %(today)s)),
  {usage},
  {history},
  (SELECT json_agg(json_build_array(a.id, cu.code, cu.is_default, a.activated_balance::text,
                                    a.pending_balance::text, a.held_balance::text) ORDER BY a.id)
     FROM crm_account a JOIN crm_currency cu ON cu.id = a.currency_id
     WHERE a.customer_id = c.id{card})
FROM crm_customer c WHERE c.id = %(customer)s
"""
_MEMBER_USAGE = """(SELECT json_agg(json_build_array(oc.offer_id, oc.customer_id, oc.uses, oc.benefit::text))
     FROM offers_offercounter oc WHERE oc.offer_id = ANY(%(limited)s::bigint[]) AND oc.customer_id IN (0, c.id))"""
_MEMBER_HISTORY = """(SELECT json_agg(DISTINCT json_build_array(g.code, (pu.purchased_at AT TIME ZONE %(tz)s)::date)::text)
     FROM crm_purchase pu JOIN crm_purchaseline l ON l.purchase_id = pu.id
     JOIN catalogue_productgroupmembership gm ON gm.product_id = l.product_id
     JOIN catalogue_productgroup g ON g.id = gm.group_id AND g.code = ANY(%(history)s::text[])
     WHERE pu.customer_id = c.id AND pu.state = 'confirmed' AND pu.kind = 'sale')"""
_MEMBER_CARD = """
       AND a.id IN (SELECT ca.account_id FROM crm_cardaccount ca WHERE ca.card_id = %(card)s)"""


@functools.cache
def _member_sql(usage: bool, history: bool, card: bool) -> str:
    """The member read without the parts this cheque does not need. Each variant is its own
    prepared statement: with the parts switched by parameters instead (`cardinality(history) > 0`),
    PostgreSQL's plan cache saw a generic plan far costlier than the custom ones (which fold the
    switches away) and planned the statement on every execution (1.7 ms, ten times its run)."""
    return _MEMBER_SQL.format(usage=_MEMBER_USAGE if usage else "NULL::json",
                              history=_MEMBER_HISTORY if history else "NULL::json",
                              card=_MEMBER_CARD if card else "")


def _attribute_value(row: list) -> Any:
    _, b, i, d, t, day, items = row
    if b is not None:
        return b
    if i is not None:
        return i
    if d is not None:
        return Decimal(d)
    if t is not None:
        return t
    if day is not None:
        return dt.date.fromisoformat(day)
    return items


def member_load(*, customer_id: int, card_id: int | None = None, tz: str = "UTC", today: dt.date | None = None,
                limited_offer_ids: frozenset[int] = frozenset(), history_groups: frozenset[str] = frozenset()) -> Member:
    """Everything calculate needs about a member, in one query. With `card_id`, only the accounts
    that card reaches; otherwise all the member's accounts."""
    import zoneinfo

    zone = zoneinfo.ZoneInfo(tz)
    today = today or dt.datetime.now(zone).date()
    with prepared_cursor() as cursor:
        cursor.execute(_member_sql(bool(limited_offer_ids), bool(history_groups), card_id is not None),
                       {"customer": customer_id, "card": card_id, "tz": tz, "today": today,
                        "limited": list(limited_offer_ids), "history": list(history_groups)})
        row = cursor.fetchone()
    if row is None:
        raise DomainError("customer_not_found", f"No member {customer_id}.", field="identifier.value", status=404)
    (pk, first, last, state, birth, registered, statuses, segments, values, items, personal, usage, history,
     accounts) = row
    statuses = _json(statuses)
    groups: dict[str, list] = {}
    for code, data in _json(items):
        groups.setdefault(code, []).append(data)
    products: dict[int, set[str]] = {}
    for set_id, sku in _json(personal):
        products.setdefault(set_id, set()).add(sku)
    uses: dict[int, int] = {}
    spent: dict[int, Decimal] = {}
    for offer_id, member, count, benefit in _json(usage):
        if member == 0:
            spent[offer_id] = Decimal(benefit)
        else:
            uses[offer_id] = count
    purchases: dict[str, set[dt.date]] = {}
    for item in _json(history):
        code, day = json.loads(item) if isinstance(item, str) else item
        purchases.setdefault(code, set()).add(dt.date.fromisoformat(day))
    since = [dt.datetime.fromisoformat(s[3]) for s in statuses if s[3]]
    facts = CustomerFacts(
        id=pk,
        birth_date=birth,
        registered_on=registered.astimezone(zone).date() if registered else None,
        last_status_change_on=max(since).astimezone(zone).date() if since else None,
        statuses={s[0]: s[1] for s in statuses},
        segment_ids=frozenset(segments or ()),
        attributes={v[0]: _attribute_value(v) for v in _json(values)},
        groups={code: tuple(data) for code, data in groups.items()},
        personal_products={k: frozenset(v) for k, v in products.items()},
        group_purchases={k: tuple(sorted(v)) for k, v in purchases.items()},
    )
    return Member(
        id=pk, name=" ".join(p for p in (first, last) if p), state=state, facts=facts,
        statuses=[{"system": s[0], "system_name": s[4], "status": s[1], "name": s[2]} for s in statuses],
        accounts=[AccountRow(id=a[0], currency=a[1], is_default=a[2], activated=Decimal(a[3]), pending=Decimal(a[4]),
                             held=Decimal(a[5])) for a in _json(accounts)],
        usage={offer_id: UsageFacts(customer_uses=uses.get(offer_id, 0), budget_spent=spent.get(offer_id, ZERO))
               for offer_id in set(uses) | set(spent)},
    )


def _json(value: Any) -> list:
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else value


def card_facts(card: Card | None) -> CardFacts | None:
    if card is None:
        return None
    category = card.category.code if card.category_id is not None else None
    return CardFacts(number=card.number, category=category, kind=card.kind)


def accounts_balances(*, account_ids: list[int]) -> list[AccountRow]:
    """Current balances of the given accounts (one query)."""
    if not account_ids:
        return []
    with prepared_cursor() as cursor:
        cursor.execute("SELECT a.id, cu.code, cu.is_default, a.activated_balance, a.pending_balance, a.held_balance "
                       "FROM crm_account a JOIN crm_currency cu ON cu.id = a.currency_id WHERE a.id = ANY(%s) "
                       "ORDER BY a.id", [account_ids])
        return [AccountRow(*r) for r in cursor.fetchall()]


def purchase_by_number(*, till_id: int, number: str, kind: str = Purchase.Kind.SALE) -> Purchase | None:
    return Purchase.objects.filter(till_id=till_id, kind=kind, number=number).first()


def pos_balance(*, till, identifier: dict) -> dict[str, Any]:
    """What a till shows when a member is identified: who, the card, the balances, the most
    payable by points now (the available points of the default currency; 0 on a card that is not
    activated). Two queries: the identifier, then the member with accounts."""
    identified = member_identify(kind=identifier.get("kind", ""), value=identifier.get("value", ""))
    member = member_load(customer_id=identified.customer_id,
                         card_id=identified.card.pk if identified.card is not None else None,
                         tz=till.store.timezone or "UTC")
    card = identified.card
    spendable = card is None or card.state == Card.State.ACTIVE
    available = max((a.available for a in member.spend_accounts), default=ZERO) if spendable else ZERO
    return {
        "member": member.as_json(),
        "card": None if card is None else {"number": card.number, "state": card.state},
        "balance": [a.as_json() for a in member.accounts],
        "bonus_payment_available": str(max(available, ZERO).quantize(Decimal("0.01"))),
    }
