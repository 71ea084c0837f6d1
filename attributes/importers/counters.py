"""Import of counter values (e.g. spend carried over from a previous system).

Columns: `customer`, `counter` (code), `value`; optional `identifier_type` (as for attribute
values) and `period` (a date or YYYY-MM inside the period, for calendar counters; empty = the
current period). The file sets the *imported* part of the value: recalculation keeps it and adds
the purchases on top, and importing a new figure replaces the old one (value - old + new).
Prepared in Python (reader thread), merged with one statement (see attributes.importers.values).
"""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from dataclasses import dataclass

from attributes.contacts import PhoneRules, phone_rules
from attributes.importers.common import (
    NULL,
    Prepared,
    copy_text,
    cursor,
    errors_from,
    identifier_check,
    merge_staged,
    phone_or_email,
    raw_leftovers_staged,
    stage_raw,
    stage_text,
)
from attributes.importers.values import job_actor
from attributes.models import Counter
from attributes.periods import counter_today, period_start
from attributes.values import parse_date, parse_decimal
from core.imports import CsvRow, Importer, RawChunk, RowError, register_importer
from core.models import ImportJob
from core.services import audit_record

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_STAGE = [("line", "int"), ("id_type", "text"), ("ident", "varchar"), ("ident_id", "bigint"), ("counter_id", "bigint"),
          ("period_start", "date"), ("imported", "numeric(18,2)")]
_LIMIT = 10**16
_PLAIN = re.compile(r"-?\d{1,16}(?:\.\d{1,2})?")  # already in PostgreSQL's form: no Decimal needed

# Update where the imported figure differs, plain INSERT for new rows (see importers.values).
_APPLY = """
WITH resolved AS MATERIALIZED ({resolved}),
latest AS MATERIALIZED (  -- each key looked up once (see importers.values)
  SELECT l.*, v.counter_id IS NOT NULL AS present, v.imported IS DISTINCT FROM l.imported AS differs
  FROM (
    SELECT DISTINCT ON (counter_id, customer_id, period_start) * FROM resolved WHERE customer_id IS NOT NULL
    ORDER BY counter_id, customer_id, period_start, line DESC
  ) AS l
  LEFT JOIN attributes_countervalue v
    ON v.counter_id = l.counter_id AND v.customer_id = l.customer_id AND v.period_start = l.period_start
),
updated AS (
  UPDATE attributes_countervalue v SET value = v.value - v.imported + l.imported, imported = l.imported, updated_at = now()
  FROM latest l
  WHERE l.present AND l.differs
    AND v.counter_id = l.counter_id AND v.customer_id = l.customer_id AND v.period_start = l.period_start
  RETURNING 1
),
inserted AS (
  INSERT INTO attributes_countervalue (counter_id, customer_id, period_start, value, imported, updated_at)
  SELECT counter_id, customer_id, period_start, imported, imported, now() FROM latest l WHERE NOT l.present
  RETURNING 1
)
SELECT line, 'customer: no customer with ' || id_type || ' ' || quote_literal(ident) FROM resolved WHERE customer_id IS NULL
UNION ALL SELECT -1, ((SELECT count(*) FROM updated) + (SELECT count(*) FROM inserted))::text
"""


# The raw path (see importers.values): SQL takes the rows Python's fast path would take as they
# are (identified by external uid or customer id, a known counter, no period, a plain amount:
# `_PLAIN`); every other row goes through `prepare_chunk`, for the same result or error.
_CHECK = """
CREATE TEMP TABLE import_counters ON COMMIT DROP AS
SELECT line, id_type, ident::varchar AS ident,
       CASE WHEN ok AND id_type = 'customer_id' THEN ident::bigint END AS ident_id, counter_id,
       CASE WHEN ok THEN period_start END AS period_start, CASE WHEN ok THEN raw::numeric(18,2) END AS imported, ok
FROM (
  SELECT r.*, c.id AS counter_id, c.current AS period_start,
         CASE WHEN r.ident = '' OR c.id IS NULL OR r.period <> '' OR r.id_type NOT IN ('external_uid', 'customer_id') THEN false
              WHEN r.id_type = 'customer_id' AND (r.ident !~ '^[0-9]+$' OR length(r.ident) > 18) THEN false
              -- `_PLAIN` without bounded repeats (slow in PostgreSQL's regex engine), lengths apart
              ELSE r.raw ~ '^-?[0-9]+(\\.[0-9]+)?$' AND length(split_part(ltrim(r.raw, '-'), '.', 1)) <= 16
                   AND length(split_part(r.raw, '.', 2)) <= 2 END AS ok
  FROM (SELECT line, lower(COALESCE(NULLIF({id_type}, ''), 'external_uid')) AS id_type, {customer} AS ident,
               {counter} AS code, {value} AS raw, {period} AS period FROM import_counters_raw
        OFFSET 0) r  -- computed once: a flattened subquery would re-strip a cell at every use
  LEFT JOIN jsonb_to_recordset(%s::jsonb) AS c(code text, id bigint, current date) ON c.code = r.code
  OFFSET 0  -- the same for the checked value
) AS t
"""


def _period(counter: Counter, raw: str, today: dt.date) -> dt.date:
    if not counter.calendar:
        if raw:
            raise ValueError(f"period: counter '{counter.code}' has no calendar periods; leave it empty")
        return period_start(counter.period, today)
    if not raw:
        return period_start(counter.period, today)
    match = _MONTH.match(raw)
    day = dt.date(int(match.group(1)), int(match.group(2)), 1) if match and 1 <= int(match.group(2)) <= 12 else None
    if day is None:
        try:
            day = parse_date(raw)
        except ValueError:
            raise ValueError(f"period: '{raw}' is not a date or YYYY-MM") from None
    return period_start(counter.period, day)


@dataclass
class Context:
    counters: dict[str, Counter]
    todays: dict[str, dt.date]
    current: dict[str, dt.date]  # each counter's current period start
    phones: PhoneRules

    def fast(self) -> str:
        """JSON [{code, id, current}] for `_CHECK`."""
        return json.dumps([{"code": code, "id": c.pk, "current": self.current[code].isoformat()}
                           for code, c in self.counters.items()])


@register_importer
class CounterValuesImporter(Importer):
    kind = "attributes.counters"
    label = "Counter values (customer; counter; value; period)"
    required_columns = ("customer", "counter", "value")
    optional_columns = ("identifier_type", "period")
    permission = "attributes.change_countervalue"
    chunk_size = 50_000

    def context(self, job: ImportJob) -> Context:
        counters = {c.code: c for c in Counter.objects.all()}
        todays = {code: counter_today(c) for code, c in counters.items()}
        return Context(counters=counters, todays=todays, phones=phone_rules(),
                       current={code: period_start(c.period, todays[code]) for code, c in counters.items()})

    def prepare_chunk(self, job: ImportJob, rows: list[CsvRow], context: Context) -> Prepared:
        out = Prepared(lines=(rows[0].line, rows[-1].line), rows=len(rows))
        payload, errors, types = out.payload, out.errors, out.types
        for line, values in rows:
            id_type = (values.get("identifier_type") or "external_uid").lower()
            ident = values["customer"]
            reason = identifier_check(id_type, ident)
            if reason:
                errors.append(RowError(line, reason))
                continue
            counter = context.counters.get(values["counter"])
            if counter is None:
                errors.append(RowError(line, f"counter: no counter '{values['counter']}'"))
                continue
            if id_type in ("phone", "email"):
                try:
                    ident = phone_or_email(id_type, ident, context.phones)
                except ValueError as exc:
                    errors.append(RowError(line, f"customer: {exc}"))
                    continue
            value = values["value"]
            if not _PLAIN.fullmatch(value):
                try:
                    if not value:
                        raise ValueError("empty (write 0 to clear an imported value)")
                    number = parse_decimal(value, places=2)
                    if abs(number) >= _LIMIT:
                        raise ValueError("too large")
                except ValueError as exc:
                    errors.append(RowError(line, f"value: {exc}"))
                    continue
                value = str(number)
            period = values.get("period", "")
            if period or counter.calendar:
                try:
                    start = _period(counter, period, context.todays[counter.code])
                except ValueError as exc:
                    errors.append(RowError(line, str(exc)))
                    continue
            else:
                start = context.current[counter.code]
            types.add(id_type)
            ident_id = ident if id_type == "customer_id" else NULL
            payload.append(f"{line}\t{id_type}\t{copy_text(ident)}\t{ident_id}\t{counter.pk}\t{start}\t{value}\n")
        return out

    def apply_raw(self, job: ImportJob, chunk: RawChunk, context: Context) -> list[RowError]:
        """COPY the lines as they are, check and convert in SQL, Python only for what SQL left."""
        with cursor() as cur:
            cells = stage_raw(cur, "import_counters_raw", chunk)
            cur.execute("DROP TABLE IF EXISTS import_counters")
            cur.execute(_CHECK.format(id_type=cells.get("identifier_type", "''"), customer=cells["customer"],
                                      counter=cells["counter"], value=cells["value"], period=cells.get("period", "''")),
                        [context.fast()])
            prepared, types = raw_leftovers_staged(cur, importer=self, job=job, chunk=chunk, context=context,
                                                   raw_table="import_counters_raw", table="import_counters", stage=_STAGE)
            return self._merge(job, cur, "(SELECT * FROM import_counters WHERE ok)", types, prepared.errors,
                               (chunk.first_line, chunk.first_line + chunk.rows - 1))

    def apply_chunk(self, job: ImportJob, prepared: Prepared, context: Context) -> list[RowError]:
        if not prepared.payload:
            return self._merge(job, None, "", set(), prepared.errors, prepared.lines)
        with cursor() as cur:
            stage_text(cur, "import_counters", _STAGE, prepared.payload, analyze=False)
            return self._merge(job, cur, "import_counters", prepared.types, prepared.errors, prepared.lines)

    @staticmethod
    def _merge(job: ImportJob, cur: Any, table: str, types: set[str], refused: list[RowError],
               lines: tuple[int, int]) -> list[RowError]:
        """Merge the staged rows (`table`, none when cur is None) and audit the chunk."""
        errors = list(refused)
        written = 0
        if cur is not None and types:
            result = merge_staged(cur, apply_sql=_APPLY, table=table, types=types, target="attributes_countervalue")
            written = next((int(r) for line, r in result if line == -1), 0)
            errors += errors_from((line, reason) for line, reason in result if line > 0)
        audit_record(actor=job_actor(job), action="import.counters.chunk", target=job,
                     after={"lines": list(lines), "written": written, "failed": len(errors)})
        return errors

    def process_chunk(self, job: ImportJob, rows: list[CsvRow]) -> list[RowError]:
        context = self.context(job)
        return self.apply_chunk(job, self.prepare_chunk(job, rows, context), context)
