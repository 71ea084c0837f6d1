"""The entry conditions of a status: a small typed list, and the text language marketers type.

Stored form (`Status.conditions`, JSON), all of which must hold::

    [{"type": "counter", "counter": "spend_365", "period": "current", "op": "gte", "value": "30000"},
     {"type": "attribute", "attribute": "city", "op": "eq", "value": "moscow"}]

Text form (the admin edits this; one condition per line, or joined by "and" or ";")::

    spend_365 >= 30000                      counter value in its current period
    counter visits_month (previous) >= 4    ... in the previous period (calendar counters)
    attribute city = moscow                 a customer attribute (operators of attributes.filters)
    attribute shoe_size in [41, 42]
    attribute pets contains [dog, cat]
    attribute email is set

Counters: a customer with no value has 0. Operators: >=, >, <=, <, =, !=. Attributes: =, !=, >, >=,
<, <=, in [..], not in [..], contains [..], is set, is not set; values are checked against the
attribute's type when the status is saved. An empty list means everyone qualifies (entry level).

This module is pure (no database): `conditions_parse` / `conditions_format` / `conditions_validate`.
Whether the named counters and attributes exist is checked by statuses.services.systems.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypedDict

COUNTER_OPS: dict[str, str] = {
    ">=": "gte", ">": "gt", "<=": "lte", "<": "lt", "=": "eq", "==": "eq", "!=": "ne", "<>": "ne",
}
ATTRIBUTE_SYMBOL_OPS = COUNTER_OPS
ATTRIBUTE_WORD_OPS = ("in", "not_in", "contains", "is_set", "is_not_set")
ATTRIBUTE_OPS = frozenset(ATTRIBUTE_SYMBOL_OPS.values()) | frozenset(ATTRIBUTE_WORD_OPS)
SYMBOL = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<", "eq": "=", "ne": "!="}
PERIODS = ("current", "previous")
MAX_CONDITIONS = 20

_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
_TOKEN = re.compile(
    r"""(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>>=|<=|!=|<>|==|=|>|<)
      | (?P<punct>[\[\](),;])
      | (?P<word>[^\s\[\](),;<>=!"']+)
    )""",
    re.VERBOSE,
)


class CounterCondition(TypedDict):
    type: Literal["counter"]
    counter: str
    period: str
    op: str
    value: str


class AttributeCondition(TypedDict, total=False):
    type: Literal["attribute"]
    attribute: str
    op: str
    value: Any


Condition = CounterCondition | AttributeCondition


class ConditionError(ValueError):
    """A condition the marketer typed cannot be understood; the message says which and why."""


# --- text -> list ---------------------------------------------------------------------------------

def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.replace("\r", "")
    while pos < len(text):
        if text[pos] == "\n":
            out.append(("punct", ";"))
            pos += 1
            continue
        if text[pos] in " \t":
            pos += 1
            continue
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ConditionError(f"Cannot read '{text[pos:pos + 20]}'.")
        kind = match.lastgroup or "word"
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
        pos = match.end()
    return out


def _split_terms(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Split on ';', newlines and the word 'and' outside brackets."""
    terms: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for kind, value in tokens:
        if kind == "punct" and value == "[":
            depth += 1
        elif kind == "punct" and value == "]":
            depth = max(0, depth - 1)
        if depth == 0 and ((kind == "punct" and value == ";") or (kind == "word" and value.lower() == "and")):
            terms.append([])
            continue
        terms[-1].append((kind, value))
    return [t for t in terms if t]


def _number(raw: str, where: str) -> str:
    try:
        value = Decimal(raw)
    except (InvalidOperation, ValueError):
        raise ConditionError(f"{where}: '{raw}' is not a number.") from None
    if not value.is_finite():
        raise ConditionError(f"{where}: '{raw}' is not a number.")
    return format(value, "f")


class _Reader:
    def __init__(self, tokens: list[tuple[str, str]], where: str) -> None:
        self.tokens, self.pos, self.where = tokens, 0, where

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, what: str) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ConditionError(f"{self.where}: {what} is missing.")
        self.pos += 1
        return token

    def word(self, what: str) -> str:
        kind, value = self.take(what)
        if kind != "word":
            raise ConditionError(f"{self.where}: expected {what}, found '{value}'.")
        return value

    def peek_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1].lower() in words

    def end(self) -> None:
        token = self.peek()
        if token is not None:
            raise ConditionError(f"{self.where}: unexpected '{token[1]}' at the end.")


def _code(raw: str, where: str, what: str) -> str:
    if not _SLUG.match(raw):
        raise ConditionError(f"{where}: '{raw}' is not a {what} code (letters, digits, '-' and '_').")
    return raw


def _value(reader: _Reader) -> Any:
    kind, value = reader.take("the value")
    if kind == "punct" and value == "[":
        items: list[str] = []
        while True:
            kind, value = reader.take("']'")
            if kind == "punct" and value == "]":
                break
            if kind == "punct" and value == ",":
                continue
            if kind not in ("word", "string"):
                raise ConditionError(f"{reader.where}: unexpected '{value}' in the list.")
            items.append(value)
        if not items:
            raise ConditionError(f"{reader.where}: the list is empty.")
        return items
    if kind not in ("word", "string"):
        raise ConditionError(f"{reader.where}: expected a value, found '{value}'.")
    return value


def _parse_attribute(reader: _Reader) -> AttributeCondition:
    code = _code(reader.word("the attribute code"), reader.where, "attribute")
    if reader.peek_word("is"):
        reader.take("is")
        negated = reader.peek_word("not")
        if negated:
            reader.take("not")
        if not reader.peek_word("set"):
            raise ConditionError(f"{reader.where}: write 'is set' or 'is not set'.")
        reader.take("set")
        reader.end()
        return {"type": "attribute", "attribute": code, "op": "is_not_set" if negated else "is_set"}
    kind, raw_op = reader.take("the operator")
    if kind == "op":
        op = ATTRIBUTE_SYMBOL_OPS[raw_op]
    elif kind == "word" and raw_op.lower() == "not" and reader.peek_word("in"):
        reader.take("in")
        op = "not_in"
    elif kind == "word" and raw_op.lower() in ("in", "contains"):
        op = raw_op.lower()
    else:
        raise ConditionError(f"{reader.where}: unknown operator '{raw_op}' (use >=, >, <=, <, =, !=, in, not in, "
                             "contains, is set, is not set).")
    value = _value(reader)
    reader.end()
    if op in ("in", "not_in") and not isinstance(value, list):
        value = [value]
    if op not in ("in", "not_in", "contains") and isinstance(value, list):
        raise ConditionError(f"{reader.where}: a list goes with 'in', 'not in' or 'contains'.")
    return {"type": "attribute", "attribute": code, "op": op, "value": value}


def _parse_counter(reader: _Reader) -> CounterCondition:
    code = _code(reader.word("the counter code"), reader.where, "counter")
    period = "current"
    token = reader.peek()
    if token == ("punct", "("):
        reader.take("(")
        period = reader.word("'current' or 'previous'").lower()
        if reader.take("')'") != ("punct", ")"):
            raise ConditionError(f"{reader.where}: ')' is missing after the period.")
    elif reader.peek_word(*PERIODS):
        period = reader.word("the period").lower()
    if period not in PERIODS:
        raise ConditionError(f"{reader.where}: the period is 'current' or 'previous', not '{period}'.")
    kind, raw_op = reader.take("the operator (>=, >, <=, <, =, !=)")
    if kind != "op":
        raise ConditionError(f"{reader.where}: expected an operator (>=, >, <=, <, =, !=), found '{raw_op}'.")
    kind, raw = reader.take("the number")
    if kind not in ("word", "string"):
        raise ConditionError(f"{reader.where}: expected a number, found '{raw}'.")
    value = _number(raw, reader.where)
    reader.end()
    return {"type": "counter", "counter": code, "period": period, "op": COUNTER_OPS[raw_op], "value": value}


def conditions_parse(text: str) -> list[Condition]:
    """The text language -> the stored list. Raises ConditionError naming the condition at fault."""
    out: list[Condition] = []
    for index, tokens in enumerate(_split_terms(_tokens(text or "")), start=1):
        reader = _Reader(tokens, f"condition {index}")
        if reader.peek_word("attribute"):
            reader.take("attribute")
            out.append(_parse_attribute(reader))
            continue
        if reader.peek_word("counter"):
            reader.take("counter")
        out.append(_parse_counter(reader))
    if len(out) > MAX_CONDITIONS:
        raise ConditionError(f"At most {MAX_CONDITIONS} conditions per status.")
    return out


# --- list -> text ---------------------------------------------------------------------------------

def _quote(value: Any) -> str:
    text = str(value)
    if text and re.fullmatch(r"[^\s\[\](),;<>=!\"']+", text) and text.lower() not in ("and", "is", "not", "in"):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def condition_format(condition: Condition) -> str:
    if condition["type"] == "counter":
        period = " (previous)" if condition.get("period") == "previous" else ""
        return f"{condition['counter']}{period} {SYMBOL[condition['op']]} {condition['value']}"
    op = condition["op"]
    head = f"attribute {condition['attribute']}"
    if op in ("is_set", "is_not_set"):
        return f"{head} {'is set' if op == 'is_set' else 'is not set'}"
    value = condition.get("value")
    shown = "[" + ", ".join(_quote(v) for v in value) + "]" if isinstance(value, list) else _quote(value)
    word = {"in": "in", "not_in": "not in", "contains": "contains"}.get(op) or SYMBOL[op]
    return f"{head} {word} {shown}"


def conditions_format(conditions: list[Condition]) -> str:
    """The stored list -> the text language, one condition per line (round-trips with parse)."""
    return "\n".join(condition_format(c) for c in conditions or [])


# --- shape check of the stored form -----------------------------------------------------------------

def conditions_validate(raw: Any) -> list[Condition]:
    """Text or a list of dicts -> the normalized stored list, or ConditionError."""
    if isinstance(raw, str):
        return conditions_parse(raw)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConditionError("Conditions are a list.")
    if len(raw) > MAX_CONDITIONS:
        raise ConditionError(f"At most {MAX_CONDITIONS} conditions per status.")
    out: list[Condition] = []
    for index, item in enumerate(raw, start=1):
        where = f"condition {index}"
        if not isinstance(item, dict):
            raise ConditionError(f"{where}: expected an object.")
        kind = item.get("type")
        if kind == "counter":
            code = _code(str(item.get("counter") or ""), where, "counter")
            period = item.get("period") or "current"
            if period not in PERIODS:
                raise ConditionError(f"{where}: period is 'current' or 'previous'.")
            op = item.get("op")
            if op not in SYMBOL:
                raise ConditionError(f"{where}: op is one of {', '.join(SYMBOL)}.")
            out.append({"type": "counter", "counter": code, "period": period, "op": op,
                        "value": _number(str(item.get("value", "")), where)})
        elif kind == "attribute":
            code = _code(str(item.get("attribute") or ""), where, "attribute")
            op = item.get("op")
            if op not in ATTRIBUTE_OPS:
                raise ConditionError(f"{where}: op is one of {', '.join(sorted(ATTRIBUTE_OPS))}.")
            cond: AttributeCondition = {"type": "attribute", "attribute": code, "op": op}
            if op not in ("is_set", "is_not_set"):
                if "value" not in item or item["value"] is None or item["value"] == "":
                    raise ConditionError(f"{where}: a value is needed.")
                cond["value"] = item["value"]
            out.append(cond)
        else:
            raise ConditionError(f"{where}: type is 'counter' or 'attribute'.")
    return out


def counter_codes(conditions: list[Condition]) -> set[str]:
    return {c["counter"] for c in conditions if c["type"] == "counter"}


def attribute_codes(conditions: list[Condition]) -> set[str]:
    return {c["attribute"] for c in conditions if c["type"] == "attribute"}
