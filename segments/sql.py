"""Running segment SQL: one round trip, with a statement timeout and planner settings that hold
only for that statement's transaction.

The settings go in front of the query in the same string (`SET LOCAL ...; SELECT ...`): in
autocommit PostgreSQL runs such a string as one implicit transaction, so they end with it; inside
an atomic block they end with that transaction. One round trip means `django_assert_num_queries(1)`
holds for a count. (This relies on client-side parameter binding, Django's default for psycopg 3.)

- statement_timeout: a preview that would take too long fails with `segment_query_timeout`
  instead of holding a web worker;
- work_mem: big enough for a hashed subplan of a million ids (OR of EXISTS) and for hash
  aggregates over purchases without spilling;
- jit off: compiling the plan costs more than it saves on these scans and joins (measured in
  bench/segments).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import OperationalError, connections

from core.errors import DomainError

QUERY_CANCELED = "57014"


def read_alias() -> str:
    """Where counts, previews and exports read: a replica when SEGMENTS_READ_DATABASE names one."""
    return getattr(settings, "SEGMENTS_READ_DATABASE", "default")


def preview_timeout_ms() -> int:
    return int(getattr(settings, "SEGMENTS_PREVIEW_TIMEOUT_MS", 15_000))


def refresh_timeout_ms() -> int:
    return int(getattr(settings, "SEGMENTS_REFRESH_TIMEOUT_MS", 30 * 60_000))


WORK_MEM = "256MB"


def run(sql: str, params: Sequence[Any] = (), *, using: str = "default", timeout_ms: int, fetch: str = "one",
        what: str = "The query") -> Any:
    """Execute `sql` with the settings above; return fetchone(), fetchall() or the rowcount."""
    connection = connections[using]
    with connection.cursor() as cursor:
        try:
            cursor.execute("SET LOCAL statement_timeout = %s; SET LOCAL jit = off; SET LOCAL work_mem = %s; " + sql,
                           (int(timeout_ms), WORK_MEM, *params))
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == QUERY_CANCELED:
                raise DomainError(
                    "segment_query_timeout",
                    f"{what} took longer than {timeout_ms / 1000:g} s and was stopped. Narrow the conditions "
                    "(a window, fewer OR branches), or save the segment and let the background refresh count it.",
                    status=422,
                ) from None
            raise
        while cursor.description is None and cursor.nextset():
            pass  # skip the results of the SET statements
        if fetch == "one":
            return cursor.fetchone()
        if fetch == "all":
            return cursor.fetchall()
        return cursor.rowcount
