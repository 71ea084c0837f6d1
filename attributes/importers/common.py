"""What the set-based importers share: a staging table per chunk filled by COPY, and customer
resolution by identifier in SQL.

Each chunk runs in the framework's transaction: COPY the good rows into a temporary table
(dropped at commit), then one INSERT ... SELECT ... ON CONFLICT per target table. Upserts only
write rows that differ (`IS DISTINCT FROM`), so running the same file again changes nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from attributes.contacts import PhoneRules, email_normalize, phone_normalize
from core.imports import RowError

# How each identifier type finds its customer: (join, customer id expression). Merged customers
# resolve to the one they were merged into. Phones and emails identify only when verified (an
# unverified contact may be shared by several customers).
_RESOLVERS: dict[str, tuple[str, str]] = {
    "external_uid": ("LEFT JOIN crm_customer r_uid ON s.id_type = 'external_uid' AND r_uid.external_uid = s.ident",
                     "COALESCE(r_uid.merged_into_id, r_uid.id)"),
    "customer_id": ("LEFT JOIN crm_customer r_id ON s.id_type = 'customer_id' AND r_id.id = s.ident_id",
                    "COALESCE(r_id.merged_into_id, r_id.id)"),
    "card": ("LEFT JOIN crm_card r_card ON s.id_type = 'card' AND r_card.number = s.ident "
             "LEFT JOIN crm_customer r_cardc ON r_cardc.id = r_card.customer_id",
             "COALESCE(r_cardc.merged_into_id, r_cardc.id)"),
    "phone": ("LEFT JOIN crm_notifier r_ph ON s.id_type = 'phone' AND r_ph.kind = 'phone' AND r_ph.value = s.ident "
              "AND r_ph.verified LEFT JOIN crm_customer r_phc ON r_phc.id = r_ph.customer_id",
              "COALESCE(r_phc.merged_into_id, r_phc.id)"),
    "email": ("LEFT JOIN crm_notifier r_em ON s.id_type = 'email' AND r_em.kind = 'email' AND r_em.value = s.ident "
              "AND r_em.verified LEFT JOIN crm_customer r_emc ON r_emc.id = r_em.customer_id",
              "COALESCE(r_emc.merged_into_id, r_emc.id)"),
}
IDENTIFIER_TYPES = tuple(_RESOLVERS)


def ident_id(id_type: str, ident: str) -> int | None:
    """The staged numeric form of a customer_id identifier (a separate column: casting text in
    the join would fail on the other types' values)."""
    return int(ident) if id_type == "customer_id" else None


def resolved_sql(table: str, types: set[str]) -> str:
    """SELECT s.*, customer_id FROM table s, joining only the identifier types the chunk uses
    (a file of external uids is one index join, not five lookups per row)."""
    used = [t for t in IDENTIFIER_TYPES if t in types] or ["external_uid"]
    joins = " ".join(_RESOLVERS[t][0] for t in used)
    customer = _RESOLVERS[used[0]][1] if len(used) == 1 else f"COALESCE({', '.join(_RESOLVERS[t][1] for t in used)})"
    return f"SELECT s.*, {customer} AS customer_id FROM {table} s {joins}"


def stage(cursor: Any, name: str, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]], *,
          analyze: bool = True) -> None:
    """CREATE TEMP TABLE name (columns) ON COMMIT DROP, then COPY the rows in.

    Dropped first as well: a chunk inside an outer transaction (a test, a caller's atomic block)
    is a savepoint, and its commit does not drop anything."""
    # JIT compiling these one-off statements costs seconds per chunk (measured: 3 s of 4.2 s
    # for 50,000 rows) and saves nothing on set-based inserts; plan with real row counts.
    cursor.execute("SET LOCAL jit = off")
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    cursor.execute(f"CREATE TEMP TABLE {name} ({', '.join(f'{c} {t}' for c, t in columns)}) ON COMMIT DROP")
    with cursor.copy(f"COPY {name} ({', '.join(c for c, _ in columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    if analyze:
        cursor.execute(f"ANALYZE {name}")


def cursor():
    """A Django cursor (inside the chunk's transaction); `.copy` reaches psycopg's COPY."""
    return connection.cursor()


def identifier_check(id_type: str, identifier: str) -> str | None:
    """The reason an identifier cannot be looked up, or None."""
    if id_type not in IDENTIFIER_TYPES:
        return f"identifier_type: '{id_type}' is not one of {', '.join(IDENTIFIER_TYPES)}"
    if not identifier:
        return "customer: empty identifier"
    if id_type == "customer_id" and not (identifier.isdigit() and len(identifier) <= 18):
        return f"customer: '{identifier}' is not a customer id"
    return None


def errors_from(rows: Iterable[tuple[int, str]]) -> list[RowError]:
    return [RowError(line, reason) for line, reason in rows]


# --- COPY text built off the database thread -----------------------------------------------
# prepare_chunk runs in the framework's reader thread and hands apply_chunk a ready COPY payload,
# so the main thread only ships bytes while PostgreSQL works.

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def copy_text(value: str | None) -> str:
    """A text cell for COPY's text format (NULL as \\N, backslash, tab and newlines escaped)."""
    if value is None:
        return NULL
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def array_text(items: list[str]) -> str:
    """A text[] literal, escaped for COPY."""
    quoted = ",".join('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items)
    return copy_text("{" + quoted + "}")


@dataclass
class Prepared:
    """What prepare_chunk hands to apply_chunk: the COPY payload, the rows refused in Python, the
    identifier types used, and the chunk's first and last line (for the audit record)."""

    payload: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    types: set[str] = field(default_factory=set)
    lines: tuple[int, int] = (0, 0)
    rows: int = 0


def index_lookups(cursor: Any) -> None:
    """Match the chunk against big tables by index probes, for the rest of the chunk's transaction.

    A chunk is ~50,000 rows and the tables it joins (customers, cards, contacts) hold millions: a
    hash join scans and hashes the whole table for every chunk (measured 0.33 s at 250,000
    customers, growing with the base, vs 0.25 s of index probes that do not), and right after a
    bulk load the statistics understate the table, so the planner picks the hash join."""
    cursor.execute("SET LOCAL enable_hashjoin = off")
    cursor.execute("SET LOCAL enable_mergejoin = off")
    # Right after a TRUNCATE (or on a new install) a target table has no statistics and looks
    # empty, and "does this row exist" became a sequential scan per staged row: quadratic in the
    # chunk (measured: 30 s for the first 50,000 attribute values instead of 0.3 s). The only
    # tables read without an index here are the chunk's own staging tables, which have none.
    cursor.execute("SET LOCAL enable_seqscan = off")
    # Keeping the last row per key sorts the chunk: in memory, not spilled (measured 0.26 s
    # spilled vs ~0.03 s in memory for 50,000 rows with the default 4 MB).
    cursor.execute("SET LOCAL work_mem = '64MB'")


def statistics_refresh(cursor: Any, tables: Sequence[str]) -> list[str]:
    """ANALYZE the tables a chunk looks rows up in when they changed a lot since their last
    ANALYZE. A bulk import outruns autovacuum: with statistics still saying "a few rows", the
    planner materialises a whole table and filters it for every staged row (measured: minutes for
    one chunk at 250,000 customers). Checked once per chunk; costs a few ANALYZEs per big import."""
    cursor.execute(
        "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(%s) "
        "AND n_mod_since_analyze > GREATEST(5000, n_live_tup / 5)", [list(tables)])
    stale = [row[0] for row in cursor.fetchall()]
    for table in stale:
        cursor.execute(f"ANALYZE {table}")
    return stale


def run_twice_on_race(cursor: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run a merge statement in a savepoint; if a row it inserts was inserted meanwhile by someone
    else (unique violation), run it once more: the second pass sees that row and updates it."""
    from django.db import IntegrityError, transaction

    for attempt in (1, 2):
        try:
            with transaction.atomic():
                cursor.execute(sql, params)
                return cursor.fetchall()
        except IntegrityError:
            if attempt == 2:
                raise
    return []


def merge_staged(cursor: Any, *, apply_sql: str, table: str, types: set[str], target: str) -> list[tuple[int, str]]:
    """Merge a chunk's staged rows (`table`, identified by `types`) into `target` with `apply_sql`
    (its `{resolved}` is the staged rows with their customer ids): statistics current, lookups by
    index, run again once on a concurrent insert. Returns the statement's (line, text) rows."""
    statistics_refresh(cursor, ("crm_customer", "crm_card", "crm_notifier", target))
    index_lookups(cursor)
    return run_twice_on_race(cursor, apply_sql.replace("{resolved}", resolved_sql(table, types)))


def stage_text(cursor: Any, name: str, columns: Sequence[tuple[str, str]], payload: list[str], *,
               analyze: bool = False) -> None:
    """Like `stage`, from a ready COPY text payload (one string per row, newline-terminated)."""
    cursor.execute("SET LOCAL jit = off")
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    cursor.execute(f"CREATE TEMP TABLE {name} ({', '.join(f'{c} {t}' for c, t in columns)}) ON COMMIT DROP")
    with cursor.copy(f"COPY {name} ({', '.join(c for c, _ in columns)}) FROM STDIN") as copy:
        block = 4096
        for start in range(0, len(payload), block):
            copy.write("".join(payload[start:start + block]))
    if analyze:
        cursor.execute(f"ANALYZE {name}")


def phone_or_email(id_type: str, ident: str, phones: PhoneRules) -> str:
    """Identifiers as stored: phones in E.164, emails in lower case (ValueError otherwise)."""
    if id_type == "phone":
        return phone_normalize(ident, phones)
    if id_type == "email":
        return email_normalize(ident)
    return ident


# Cells as `_iter_rows` strips them (str.strip: the usual blanks, and the no-break space).
WS = "E' \\t\\r\\n\\x0b\\f\\u00a0'"


def stage_raw(cursor: Any, name: str, chunk: Any) -> dict[str, str]:
    """COPY a RawChunk's lines as they are into a temporary table (one text column per file
    column, c0, c1, ... in file order) with `line` numbered by COPY itself: an identity column
    starting at the chunk's first line (COPY inserts in file order, one record per line).
    Returns {column name: SQL expression of its stripped cell ('' when empty or absent)}.

    PostgreSQL's CSV parser does the splitting: no Python runs per row."""
    cursor.execute("SET LOCAL jit = off")
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    cells = [f"c{i}" for i in range(len(chunk.columns))]
    cursor.execute(f"CREATE TEMP TABLE {name} (line int GENERATED ALWAYS AS IDENTITY (START WITH {int(chunk.first_line)}), "
                   f"{', '.join(f'{c} text' for c in cells)}) ON COMMIT DROP")
    delimiter = chunk.delimiter.replace("'", "''")
    with cursor.copy(f"COPY {name} ({', '.join(cells)}) FROM STDIN (FORMAT csv, DELIMITER '{delimiter}', "
                     f"ENCODING 'UTF8')") as copy:
        data, step = chunk.data, 1 << 20
        for start in range(0, len(data), step):
            copy.write(data[start:start + step])
    return {column: f"COALESCE(btrim({cell}, {WS}), '')" for column, cell in zip(chunk.columns, cells)}


def raw_rows(cursor: Any, name: str, chunk: Any, where: str) -> list[Any]:
    """The staged lines matching `where` as CsvRows (stripped like `_iter_rows`), for the rows
    SQL leaves to the Python checks."""
    from core.imports import CsvRow

    cells = ", ".join(f"c{i}" for i in range(len(chunk.columns)))
    cursor.execute(f"SELECT line, {cells} FROM {name} WHERE {where} ORDER BY line")
    columns = chunk.columns
    return [CsvRow(row[0], {c: (v or "").strip() for c, v in zip(columns, row[1:])}) for row in cursor.fetchall()]


def raw_leftovers_staged(cursor: Any, *, importer: Any, job: Any, chunk: Any, context: Any, raw_table: str,
                         table: str, stage: list[tuple[str, str]]) -> tuple[Prepared, set[str]]:
    """The raw path's second half, shared by the value importers: the lines the SQL check left
    (`NOT ok` in `table`) go through the importer's own Python checks, their good rows are added to
    `table` as ok, and the identifier types of the ok rows are returned with the Python result
    (whose `errors` are the refused lines)."""
    rest = raw_rows(cursor, raw_table, chunk, f"line IN (SELECT line FROM {table} WHERE NOT ok)")
    prepared = importer.prepare_chunk(job, rest, context) if rest else Prepared()
    if prepared.payload:
        with cursor.copy(f"COPY {table} ({', '.join(c for c, _ in stage)}, ok) FROM STDIN") as copy:
            copy.write("".join(p[:-1] + "\tt\n" for p in prepared.payload))
    cursor.execute(f"SELECT array_agg(DISTINCT id_type) FROM {table} WHERE ok")
    return prepared, set(cursor.fetchone()[0] or [])
