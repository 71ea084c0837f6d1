"""Finding customers by any identifier, and reading a customer with everything an agent needs.

There is no separate Identifier table: each identifier already has a unique (or indexed) home,
and a lookup goes straight there:

    phone, email   -> Notifier (kind, value)        notifier_lookup_idx / notifier_verified_unique
    card_number    -> Card.number                    unique
    barcode        -> Card.barcode                   unique
    track          -> Card.track                     unique
    external_uid   -> Customer.external_uid          unique
    any            -> all of the above, in the order card codes (one query), external UID, phone, email

A phone or email identifies the customer who verified it; when nobody did, the one customer who
has it unverified (several such customers make the value ambiguous: no match). Merged customers
are followed to the customer they were merged into.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, Q

from core.errors import DomainError
from crm.identifiers import card_code_normalize, email_normalize, phone_normalize
from crm.models import Account, Card, Customer, Notifier

KINDS = ("any", "phone", "email", "card_number", "barcode", "track", "external_uid")
CARD_FIELDS = {"card_number": "number", "barcode": "barcode", "track": "track"}
MAX_MERGE_HOPS = 10


@dataclass(frozen=True)
class Identified:
    """What an identifier led to: the customer (None for an unbound card) and the card, if any."""

    kind: str
    customer: Customer | None
    card: Card | None = None


def _follow(customer: Customer | None) -> Customer | None:
    hops = 0
    while customer is not None and customer.state == Customer.State.MERGED and hops < MAX_MERGE_HOPS:
        customer, hops = Customer.objects.filter(pk=customer.merged_into_id).first(), hops + 1
    return customer


def _normalized(kind: str, value: str, strict: bool) -> str | None:
    """The value as stored, or None when it cannot be one (DomainError instead when strict)."""
    try:
        if kind == "phone":
            return phone_normalize(value, field="value")
        if kind == "email":
            return email_normalize(value, field="value")
        if kind in CARD_FIELDS:
            return card_code_normalize(value, field="value", max_length=128)
        text = (value or "").strip()
        if not text:
            raise DomainError("value_required", "Give a value to search for.", field="value")
        return text
    except DomainError:
        if strict:
            raise
        return None


def _by_card(value: str, fields: tuple[str, ...]) -> Identified | None:
    condition = Q()
    for field in fields:
        condition |= Q(**{field: value})
    cards = list(Card.objects.select_related("customer").filter(condition)[:3])
    for field in fields:  # the order of `fields` says which match wins
        for card in cards:
            if getattr(card, field) == value:
                kind = next(k for k, f in CARD_FIELDS.items() if f == field)
                return Identified(kind=kind, customer=_follow(card.customer), card=card)
    return None


def _by_notifier(kind: str, value: str) -> Identified | None:
    rows = list(
        Notifier.objects.select_related("customer")
        .filter(kind=kind, value=value)
        .order_by("-verified", "id")[:2]
    )
    if not rows:
        return None
    if rows[0].verified or len(rows) == 1:
        return Identified(kind=kind, customer=_follow(rows[0].customer))
    return None  # held unverified by several customers: ambiguous


def identifier_resolve(*, kind: str, value: str, strict: bool = True) -> Identified | None:
    """Resolve one identifier. With `strict`, a malformed value for an explicit kind raises its
    DomainError (e.g. phone_invalid); `any` never raises for a malformed value, it tries the rest."""
    if kind not in KINDS:
        raise DomainError("identifier_kind_invalid", f"Kind must be one of: {', '.join(KINDS)}.", field="kind")
    if kind == "any":
        return _resolve_any(value)
    normalized = _normalized(kind, value, strict)
    if normalized is None:
        return None
    if kind in CARD_FIELDS:
        return _by_card(normalized, (CARD_FIELDS[kind],))
    if kind == "external_uid":
        customer = Customer.objects.filter(external_uid=normalized).first()
        return Identified(kind=kind, customer=_follow(customer)) if customer else None
    return _by_notifier(kind, normalized)


def _resolve_any(value: str) -> Identified | None:
    text = (value or "").strip()
    if not text:
        return None
    code = _normalized("card_number", text, strict=False)
    if code is not None:
        found = _by_card(code, ("number", "barcode", "track"))
        if found:
            return found
    customer = Customer.objects.filter(external_uid=text).first() if len(text) <= 64 else None
    if customer is not None:
        return Identified(kind="external_uid", customer=_follow(customer))
    if "@" in text:
        email = _normalized("email", text, strict=False)
        return _by_notifier("email", email) if email else None
    phone = _normalized("phone", text, strict=False)
    return _by_notifier("phone", phone) if phone else None


def customer_find(*, kind: str, value: str) -> Customer | None:
    """The one customer an identifier names, or None (unknown, unbound card, ambiguous)."""
    found = identifier_resolve(kind=kind, value=value, strict=kind != "any")
    return found.customer if found else None


def _search_ids(query: str, kind: str, limit: int) -> list[int]:
    """Every customer an agent may mean: all holders of a phone or email, verified or not."""
    text = (query or "").strip()
    ids: list[int] = []

    def add(values) -> None:
        for pk in values:
            if pk not in ids:
                ids.append(pk)

    found = identifier_resolve(kind=kind, value=text, strict=kind != "any") if kind != "any" else _resolve_any(text)
    if found is not None and found.customer is not None:
        add([found.customer.pk])
    contact_kinds = [k for k in ("phone", "email") if kind in (k, "any")]
    for contact in contact_kinds:
        normalized = _normalized(contact, text, strict=False)
        if normalized:
            add(
                Notifier.objects.filter(kind=contact, value=normalized)
                .exclude(customer__state=Customer.State.MERGED)
                .values_list("customer_id", flat=True)[:limit]
            )
    if kind == "any" and text.startswith("#") and text[1:].isdigit():
        add(Customer.objects.filter(pk=int(text[1:])).values_list("pk", flat=True))
    if kind == "any" and not ids and text and all(part.isalpha() or part == "-" for part in text.replace(" ", "")):
        # Names: exact last name (optionally followed by the first name), through customer_name_idx.
        parts = text.split()
        last, first = parts[0], " ".join(parts[1:])
        condition = Q(last_name__in={last, last.title()})
        if first:
            condition &= Q(first_name__in={first, first.title()})
        add(Customer.objects.filter(condition).exclude(state=Customer.State.MERGED).order_by("last_name", "first_name", "id").values_list("pk", flat=True)[:limit])
    return ids[:limit]


def customer_search(*, query: str, kind: str = "any", limit: int = 20) -> list[Customer]:
    """Customers for an agent's search box, best match first, with contacts and cards prefetched."""
    ids = _search_ids(query, kind, limit)
    if not ids:
        return []
    rows = {
        c.pk: c
        for c in Customer.objects.filter(pk__in=ids).prefetch_related(
            Prefetch("notifiers", queryset=Notifier.objects.order_by("kind", "-is_primary", "id")),
            Prefetch("cards", queryset=Card.objects.order_by("number")),
        )
    }
    return [rows[pk] for pk in ids if pk in rows]


def customer_search_ids(*, query: str, kind: str = "any", limit: int = 100) -> list[int]:
    """Only the ids (the admin filters its own queryset with them)."""
    return _search_ids(query, kind, limit)


def customer_detail(*, customer_id: int) -> Customer | None:
    """A customer with contacts, cards (category, group, successor) and accounts: five queries."""
    return (
        Customer.objects.filter(pk=customer_id)
        .select_related("registration_store", "merged_into")
        .prefetch_related(
            Prefetch("notifiers", queryset=Notifier.objects.order_by("kind", "-is_primary", "id")),
            Prefetch("cards", queryset=Card.objects.select_related("category", "group", "replaced_by").order_by("number")),
            Prefetch("accounts", queryset=Account.objects.select_related("currency").order_by("id")),
        )
        .first()
    )


def customer_primary_contact(customer: Customer, kind: str) -> Notifier | None:
    """From prefetched notifiers (no query when customer_search/customer_detail loaded it)."""
    for notifier in customer.notifiers.all():
        if notifier.kind == kind and notifier.is_primary:
            return notifier
    return None
