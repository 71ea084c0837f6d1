"""Prepared statements for the few fixed statements of the till's hot path.

Django's psycopg connection binds parameters on the client (the SQL text with the values inlined,
parsed and planned by PostgreSQL on every execution) and prepares nothing. For the statements every
cheque runs (till, card and member reads, the cheque's insert and confirm, the ledger's writes),
planning cost the database more CPU than executing them (measured with pg_stat_statements: the
member read planned in 1.9 ms and ran in 0.6 ms). `prepared_cursor()` gives a cursor on the same
connection and transaction that binds on the server, so psycopg prepares the statement once per
connection (after settings.DATABASES OPTIONS["prepare_threshold"] executions) and then only
executes it.

Use it only for fixed SQL text with `%s` / `%(name)s` parameters that PostgreSQL can type from
context (cast where it cannot: `%(x)s::jsonb`, `%(ids)s::bigint[]`); never for `SET ... = %s` or
DDL. Queries still go through Django's cursor wrapper, so they are logged and counted as any other.

Keep each text's shape fixed: parts switched on and off by parameters (`x IS NULL OR ...`,
`cardinality(arr) > 0 AND ...`) make PostgreSQL's plan cache prefer custom plans and plan on every
execution again; give each shape its own text instead (see processing.selectors._member_sql).
A prepared statement lives as long as its connection (DB_CONN_MAX_AGE); a migration that changes
the type of a column one of them returns needs the workers restarted, as every deploy does.
"""
from __future__ import annotations

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper


def prepared_cursor() -> CursorWrapper:
    """A cursor with server-side binding on Django's current connection (same transaction)."""
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = psycopg.Cursor(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
