"""Condition kinds: what a leaf of a segment definition may say, and the SQL it becomes.

Each kind reads its parameters (`parse`, typed, errors by path), names the codes it refers to
(`references`, checked in one query per kind of reference) and compiles to one boolean SQL
expression over the customer row `c` with `%s` parameters (`compile`). Values are never put into
the SQL text. Leaves over other tables are `EXISTS (...)` / `NOT EXISTS (...)` subqueries, which
PostgreSQL turns into (anti-)semi-joins under AND, and into hashed subplans under OR.

| kind | parameters | holds when |
|---|---|---|
| profile | field, op, value | a customer field (name, gender, state, birth date, age, birthday, registration) compares |
| notifier | channel (phone, email, push), verified? | the customer has such a contact (verified or not, if given) |
| card | states?, kinds?, categories?, groups? | the customer has a card with all of the given properties |
| balance | op, value, currency?, balance? (activated, pending) | the points balance compares (no account = 0) |
| purchases | aggregate, op, value, window_days? / date_from?, date_to?, product_groups?, stores? | the purchase aggregate compares |
| rfm | cells? r? f? m? | the customer's RFM cell / scores are among those given |
| segment | segment | the customer is a current member of another segment |
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from segments.definition import (
    Errors,
    Invalid,
    Leaf,
    LeafReader,
    as_bool,
    as_choice,
    as_date,
    as_decimal,
    as_int,
    as_list,
    as_str,
)


@dataclass(frozen=True)
class Pred:
    """A boolean SQL expression over the customer row `c`. `total` says it is never NULL (an
    EXISTS, a comparison of NOT NULL columns), so NOT can be applied without COALESCE and stays
    an anti-join."""

    sql: str
    params: tuple[Any, ...] = ()
    total: bool = True


@dataclass(frozen=True)
class Context:
    """What a compilation depends on besides the definition: the moment it describes."""

    as_of: dt.datetime

    @property
    def today(self) -> dt.date:
        return self.as_of.astimezone(dt.timezone.utc).date()


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.timezone.utc)


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


NUMBER_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "between")
DATE_OPS = ("eq", "lt", "lte", "gt", "gte", "between")
MOMENT_OPS = (*DATE_OPS, "within_last_days", "more_than_days_ago")
_CMP = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_NEGATED = {"eq": "<>", "ne": "=", "lt": ">=", "lte": ">", "gt": "<=", "gte": "<"}


def _pair(convert: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, Any]]:
    def read(raw: Any) -> tuple[Any, Any]:
        if not isinstance(raw, list) or len(raw) != 2:
            raise Invalid("between needs [low, high]")
        low, high = convert(raw[0]), convert(raw[1])
        if low > high:
            raise Invalid("between needs low <= high")
        return low, high
    return read


def read_compared(reader: LeafReader, ops: Sequence[str], convert: Callable[[Any], Any]) -> tuple[str | None, Any]:
    """`op` and `value` for a comparison; `between` takes [low, high]."""
    op = reader.get("op", lambda raw: as_choice(raw, ops), required=True)
    if op is None:
        reader.get("value", lambda raw: raw)
        return None, None
    if op in ("within_last_days", "more_than_days_ago"):
        return op, reader.get("value", lambda raw: as_int(raw, low=0, high=36500), required=True)
    if op == "between":
        return op, reader.get("value", _pair(convert), required=True)
    return op, reader.get("value", convert, required=True)


def number_sql(expr: str, op: str, value: Any) -> tuple[str, tuple[Any, ...]]:
    if op == "between":
        return f"{expr} BETWEEN %s AND %s", (value[0], value[1])
    return f"{expr} {_CMP[op]} %s", (value,)


def zero_satisfies(op: str, value: Any) -> bool:
    """Whether 0 (no rows: no purchases, no account) meets `op value`."""
    zero = Decimal(0)
    if op == "between":
        return value[0] <= zero <= value[1]
    return {"eq": zero == value, "ne": zero != value, "lt": zero < value, "lte": zero <= value,
            "gt": zero > value, "gte": zero >= value}[op]


def moment_sql(expr: str, op: str, value: Any, cx: Context) -> tuple[str, tuple[Any, ...]]:
    """A timestamp compared with days (UTC): `lte 2025-01-31` includes the whole 31st."""
    if op == "within_last_days":
        return f"{expr} >= %s", (cx.as_of - dt.timedelta(days=value),)
    if op == "more_than_days_ago":
        return f"{expr} < %s", (cx.as_of - dt.timedelta(days=value),)
    if op == "between":
        return f"{expr} >= %s AND {expr} < %s", (day_start(value[0]), day_start(value[1] + dt.timedelta(days=1)))
    start, end = day_start(value), day_start(value + dt.timedelta(days=1))
    return {"eq": (f"{expr} >= %s AND {expr} < %s", (start, end)), "lt": (f"{expr} < %s", (start,)),
            "lte": (f"{expr} < %s", (end,)), "gt": (f"{expr} >= %s", (end,)), "gte": (f"{expr} >= %s", (start,))}[op]


def date_sql(expr: str, op: str, value: Any) -> tuple[str, tuple[Any, ...]]:
    if op == "between":
        return f"{expr} BETWEEN %s AND %s", (value[0], value[1])
    return f"{expr} {_CMP[op]} %s", (value,)


def codes(raw: Any) -> list[str]:
    return as_list(raw, lambda v: as_str(v, max_length=64))


class Kind:
    """One kind of leaf. Subclasses set `kind`, `title`, `example` and implement parse/compile."""

    kind: ClassVar[str]
    title: ClassVar[str]
    example: ClassVar[dict[str, Any]]
    # For the admin's builder: [{"name", "type": choice|text|number|date|bool|list|value, "choices"?}]
    fields: ClassVar[list[dict[str, Any]]] = []

    def parse(self, reader: LeafReader) -> dict[str, Any]:
        raise NotImplementedError

    def references(self, params: dict[str, Any]) -> list[tuple[str, Any, str]]:
        """(reference kind, code or id, parameter name) for every code the leaf names."""
        return []

    def compile(self, params: dict[str, Any], cx: Context) -> Pred:
        raise NotImplementedError

    def check(self, params: dict[str, Any], cx: Context) -> Any:
        """Checks that need the database beyond codes existing (raise DomainError naming a field)."""


# --- profile ------------------------------------------------------------------------------

TEXT_OPS = ("eq", "ne", "in", "contains", "starts_with", "is_set", "is_not_set")
CHOICE_OPS = ("eq", "ne", "in", "not_in")
STORE_OPS = ("in", "not_in", "is_set", "is_not_set")
BIRTHDAY_OPS = ("today", "within_next_days", "in_months")
AGE_OPS = NUMBER_OPS

# field -> (type, column, choices)
PROFILE_FIELDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "first_name": ("text", "c.first_name", ()),
    "last_name": ("text", "c.last_name", ()),
    "middle_name": ("text", "c.middle_name", ()),
    "external_uid": ("text", "c.external_uid", ()),
    "timezone": ("text", "c.timezone", ()),
    "gender": ("choice", "c.gender", ("male", "female", "unknown")),
    "state": ("choice", "c.state", ("anonymous", "registered", "blocked")),
    "registration_channel": ("choice", "c.registration_channel", ("till", "app", "web", "call_center", "import", "admin")),
    "registration_store": ("store", "c.registration_store_id", ()),
    "birth_date": ("date", "c.birth_date", ()),
    "age": ("age", "c.birth_date", ()),
    "birthday": ("birthday", "c.birth_date", ()),
    "registered_at": ("moment", "c.registered_at", ()),
    "created_at": ("moment", "c.created_at", ()),
}
PROFILE_OPS = {"text": TEXT_OPS, "choice": CHOICE_OPS, "store": STORE_OPS, "date": (*DATE_OPS, "is_set", "is_not_set"),
               "age": AGE_OPS, "birthday": BIRTHDAY_OPS, "moment": (*MOMENT_OPS, "is_set", "is_not_set")}


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def birthday_days(today: dt.date, days: int) -> list[str]:
    """'MM-DD' of every day from today to today + days; 29 February is celebrated on the 28th in
    years without one."""
    out: list[str] = []
    for n in range(min(days, 366) + 1):
        day = today + dt.timedelta(days=n)
        out.append(day.strftime("%m-%d"))
        if day.month == 2 and day.day == 28 and not _leap(day.year):
            out.append("02-29")
    return sorted(set(out))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


class ProfileKind(Kind):
    kind = "profile"
    title = "Profile field"
    example = {"kind": "profile", "field": "gender", "op": "eq", "value": "female"}
    fields = [{"name": "field", "type": "choice", "choices": list(PROFILE_FIELDS)},
              {"name": "op", "type": "choice", "by": "field",
               "choices": {name: list(PROFILE_OPS[spec[0]]) for name, spec in PROFILE_FIELDS.items()}},
              {"name": "value", "type": "value"}]

    def parse(self, reader: LeafReader) -> dict[str, Any]:
        name = reader.get("field", lambda raw: as_choice(raw, tuple(PROFILE_FIELDS)), required=True)
        if name is None:
            reader.get("op", lambda raw: raw)
            reader.get("value", lambda raw: raw)
            return {}
        ftype, _, choices = PROFILE_FIELDS[name]
        ops = PROFILE_OPS[ftype]
        op = reader.get("op", lambda raw: as_choice(raw, ops), required=True)
        value: Any = None
        if op in ("is_set", "is_not_set", "today"):
            reader.get("value", lambda raw: raw)  # ignored
        elif op is None:
            reader.get("value", lambda raw: raw)
        elif ftype == "text":
            value = reader.get("value", (lambda raw: as_list(raw, as_str)) if op == "in" else as_str, required=True)
        elif ftype == "choice":
            one = lambda raw: as_choice(raw, choices)  # noqa: E731
            value = reader.get("value", (lambda raw: as_list(raw, one)) if op in ("in", "not_in") else one, required=True)
        elif ftype == "store":
            value = reader.get("value", codes, required=True)
        elif ftype == "date":
            value = reader.get("value", _pair(as_date) if op == "between" else as_date, required=True)
        elif ftype == "moment":
            if op in ("within_last_days", "more_than_days_ago"):
                value = reader.get("value", lambda raw: as_int(raw, low=0, high=36500), required=True)
            else:
                value = reader.get("value", _pair(as_date) if op == "between" else as_date, required=True)
        elif ftype == "age":
            age = lambda raw: as_int(raw, low=0, high=150)  # noqa: E731
            value = reader.get("value", _pair(age) if op == "between" else age, required=True)
        elif ftype == "birthday":
            if op == "within_next_days":
                value = reader.get("value", lambda raw: as_int(raw, low=0, high=366), required=True)
            else:
                value = reader.get("value", lambda raw: as_list(raw, lambda m: as_int(m, low=1, high=12)), required=True)
        return {"field": name, "op": op, "value": value}

    def references(self, params: dict[str, Any]) -> list[tuple[str, Any, str]]:
        if params.get("field") == "registration_store" and isinstance(params.get("value"), list):
            return [("store", code, "value") for code in params["value"]]
        return []

    def compile(self, params: dict[str, Any], cx: Context) -> Pred:
        ftype, column, _ = PROFILE_FIELDS[params["field"]]
        op, value = params["op"], params["value"]
        if op == "is_set":
            return Pred(f"{column} IS NOT NULL" + (f" AND {column} <> ''" if ftype == "text" else ""))
        if op == "is_not_set":
            return Pred(f"({column} IS NULL" + (f" OR {column} = ''" if ftype == "text" else "") + ")")
        if ftype == "text":
            if op == "in":
                return Pred(f"{column} = ANY(%s)", (value,), total=False)
            if op == "contains":
                return Pred(f"{column} ILIKE %s", (f"%{_like_escape(value)}%",), total=False)
            if op == "starts_with":
                return Pred(f"{column} LIKE %s", (f"{_like_escape(value)}%",), total=False)
            return Pred(f"{column} {_CMP[op]} %s", (value,), total=False)
        if ftype == "choice":
            if params["field"] == "gender":
                value = [("" if v == "unknown" else v) for v in value] if isinstance(value, list) else (
                    "" if value == "unknown" else value)
            if op == "in":
                return Pred(f"{column} = ANY(%s)", (value,))
            if op == "not_in":
                return Pred(f"{column} <> ALL(%s)", (value,))
            return Pred(f"{column} {_CMP[op]} %s", (value,))
        if ftype == "store":
            inner = f"{column} IN (SELECT s.id FROM catalogue_store s WHERE s.code = ANY(%s))"
            if op == "in":
                return Pred(inner, (value,), total=False)
            return Pred(f"NOT COALESCE({inner}, false)", (value,))  # not_in: also those with no store
        if ftype == "date":
            sql, args = date_sql(column, op, value)
            return Pred(sql, args, total=False)
        if ftype == "moment":
            sql, args = moment_sql(column, op, value, cx)
            return Pred(sql, args, total=False)
        if ftype == "age":
            return self._age(column, op, value, cx.today)
        if op == "today":
            return Pred(f"to_char({column}, 'MM-DD') = ANY(%s)", (birthday_days(cx.today, 0),), total=False)
        if op == "within_next_days":
            return Pred(f"to_char({column}, 'MM-DD') = ANY(%s)", (birthday_days(cx.today, value),), total=False)
        return Pred(f"extract(month FROM {column})::int = ANY(%s)", (value,), total=False)

    @staticmethod
    def _age(column: str, op: str, value: Any, today: dt.date) -> Pred:
        """Age in completed years today: age >= N <=> born on or before today - N years; age <= N
        <=> born after today - (N + 1) years."""
        if op == "ne":
            inner = ProfileKind._age(column, "eq", value, today)
            return Pred(f"({column} IS NOT NULL AND NOT ({inner.sql}))", inner.params, total=False)
        if op == "between":
            low, high = value
        else:
            low, high = {"eq": (value, value), "lt": (None, value - 1), "lte": (None, value), "gt": (value + 1, None),
                         "gte": (value, None)}[op]
        if high is not None and high < 0:
            return Pred("false")
        parts: list[str] = []
        args: list[Any] = []
        if low is not None:
            parts.append(f"{column} <= %s")
            args.append(years_before(today, low))
        if high is not None:
            parts.append(f"{column} > %s")
            args.append(years_before(today, high + 1))
        return Pred(" AND ".join(parts), tuple(args), total=False)


# --- contacts, cards, balance -----------------------------------------------------------------

class NotifierKind(Kind):
    kind = "notifier"
    title = "Has a contact (phone, email, push)"
    example = {"kind": "notifier", "channel": "phone", "verified": True}
    fields = [{"name": "channel", "type": "choice", "choices": ["phone", "email", "push"]},
              {"name": "verified", "type": "bool"}]

    def parse(self, reader: LeafReader) -> dict[str, Any]:
        return {"channel": reader.get("channel", lambda raw: as_choice(raw, ("phone", "email", "push")), required=True),
                "verified": reader.get("verified", as_bool)}

    def compile(self, params: dict[str, Any], cx: Context) -> Pred:
        sql = "EXISTS (SELECT 1 FROM crm_notifier n WHERE n.customer_id = c.id AND n.kind = %s"
        args: tuple[Any, ...] = (params["channel"],)
        if params["verified"] is not None:
            sql += " AND n.verified = %s"
            args += (params["verified"],)
        return Pred(sql + ")", args)


CARD_STATES = ("not_activated", "active", "blocked", "replaced")


class CardKind(Kind):
    kind = "card"
    title = "Has a card"
    example = {"kind": "card", "states": ["active"], "categories": ["gold"]}
    fields = [{"name": "states", "type": "list", "choices": list(CARD_STATES)},
              {"name": "kinds", "type": "list", "choices": ["physical", "virtual"]},
              {"name": "categories", "type": "list"}, {"name": "groups", "type": "list"}]

    def parse(self, reader: LeafReader) -> dict[str, Any]:
        return {
            "states": reader.get("states", lambda raw: as_list(raw, lambda v: as_choice(v, CARD_STATES))),
            "kinds": reader.get("kinds", lambda raw: as_list(raw, lambda v: as_choice(v, ("physical", "virtual")))),
            "categories": reader.get("categories", codes),
            "groups": reader.get("groups", codes),
        }

    def references(self, params: dict[str, Any]) -> list[tuple[str, Any, str]]:
        return ([("card_category", c, "categories") for c in params.get("categories") or ()]
                + [("card_group", g, "groups") for g in params.get("groups") or ()])

    def compile(self, params: dict[str, Any], cx: Context) -> Pred:
        sql = "EXISTS (SELECT 1 FROM crm_card k WHERE k.customer_id = c.id"
        args: list[Any] = []
        if params["states"]:
            sql += " AND k.state = ANY(%s)"
            args.append(params["states"])
        if params["kinds"]:
            sql += " AND k.kind = ANY(%s)"
            args.append(params["kinds"])
        if params["categories"]:
            sql += " AND k.category_id IN (SELECT cc.id FROM crm_cardcategory cc WHERE cc.code = ANY(%s))"
            args.append(params["categories"])
        if params["groups"]:
            sql += " AND k.group_id IN (SELECT cg.id FROM crm_cardgroup cg WHERE cg.code = ANY(%s))"
            args.append(params["groups"])
        return Pred(sql + ")", tuple(args))


class BalanceKind(Kind):
    kind = "balance"
    title = "Points balance"
    example = {"kind": "balance", "op": "gte", "value": "500"}
    fields = [{"name": "op", "type": "choice", "choices": list(NUMBER_OPS)}, {"name": "value", "type": "value"},
              {"name": "currency", "type": "text"},
              {"name": "balance", "type": "choice", "choices": ["activated", "pending"]}]

    def parse(self, reader: LeafReader) -> dict[str, Any]:
        op, value = read_compared(reader, NUMBER_OPS, as_decimal)
        return {"op": op, "value": value, "currency": reader.get("currency", lambda raw: as_str(raw, max_length=16)),
                "balance": reader.get("balance", lambda raw: as_choice(raw, ("activated", "pending")), default="activated")}

    def references(self, params: dict[str, Any]) -> list[tuple[str, Any, str]]:
        return [("currency", params["currency"], "currency")] if params.get("currency") else []

    def compile(self, params: dict[str, Any], cx: Context) -> Pred:
        column = f"a.{params['balance']}_balance"
        currency = ("a.currency_id IN (SELECT cu.id FROM crm_currency cu WHERE cu.code = %s)" if params["currency"]
                    else "a.currency_id IN (SELECT cu.id FROM crm_currency cu WHERE cu.is_default)")
        cur_args: tuple[Any, ...] = (params["currency"],) if params["currency"] else ()
        compared, args = number_sql(column, params["op"], params["value"])
        if zero_satisfies(params["op"], params["value"]):  # no account counts as 0
            return Pred(f"NOT EXISTS (SELECT 1 FROM crm_account a WHERE a.customer_id = c.id AND {currency} "
                        f"AND NOT ({compared}))", cur_args + args)
        return Pred(f"EXISTS (SELECT 1 FROM crm_account a WHERE a.customer_id = c.id AND {currency} AND {compared})",
                    cur_args + args)


# --- RFM and other segments -----------------------------------------------------------------

class RfmKind(Kind):
    kind = "rfm"
    title = "RFM cell or scores"
    example = {"kind": "rfm", "cells": ["champions", "loyal"]}
    fields = [{"name": "cells", "type": "list", "choices": ["champions", "loyal", "potential_loyalists", "new",
                                                            "promising", "need_attention", "about_to_sleep", "at_risk",
                                                            "cant_lose", "hibernating", "lost"]},
              {"name": "r", "type": "list"}, {"name": "f", "type": "list"}, {"name": "m", "type": "list"}]

    def parse(self, reader: LeafReader) -> dict[str, Any]:
        from segments.rfm import CELL_NAMES

        score = lambda raw: as_list(raw, lambda v: as_int(v, low=1, high=5))  # noqa: E731
        params = {"cells": reader.get("cells", lambda raw: as_list(raw, lambda v: as_choice(v, tuple(CELL_NAMES)))),
                  "r": reader.get("r", score), "f": reader.get("f", score), "m": reader.get("m", score)}
        if not reader.failed and not any(params.values()):
            reader.error("cells", "Give cells, or scores r, f or m.")
        return params

    def compile(self, params: dict[str, Any], cx: Context) -> Pred:
        sql = "EXISTS (SELECT 1 FROM segments_rfm r WHERE r.customer_id = c.id"
        args: list[Any] = []
        if params["cells"]:
            sql += " AND r.cell = ANY(%s)"
            args.append(params["cells"])
        for score in ("r", "f", "m"):
            if params[score]:
                sql += f" AND r.{score} = ANY(%s)"
                args.append(params[score])
        return Pred(sql + ")", tuple(args))


class SegmentKind(Kind):
    kind = "segment"
    title = "Member of another segment"
    example = {"kind": "segment", "segment": 1}
    fields = [{"name": "segment", "type": "number"}]

    def parse(self, reader: LeafReader) -> dict[str, Any]:
        return {"segment": reader.get("segment", lambda raw: as_int(raw, low=1), required=True)}

    def references(self, params: dict[str, Any]) -> list[tuple[str, Any, str]]:
        return [("segment", params["segment"], "segment")]

    def compile(self, params: dict[str, Any], cx: Context) -> Pred:
        return Pred("EXISTS (SELECT 1 FROM segments_membership sm WHERE sm.segment_id = %s AND sm.customer_id = c.id)",
                    (params["segment"],))


KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> Kind:
    KINDS[kind.kind] = kind
    return kind


def _register_core() -> None:
    from segments import attribute_conditions
    from segments.purchases import PurchasesKind

    for kind in (ProfileKind(), NotifierKind(), CardKind(), BalanceKind(), PurchasesKind(), RfmKind(), SegmentKind(),
                 *attribute_conditions.KINDS):
        register_kind(kind)
    REFERENCES.update(attribute_conditions.REFERENCES)


# reference kind -> (table, column); codes are looked up with one query per reference kind
REFERENCES: dict[str, tuple[str, str, str]] = {
    "store": ("catalogue_store", "code", "store"),
    "product_group": ("catalogue_productgroup", "code", "product group"),
    "card_category": ("crm_cardcategory", "code", "card category"),
    "card_group": ("crm_cardgroup", "code", "card group"),
    "currency": ("crm_currency", "code", "currency"),
    "segment": ("segments_segment", "id", "segment"),
}


def check_references(items: list[tuple[Leaf, Kind]], errors: Errors) -> None:
    """Codes exist (one query per kind of code); then each leaf's own database checks."""
    from django.db import connection
    from django.utils import timezone

    from core.errors import DomainError

    wanted: dict[str, list[tuple[Any, str]]] = defaultdict(list)
    for leaf, kind in items:
        for ref, code, name in kind.references(leaf.params):
            wanted[ref].append((code, f"{leaf.path}.{name}"))
    for ref, uses in wanted.items():
        table, column, label = REFERENCES[ref]
        values = sorted({code for code, _ in uses}, key=str)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {column}, count(*) FROM {table} WHERE {column} = ANY(%s) GROUP BY 1", [values])
            found = dict(cursor.fetchall())
        for code, path in uses:
            if code not in found:
                errors.add(path, f"No {label} '{code}'.")
            elif found[code] > 1 and ref == "store":  # store codes are unique per partner only
                errors.add(path, f"The {label} code '{code}' is used by several partners; rename one of the stores.")
    if errors.by_path:
        return
    cx = Context(as_of=timezone.now())
    for leaf, kind in items:
        try:
            kind.check(leaf.params, cx)
        except DomainError as exc:
            errors.add(f"{leaf.path}.{exc.field}" if exc.field else leaf.path, exc.message)


_register_core()
