"""A definition becomes one SQL query: `SELECT c.id FROM crm_customer c WHERE <base> AND <tree>`.

AND and OR join their children's predicates; NOT negates its child (wrapped in COALESCE(.., false)
when the child may be NULL, so NOT always means "every other customer"). Merged customers (who
live on in the customer they were merged into) are never members.

The SQL has `%s` placeholders and a parameter tuple: values never enter the text.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from segments.conditions import KINDS, Context, Pred
from segments.definition import Group, Leaf, Node, Not, definition_parse

BASE = "c.state <> 'merged'"


@dataclass(frozen=True)
class Compiled:
    where: str
    params: tuple[Any, ...]
    as_of: dt.datetime

    def ids_sql(self) -> tuple[str, tuple[Any, ...]]:
        return f"SELECT c.id FROM crm_customer c WHERE {BASE} AND {self.where}", self.params

    def count_sql(self) -> tuple[str, tuple[Any, ...]]:
        return f"SELECT count(*) FROM crm_customer c WHERE {BASE} AND {self.where}", self.params

    def first_sql(self, limit: int) -> tuple[str, tuple[Any, ...]]:
        return (f"SELECT c.id FROM crm_customer c WHERE {BASE} AND {self.where} ORDER BY c.id LIMIT %s",
                (*self.params, limit))


def _compile(node: Node, cx: Context) -> Pred:
    if isinstance(node, Leaf):
        return KINDS[node.kind].compile(node.params, cx)
    if isinstance(node, Not):
        inner = _compile(node.child, cx)
        if inner.total:
            return Pred(f"NOT ({inner.sql})", inner.params)
        return Pred(f"NOT COALESCE(({inner.sql}), false)", inner.params)
    assert isinstance(node, Group)
    parts = [_compile(child, cx) for child in node.children]
    if len(parts) == 1:
        return parts[0]
    joiner = " AND " if node.op == "and" else " OR "
    params: tuple[Any, ...] = ()
    for part in parts:
        params += part.params
    return Pred("(" + joiner.join(f"({p.sql})" for p in parts) + ")", params, total=all(p.total for p in parts))


def compile_tree(tree: Node, *, as_of: dt.datetime | None = None) -> Compiled:
    cx = Context(as_of=as_of or timezone.now())
    pred = _compile(tree, cx)
    return Compiled(where=f"({pred.sql})", params=pred.params, as_of=cx.as_of)


def definition_compile(definition: Any, *, as_of: dt.datetime | None = None) -> Compiled:
    """Parse (shape and types; no database) and compile. References are checked by
    definition_validate, which saving and previewing call first."""
    return compile_tree(definition_parse(definition), as_of=as_of)
