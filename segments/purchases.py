"""The `purchases` condition: an aggregate of a customer's cheques compared with a value.

    {"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "1000", "window_days": 365}
    {"kind": "purchases", "aggregate": "count", "op": "gte", "value": 1, "product_groups": ["dairy"],
     "window_days": 90}

Aggregates: `count` (confirmed sales), `sum` (net: sales minus refunds, each amount - discount),
`avg` (sum / count, the average cheque), `last_date` and `first_date` (of a sale). Scope: a window
of the last N days or dates from/to (UTC days), product groups (lines of products in any of them)
and stores (cheques of any of them). A customer without purchases has count 0 and sum 0, so
`count lt 1` or `sum lte 100` include them.

Two plans, one meaning (tested to agree):
- with no window or a standard one (30, 90, 180, 365 days) and no date range, the totals answer:
  over all stores and products `segments_customerstats` (one row per customer), for one product
  group or one store `segments_scopestats` (one row per customer and group or store); several groups
  or stores only for "bought in any of them" / "in none" (totals of groups do not add up);
- anything else aggregates `crm_purchase` (and `crm_purchaseline` for product groups) with
  GROUP BY customer HAVING ..., or a plain (NOT) EXISTS for "bought at all" / "never".
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from segments.conditions import (
    DATE_OPS,
    MOMENT_OPS,
    NUMBER_OPS,
    Context,
    Kind,
    Pred,
    _pair,
    codes,
    day_start,
    moment_sql,
    number_sql,
    zero_satisfies,
)
from segments.definition import LeafReader, as_choice, as_date, as_decimal, as_int

AGGREGATES = ("count", "sum", "avg", "last_date", "first_date")
STANDARD_WINDOWS = (30, 90, 180, 365)
_NUMERIC = ("count", "sum", "avg")


class PurchasesKind(Kind):
    kind = "purchases"
    title = "Purchases: count, sum, average cheque, first or last date"
    example = {"kind": "purchases", "aggregate": "sum", "op": "gt", "value": "1000", "window_days": 365}
    fields = [{"name": "aggregate", "type": "choice", "choices": list(AGGREGATES)},
              {"name": "op", "type": "choice", "by": "aggregate",
               "choices": {a: list(NUMBER_OPS if a in ("count", "sum", "avg") else MOMENT_OPS) for a in AGGREGATES}},
              {"name": "value", "type": "value"}, {"name": "window_days", "type": "number"},
              {"name": "date_from", "type": "date"}, {"name": "date_to", "type": "date"},
              {"name": "product_groups", "type": "list"}, {"name": "stores", "type": "list"}]

    def parse(self, reader: LeafReader) -> dict[str, Any]:
        aggregate = reader.get("aggregate", lambda raw: as_choice(raw, AGGREGATES), required=True)
        ops = NUMBER_OPS if aggregate in _NUMERIC else MOMENT_OPS
        op = reader.get("op", lambda raw: as_choice(raw, ops), required=True)
        value: Any = None
        if aggregate is None or op is None:
            reader.get("value", lambda raw: raw)
        elif aggregate == "count":
            one = lambda raw: as_int(raw, low=0)  # noqa: E731
            value = reader.get("value", _pair(one) if op == "between" else one, required=True)
        elif aggregate in ("sum", "avg"):
            value = reader.get("value", _pair(as_decimal) if op == "between" else as_decimal, required=True)
        elif op in ("within_last_days", "more_than_days_ago"):
            value = reader.get("value", lambda raw: as_int(raw, low=0, high=36500), required=True)
        else:
            value = reader.get("value", _pair(as_date) if op == "between" else as_date, required=True)
        window = reader.get("window_days", lambda raw: as_int(raw, low=1, high=3650))
        date_from = reader.get("date_from", as_date)
        date_to = reader.get("date_to", as_date)
        if window and (date_from or date_to):
            reader.error("window_days", "Give either window_days or date_from/date_to, not both.")
        if date_from and date_to and date_from > date_to:
            reader.error("date_to", "Must not be before date_from.")
        return {"aggregate": aggregate, "op": op, "value": value, "window_days": window, "date_from": date_from,
                "date_to": date_to, "product_groups": reader.get("product_groups", codes),
                "stores": reader.get("stores", codes)}

    def references(self, params: dict[str, Any]) -> list[tuple[str, Any, str]]:
        return ([("product_group", g, "product_groups") for g in params.get("product_groups") or ()]
                + [("store", s, "stores") for s in params.get("stores") or ()])

    def compile(self, params: dict[str, Any], cx: Context) -> Pred:
        plan = stats_plan(params)
        if plan is not None:
            return _from_stats(params, cx, plan)
        return _from_purchases(params, cx)


def stats_plan(params: dict[str, Any]) -> str | None:
    """Which totals answer this condition: "all" (segments_customerstats), "group" or "store"
    (segments_scopestats), or None (aggregate the cheques). See the module docstring."""
    window = params["window_days"]
    if params["date_from"] or params["date_to"] or (window is not None and window not in STANDARD_WINDOWS):
        return None
    if params["aggregate"] == "first_date" and window:
        return None  # the first sale inside a window is not kept
    groups, stores = params["product_groups"], params["stores"]
    if groups and stores:
        return None
    if not groups and not stores:
        return "all"
    # Totals of several groups (or stores) do not add up (a line may be in two groups), but "bought
    # in any of them" and "in none of them" read them fine.
    if len(groups or stores) > 1 and _bought_at_all(params) is None:
        return None
    return "group" if groups else "store"


def uses_stats(params: dict[str, Any]) -> bool:
    return stats_plan(params) is not None


def _compare(expr: str, params: dict[str, Any], cx: Context) -> tuple[str, tuple[Any, ...]]:
    if params["aggregate"] in _NUMERIC:
        return number_sql(expr, params["op"], params["value"])
    return moment_sql(expr, params["op"], params["value"], cx)


def _from_stats(params: dict[str, Any], cx: Context, plan: str = "all") -> Pred:
    window, aggregate = params["window_days"], params["aggregate"]
    count, amount = (f"s.count_{window}", f"s.amount_{window}") if window else ("s.purchase_count", "s.amount")
    expr = {"count": count, "sum": amount, "avg": f"({amount} / NULLIF({count}, 0))",
            "last_date": "s.last_purchase_at", "first_date": "s.first_purchase_at"}[aggregate]
    if plan == "all":
        table, scope_args = "segments_customerstats s WHERE s.customer_id = c.id", ()
    else:
        wanted = params["product_groups"] if plan == "group" else params["stores"]
        ids = ("SELECT g.id FROM catalogue_productgroup g WHERE g.code" if plan == "group"
               else "SELECT st.id FROM catalogue_store st WHERE st.code")
        if len(wanted) == 1:
            # One group or store: `scope_id = (scalar subquery)` pins scope and scope_id to constants, so the
            # planner sees at most one row per customer (the primary key) and joins the totals to the
            # customers as the hand-written JOIN does. With `IN (subquery)` it first de-duplicates the
            # customer ids (a hash over ~340k of them for one store) and then probes crm_customer in hash
            # order: 3x slower when the statistics are missing or stale (bench/segments). The code is
            # unique: validation refuses a store code that several partners use.
            table = (f"segments_scopestats s WHERE s.scope = '{plan}' AND s.customer_id = c.id AND s.scope_id = "
                     f"({ids} = %s)")
            scope_args = (wanted[0],)
        else:
            table = (f"segments_scopestats s WHERE s.scope = '{plan}' AND s.customer_id = c.id AND s.scope_id IN "
                     f"({ids} = ANY(%s))")
            scope_args = (wanted,)
    exists = _bought_at_all(params)
    if exists is not None:  # any sale in the scope and window, or none
        return Pred(f"{'' if exists else 'NOT '}EXISTS (SELECT 1 FROM {table} AND {count} > 0)", scope_args)
    compared, args = _compare(expr, params, cx)
    if aggregate in ("count", "sum") and zero_satisfies(params["op"], params["value"]):
        # No row means 0: everyone except those whose totals fail the comparison.
        return Pred(f"NOT EXISTS (SELECT 1 FROM {table} AND NOT ({compared}))", (*scope_args, *args))
    if aggregate == "last_date" and window:
        # The last sale lies in the window exactly when the last sale is recent enough.
        compared = f"{compared} AND s.last_purchase_at >= %s"
        args = (*args, cx.as_of - dt.timedelta(days=window))
    return Pred(f"EXISTS (SELECT 1 FROM {table} AND {compared})", (*scope_args, *args))


def _bought_at_all(params: dict[str, Any]) -> bool | None:
    """True for "at least one sale" (count >= 1, > 0), False for "no sale" (count = 0, < 1, <= 0):
    those need no aggregate, only (NOT) EXISTS of one matching cheque."""
    if params["aggregate"] != "count":
        return None
    op, value = params["op"], params["value"]
    if (op, value) in (("gte", 1), ("gt", 0)):
        return True
    if (op, value) in (("eq", 0), ("lt", 1), ("lte", 0)):
        return False
    return None


def _from_purchases(params: dict[str, Any], cx: Context) -> Pred:
    where = ["p.state = 'confirmed'", "p.customer_id IS NOT NULL"]
    args: list[Any] = []
    if params["window_days"]:
        where.append("p.purchased_at >= %s")
        args.append(cx.as_of - dt.timedelta(days=params["window_days"]))
    if params["date_from"]:
        where.append("p.purchased_at >= %s")
        args.append(day_start(params["date_from"]))
    if params["date_to"]:
        where.append("p.purchased_at < %s")
        args.append(day_start(params["date_to"] + dt.timedelta(days=1)))
    if params["stores"]:
        where.append("p.store_id IN (SELECT st.id FROM catalogue_store st WHERE st.code = ANY(%s))")
        args.append(params["stores"])
    if params["product_groups"]:
        source = "crm_purchase p JOIN crm_purchaseline l ON l.purchase_id = p.id"
        where.append("l.product_id IN (SELECT gm.product_id FROM catalogue_productgroupmembership gm "
                     "JOIN catalogue_productgroup g ON g.id = gm.group_id WHERE g.code = ANY(%s))")
        args.append(params["product_groups"])
        line_amount = "(l.amount - l.discount)"
        count = "count(DISTINCT p.id) FILTER (WHERE p.kind = 'sale')"
    else:
        source = "crm_purchase p"
        line_amount = "(p.amount - p.discount)"
        count = "count(*) FILTER (WHERE p.kind = 'sale')"
    exists = _bought_at_all(params)
    if exists is not None:
        one = f"SELECT 1 FROM {source} WHERE p.customer_id = c.id AND p.kind = 'sale' AND {' AND '.join(where)}"
        return Pred(f"{'' if exists else 'NOT '}EXISTS ({one})", tuple(args))
    net = f"coalesce(sum(CASE WHEN p.kind = 'sale' THEN {line_amount} ELSE -{line_amount} END), 0)"
    expr = {"count": count, "sum": net, "avg": f"({net} / NULLIF({count}, 0))",
            "last_date": "max(p.purchased_at) FILTER (WHERE p.kind = 'sale')",
            "first_date": "min(p.purchased_at) FILTER (WHERE p.kind = 'sale')"}[params["aggregate"]]
    compared, having_args = _compare(expr, params, cx)
    grouped = f"SELECT p.customer_id FROM {source} WHERE {' AND '.join(where)} GROUP BY p.customer_id"
    if params["aggregate"] in ("count", "sum") and zero_satisfies(params["op"], params["value"]):
        return Pred(f"NOT EXISTS (SELECT 1 FROM ({grouped} HAVING NOT ({compared})) x WHERE x.customer_id = c.id)",
                    (*args, *having_args))
    return Pred(f"EXISTS (SELECT 1 FROM ({grouped} HAVING {compared}) x WHERE x.customer_id = c.id)",
                (*args, *having_args))


__all__ = ["AGGREGATES", "DATE_OPS", "PurchasesKind", "STANDARD_WINDOWS", "stats_plan", "uses_stats"]
