"""A segment definition: a JSON tree of conditions, validated into typed nodes.

    {"op": "and", "children": [
        {"kind": "notifier", "channel": "phone", "verified": true},
        {"op": "not", "children": [{"kind": "rfm", "cells": ["lost"]}]},
        {"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "1000", "window_days": 365}
    ]}

Groups are `{"op": "and" | "or", "children": [...]}` and `{"op": "not", "children": [one]}`; a
leaf is `{"kind": ..., <its parameters>}` (see segments.conditions for each kind). Every error names
its place in the tree (`definition.children.2.value`), all errors are reported at once, and an
unknown key is an error (a typo must not silently widen a segment).

Validation has two steps: `definition_parse` (shape and types, no database) and
`definition_check_references` (codes of product groups, stores, segments ... exist; one query per
kind of reference).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from core.errors import DomainError

MAX_DEPTH = 8
MAX_LEAVES = 60


class DefinitionError(DomainError):
    """Every problem in a definition, by path: `errors = {"definition.children.0.op": [...]}`."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        first = next(iter(errors))
        count = sum(len(v) for v in errors.values())
        message = f"The definition has {count} error{'s' if count > 1 else ''}: {first}: {errors[first][0]}"
        super().__init__("definition_invalid", message, field=first, extra={"errors": errors})
        self.errors = errors


class Errors:
    """Collects errors by path while the whole tree is checked."""

    def __init__(self) -> None:
        self.by_path: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.by_path.setdefault(path, []).append(message)

    def raise_if_any(self) -> None:
        if self.by_path:
            raise DefinitionError(self.by_path)


class Invalid(Exception):
    """A parameter's value is wrong; caught by the parser, which records it under the path."""


# --- typed nodes ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Leaf:
    kind: str
    params: dict[str, Any]
    path: str


@dataclass(frozen=True)
class Group:
    op: str  # "and" | "or"
    children: tuple["Node", ...]
    path: str


@dataclass(frozen=True)
class Not:
    child: "Node"
    path: str


Node = Leaf | Group | Not


def leaves(node: Node) -> Iterable[Leaf]:
    if isinstance(node, Leaf):
        yield node
    elif isinstance(node, Group):
        for child in node.children:
            yield from leaves(child)
    else:
        yield from leaves(node.child)


# --- parameter types ------------------------------------------------------------------------

def as_int(raw: Any, *, low: int | None = None, high: int | None = None) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise Invalid("must be a whole number")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise Invalid(f"'{raw}' is not a whole number") from None
    if low is not None and value < low:
        raise Invalid(f"must be at least {low}")
    if high is not None and value > high:
        raise Invalid(f"must be at most {high}")
    return value


def as_decimal(raw: Any) -> Decimal:
    if isinstance(raw, float):
        raw = repr(raw)  # a JSON number such as 1000.5 arrives as a float: take its shortest text
    if isinstance(raw, bool) or not isinstance(raw, (int, str, Decimal)):
        raise Invalid("must be a number (give money as a string, e.g. \"1000.00\")")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise Invalid(f"'{raw}' is not a number") from None
    if not value.is_finite():
        raise Invalid("must be a finite number")
    return value


def as_date(raw: Any) -> dt.date:
    if not isinstance(raw, str):
        raise Invalid("must be a date as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise Invalid(f"'{raw}' is not a date as YYYY-MM-DD") from None


def as_bool(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise Invalid("must be true or false")
    return raw


def as_str(raw: Any, *, max_length: int = 200) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid("must be a non-empty text")
    if len(raw) > max_length:
        raise Invalid(f"must be at most {max_length} characters")
    return raw.strip()


def as_choice(raw: Any, choices: Sequence[str]) -> str:
    if not isinstance(raw, str) or raw not in choices:
        raise Invalid(f"must be one of: {', '.join(choices)}")
    return raw


def as_list(raw: Any, item, *, max_items: int = 500) -> list[Any]:
    if not isinstance(raw, list) or not raw:
        raise Invalid("must be a non-empty list")
    if len(raw) > max_items:
        raise Invalid(f"must have at most {max_items} items")
    out = []
    for index, value in enumerate(raw):
        try:
            out.append(item(value))
        except Invalid as exc:
            raise Invalid(f"item {index}: {exc}") from None
    return list(dict.fromkeys(out))  # keep order, drop repeats


@dataclass
class LeafReader:
    """Reads one leaf's parameters, recording errors under the leaf's path."""

    raw: dict[str, Any]
    path: str
    errors: Errors
    seen: set[str] = field(default_factory=lambda: {"kind"})
    failed: bool = False

    def error(self, name: str, message: str) -> None:
        self.failed = True
        self.errors.add(f"{self.path}.{name}" if name else self.path, message)

    def get(self, name: str, convert, *, required: bool = False, default: Any = None) -> Any:
        self.seen.add(name)
        if name not in self.raw or self.raw[name] is None:
            if required:
                self.error(name, "This field is required.")
            return default
        try:
            return convert(self.raw[name])
        except Invalid as exc:
            self.error(name, f"{str(exc)[0].upper()}{str(exc)[1:]}.")
            return default

    def finish(self) -> None:
        for name in self.raw:
            if name not in self.seen:
                self.error(name, f"Unknown parameter for a '{self.raw['kind']}' condition.")


# --- the tree -----------------------------------------------------------------------------

def definition_parse(raw: Any, *, path: str = "definition") -> Node:
    """Check the shape and the types of every node; raise DefinitionError with all problems."""
    from segments.conditions import KINDS

    errors = Errors()
    count = [0]

    def node(value: Any, at: str, depth: int) -> Node | None:
        if not isinstance(value, dict):
            errors.add(at, "A condition must be an object: a group {\"op\", \"children\"} or a leaf {\"kind\", ...}.")
            return None
        if depth > MAX_DEPTH:
            errors.add(at, f"Conditions nest at most {MAX_DEPTH} levels deep.")
            return None
        if "op" in value and "kind" not in value:
            return group(value, at, depth)
        if "kind" not in value:
            errors.add(at, "Give either \"op\" (and, or, not) with \"children\", or a condition \"kind\".")
            return None
        kind = value["kind"]
        if kind not in KINDS:
            errors.add(f"{at}.kind", f"Unknown condition kind '{kind}'; known: {', '.join(sorted(KINDS))}.")
            return None
        count[0] += 1
        reader = LeafReader(value, at, errors)
        params = KINDS[kind].parse(reader)
        reader.finish()
        return None if reader.failed else Leaf(kind=kind, params=params, path=at)

    def group(value: dict, at: str, depth: int) -> Node | None:
        op = value["op"]
        unknown = [k for k in value if k not in ("op", "children")]
        for key in unknown:
            errors.add(f"{at}.{key}", "Unknown key in a group; a group has only \"op\" and \"children\".")
        if op not in ("and", "or", "not"):
            errors.add(f"{at}.op", "Must be one of: and, or, not.")
            return None
        children = value.get("children")
        if not isinstance(children, list) or not children:
            errors.add(f"{at}.children", "Give a non-empty list of conditions.")
            return None
        if op == "not" and len(children) != 1:
            errors.add(f"{at}.children", "\"not\" takes exactly one condition (wrap several in an \"and\" or \"or\").")
            return None
        parsed = [node(child, f"{at}.children.{i}", depth + 1) for i, child in enumerate(children)]
        if any(p is None for p in parsed) or unknown:
            return None
        if op == "not":
            return Not(child=parsed[0], path=at)  # type: ignore[arg-type]
        return Group(op=op, children=tuple(parsed), path=at)  # type: ignore[arg-type]

    tree = node(raw, path, 1)
    if count[0] > MAX_LEAVES:
        errors.add(path, f"A definition has at most {MAX_LEAVES} conditions.")
    errors.raise_if_any()
    assert tree is not None
    return tree


def definition_check_references(tree: Node) -> None:
    """Every code a leaf names exists (product groups, stores, card categories, segments ...).
    One query per kind of reference, whatever the number of leaves."""
    from segments.conditions import KINDS, check_references

    errors = Errors()
    check_references([(leaf, KINDS[leaf.kind]) for leaf in leaves(tree)], errors)
    errors.raise_if_any()


def definition_validate(raw: Any, *, path: str = "definition") -> Node:
    tree = definition_parse(raw, path=path)
    definition_check_references(tree)
    return tree
