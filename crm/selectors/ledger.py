"""Reads of the ledger: balances, the statement (keyset-paginated), and finding the account behind
any identifier, set-based (one query per identifier type for a whole batch)."""
from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Q, QuerySet

from core.errors import DomainError, NotFound
from crm.identifiers import email_normalize, phone_normalize
from crm.models import Account, Currency, LedgerEntry, ProgramSettings

# --- balances -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountBalance:
    account_id: int
    customer_id: int
    currency: str
    activated: Decimal
    pending: Decimal
    held: Decimal
    available: Decimal  # activated minus held: what may be spent now
    expiring_soon: Decimal  # active points expiring within ProgramSettings.expiring_soon_days
    next_expiry: dt.datetime | None
    next_activation: dt.datetime | None


_BALANCES_SQL = """
SELECT a.id, a.customer_id, c.code, a.activated_balance, a.pending_balance, a.held_balance,
       coalesce((SELECT sum(l.remaining) FROM crm_lot l WHERE l.account_id = a.id AND l.state = 'active'
                 AND l.expire_at <= now() + make_interval(days => %s)), 0),
       (SELECT min(l.expire_at) FROM crm_lot l WHERE l.account_id = a.id AND l.state = 'active'),
       (SELECT min(l.activate_at) FROM crm_lot l WHERE l.account_id = a.id AND l.state = 'pending')
FROM crm_account a JOIN crm_currency c ON c.id = a.currency_id
WHERE {where}
ORDER BY a.id
"""


def account_balances(*, customer_id: int | None = None, card_id: int | None = None,
                     account_ids: Iterable[int] | None = None) -> list[AccountBalance]:
    """The balances of a customer's accounts, of a card's accounts, or of the given accounts (one query)."""
    if customer_id is not None:
        where, param = "a.customer_id = %s", customer_id
    elif card_id is not None:
        where, param = "a.id IN (SELECT account_id FROM crm_cardaccount WHERE card_id = %s)", card_id
    elif account_ids is not None:
        where, param = "a.id = ANY(%s)", list(account_ids)
    else:
        raise ValueError("account_balances needs customer_id, card_id or account_ids")
    days = ProgramSettings.load().expiring_soon_days
    with connection.cursor() as cursor:
        cursor.execute(_BALANCES_SQL.format(where=where), [days, param])
        return [
            AccountBalance(account_id=r[0], customer_id=r[1], currency=r[2], activated=r[3], pending=r[4], held=r[5],
                           available=r[3] - r[5], expiring_soon=r[6], next_expiry=r[7], next_activation=r[8])
            for r in cursor.fetchall()
        ]


# --- statement ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatementPage:
    entries: list[LedgerEntry]
    next_cursor: str | None  # pass back as `cursor` for the next (older) page; None at the end


def _cursor_encode(entry: LedgerEntry) -> str:
    return base64.urlsafe_b64encode(f"{entry.created_at.isoformat()}|{entry.pk}".encode()).decode()


def _cursor_decode(cursor: str) -> tuple[dt.datetime, int]:
    try:
        stamp, pk = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return dt.datetime.fromisoformat(stamp), int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise DomainError("invalid_cursor", "cursor: not a cursor this API returned.", field="cursor") from None


def account_statement(*, account_id: int, cursor: str | None = None, limit: int = 50,
                      kinds: Iterable[str] | None = None) -> StatementPage:
    """Entries of an account, newest first, `limit` at a time.

    Keyset pagination on (created_at, id), which follows ledger_account_time_idx: page N costs what
    page 1 costs, however long the account's history, and a new entry never shifts a page.
    """
    if not 1 <= limit <= 500:
        raise DomainError("invalid_limit", "limit: 1 to 500.", field="limit")
    qs: QuerySet[LedgerEntry] = LedgerEntry.objects.filter(account_id=account_id).select_related("lot")
    if kinds:
        qs = qs.filter(kind__in=list(kinds))
    if cursor:
        stamp, pk = _cursor_decode(cursor)
        qs = qs.filter(Q(created_at__lt=stamp) | Q(created_at=stamp, id__lt=pk))
    rows = list(qs.order_by("-created_at", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return StatementPage(entries=rows, next_cursor=_cursor_encode(rows[-1]) if more and rows else None)


# --- identifiers -> accounts --------------------------------------------------------------------

IDENTIFIER_TYPES = ("phone", "email", "card", "barcode", "external_uid")
# Accepted spellings in CSV files and forms (the original's files say "card number").
IDENTIFIER_ALIASES = {"card_number": "card", "card number": "card", "cardnumber": "card", "number": "card",
                      "externaluid": "external_uid", "external uid": "external_uid", "uid": "external_uid",
                      "e-mail": "email", "mobile": "phone", "phone_number": "phone"}


def identifier_type_clean(value: str) -> str:
    kind = (value or "").strip().lower()
    kind = IDENTIFIER_ALIASES.get(kind, kind)
    if kind not in IDENTIFIER_TYPES:
        raise DomainError("invalid_identifier_type",
                          f"identifier_type: '{value}' is not one of {', '.join(IDENTIFIER_TYPES)}.",
                          field="identifier_type")
    return kind


def identifier_clean(kind: str, value: str, *, program: ProgramSettings | None = None) -> str:
    """The identifier as stored: phone in E.164 (the program's region rules), email in lower case,
    others as given (trimmed). Errors name the `identifier` field."""
    value = (value or "").strip()
    if not value:
        raise DomainError("invalid_identifier", "identifier: required.", field="identifier")
    if kind == "phone":
        return phone_normalize(value, program=program, field="identifier")
    if kind == "email":
        return email_normalize(value, field="identifier")
    return value


def currency_resolve(code: str | None = None) -> Currency:
    """The currency by code, or the program's default one."""
    currency = Currency.objects.filter(code=code).first() if code else Currency.objects.filter(is_default=True).first()
    if currency is None:
        raise NotFound("currency_not_found", f"No currency '{code}'." if code else "No default currency is set.",
                       field="currency")
    return currency


@dataclass(frozen=True, slots=True)
class Resolved:
    account_id: int | None
    error: str | None = None


# Each query returns (identifier, customer_id, customer_state, merged_into_id, preferred, account_id):
# `preferred` ranks candidates (a verified phone beats an unverified one); account_id is the
# customer's (or for cards, the card's own) account in the currency, NULL when it has none.
_RESOLVE_SQL = {
    "phone": """
        SELECT n.value, c.id, c.state, c.merged_into_id, n.verified,
               (SELECT min(a.id) FROM crm_account a WHERE a.customer_id = c.id AND a.currency_id = %(currency)s)
        FROM crm_notifier n JOIN crm_customer c ON c.id = n.customer_id
        WHERE n.kind = 'phone' AND n.value = ANY(%(values)s)""",
    "email": """
        SELECT n.value, c.id, c.state, c.merged_into_id, n.verified,
               (SELECT min(a.id) FROM crm_account a WHERE a.customer_id = c.id AND a.currency_id = %(currency)s)
        FROM crm_notifier n JOIN crm_customer c ON c.id = n.customer_id
        WHERE n.kind = 'email' AND n.value = ANY(%(values)s)""",
    "external_uid": """
        SELECT c.external_uid, c.id, c.state, c.merged_into_id, true,
               (SELECT min(a.id) FROM crm_account a WHERE a.customer_id = c.id AND a.currency_id = %(currency)s)
        FROM crm_customer c WHERE c.external_uid = ANY(%(values)s)""",
    "card": """
        SELECT k.number, c.id, c.state, c.merged_into_id, true,
               coalesce((SELECT min(ca.account_id) FROM crm_cardaccount ca JOIN crm_account a ON a.id = ca.account_id
                         WHERE ca.card_id = k.id AND a.currency_id = %(currency)s),
                        (SELECT min(a.id) FROM crm_account a WHERE a.customer_id = k.customer_id
                         AND a.currency_id = %(currency)s))
        FROM crm_card k LEFT JOIN crm_customer c ON c.id = k.customer_id WHERE k.number = ANY(%(values)s)""",
    "barcode": """
        SELECT k.barcode, c.id, c.state, c.merged_into_id, true,
               coalesce((SELECT min(ca.account_id) FROM crm_cardaccount ca JOIN crm_account a ON a.id = ca.account_id
                         WHERE ca.card_id = k.id AND a.currency_id = %(currency)s),
                        (SELECT min(a.id) FROM crm_account a WHERE a.customer_id = k.customer_id
                         AND a.currency_id = %(currency)s))
        FROM crm_card k LEFT JOIN crm_customer c ON c.id = k.customer_id WHERE k.barcode = ANY(%(values)s)""",
}


def accounts_resolve(*, identifiers: Iterable[tuple[str, str]], currency_id: int) -> dict[tuple[str, str], Resolved]:
    """Map cleaned (identifier_type, identifier) pairs to the account in `currency_id`: one query per
    type present, whatever the number of pairs. Errors say why a pair has no account: unknown,
    several customers share it, the customer was merged, or has no account in that currency.

    (A set-based stand-in until the customers area offers its own finder for batches.)
    """
    by_kind: dict[str, set[str]] = defaultdict(set)
    for kind, value in identifiers:
        by_kind[kind].add(value)
    out: dict[tuple[str, str], Resolved] = {}
    for kind, values in by_kind.items():
        candidates: dict[str, list[tuple]] = defaultdict(list)
        with connection.cursor() as cursor:
            cursor.execute(_RESOLVE_SQL[kind], {"values": list(values), "currency": currency_id})
            for value, *rest in cursor.fetchall():
                candidates[value].append(tuple(rest))
        for value in values:
            out[(kind, value)] = _pick(kind, value, candidates.get(value, []))
    return out


def _pick(kind: str, value: str, rows: list[tuple]) -> Resolved:
    label = kind.replace("_", " ")
    if not rows:
        return Resolved(None, f"no customer with {label} '{value}'")
    preferred = [r for r in rows if r[3]] or rows  # verified notifiers first
    customers = {r[0] for r in preferred}
    if len(customers) > 1:
        return Resolved(None, f"{label} '{value}' belongs to several customers ({', '.join(map(str, sorted(customers)))})")
    customer_id, state, merged_into, _verified, account_id = preferred[0]
    if customer_id is not None and state == "merged":
        return Resolved(None, f"customer #{customer_id} was merged into #{merged_into}")
    if account_id is None:
        return Resolved(None, f"{label} '{value}' has no account in this currency")
    return Resolved(account_id)


def account_find(*, identifier_type: str, identifier: str, currency: str | None = None) -> Account:
    """The account behind one identifier, or a clear error naming the field."""
    kind = identifier_type_clean(identifier_type)
    value = identifier_clean(kind, identifier)
    found = accounts_resolve(identifiers=[(kind, value)], currency_id=currency_resolve(currency).pk)[(kind, value)]
    if found.account_id is None:
        raise NotFound("account_not_found", f"identifier: {found.error}.", field="identifier")
    return Account.objects.get(pk=found.account_id)
