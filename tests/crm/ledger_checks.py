"""`assert_ledger_consistent()`: the ledger's invariants, checked in SQL over the whole database (or
some accounts). Any test that moves points may call it at its end."""
from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

# Each query returns offending rows; a consistent ledger returns none.
_CHECKS = {
    "balances differ from the sum of entries": """
        SELECT a.id, a.activated_balance, a.pending_balance, a.held_balance, e.act, e.pend, e.held
        FROM crm_account a
        LEFT JOIN (SELECT account_id, sum(activated_delta) act, sum(pending_delta) pend, sum(held_delta) held
                   FROM crm_ledgerentry GROUP BY account_id) e ON e.account_id = a.id
        WHERE {accounts} AND (a.activated_balance, a.pending_balance, a.held_balance)
              IS DISTINCT FROM (coalesce(e.act, 0), coalesce(e.pend, 0), coalesce(e.held, 0))""",
    "balances differ from what the lots keep": """
        SELECT a.id, a.activated_balance, a.pending_balance, l.act, l.pend
        FROM crm_account a
        LEFT JOIN (SELECT account_id, sum(remaining) FILTER (WHERE state = 'active') act,
                          sum(remaining) FILTER (WHERE state = 'pending') pend
                   FROM crm_lot GROUP BY account_id) l ON l.account_id = a.id
        WHERE {accounts} AND (a.activated_balance, a.pending_balance)
              IS DISTINCT FROM (coalesce(l.act, 0), coalesce(l.pend, 0))""",
    "held balance differs from the open holds": """
        SELECT a.id, a.held_balance, h.held
        FROM crm_account a
        LEFT JOIN (SELECT account_id, sum(amount) held FROM crm_hold WHERE state = 'open' GROUP BY account_id) h
               ON h.account_id = a.id
        WHERE {accounts} AND a.held_balance <> coalesce(h.held, 0)""",
    "negative or uncovered balances": """
        SELECT a.id, a.activated_balance, a.pending_balance, a.held_balance FROM crm_account a
        WHERE {accounts} AND (a.activated_balance < a.held_balance OR a.held_balance < 0 OR a.pending_balance < 0)""",
    "lots whose state does not match what they keep": """
        SELECT l.id, l.state, l.remaining, l.amount FROM crm_lot l JOIN crm_account a ON a.id = l.account_id
        WHERE {accounts} AND (l.remaining < 0 OR l.remaining > l.amount
              OR (l.state IN ('exhausted', 'expired') AND l.remaining <> 0))""",
    "entries whose amount is not the sum of their deltas": """
        SELECT e.id FROM crm_ledgerentry e JOIN crm_account a ON a.id = e.account_id
        WHERE {accounts} AND e.amount <> e.activated_delta + e.pending_delta""",
    "debits whose lot consumptions do not add up": """
        SELECT e.id, e.amount, sum(c.amount) FROM crm_ledgerentry e JOIN crm_account a ON a.id = e.account_id
        JOIN crm_lotconsumption c ON c.entry_id = e.id
        WHERE {accounts} GROUP BY e.id, e.amount HAVING sum(c.amount) <> -e.amount""",
}


def ledger_problems(account_ids: Iterable[int] | None = None) -> dict[str, list[tuple]]:
    ids = None if account_ids is None else sorted({int(i) for i in account_ids})
    where = "true" if ids is None else "a.id = ANY(%s)"
    problems: dict[str, list[tuple]] = {}
    with connection.cursor() as cursor:
        for name, sql in _CHECKS.items():
            cursor.execute(sql.format(accounts=where), [] if ids is None else [ids])
            rows = cursor.fetchall()
            if rows:
                problems[name] = rows
    return problems


def assert_ledger_consistent(account_ids: Iterable[int] | None = None) -> None:
    """Cached balances == sums of entries == what the lots keep (active, pending) and the open holds
    hold; activated >= held >= 0; every debit's consumptions add up to it."""
    problems = ledger_problems(account_ids)
    assert not problems, f"ledger inconsistent: {problems}"
