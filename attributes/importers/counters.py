"""Import of counter values (e.g. spend carried over from a previous system).

Columns: `customer`, `counter` (code), `value`; optional `identifier_type` (as for attribute
values) and `period` (a date or YYYY-MM inside the period, for calendar counters; empty = the
current period). The file sets the *imported* part of the value: recalculation keeps it and adds
the purchases on top, and importing a new figure replaces the old one (value - old + new).
Prepared in Python (reader thread), merged with one statement (see attributes.importers.values).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from attributes.contacts import PhoneRules, phone_rules
from attributes.importers.common import (
    NULL,
    Prepared,
    copy_text,
    cursor,
    errors_from,
    identifier_check,
    index_lookups,
    phone_or_email,
    resolved_sql,
    run_twice_on_race,
    stage_text,
    statistics_refresh,
)
from attributes.importers.values import job_actor
from attributes.models import Counter
from attributes.periods import counter_today, period_start
from attributes.values import parse_date, parse_decimal
from core.imports import CsvRow, Importer, RowError, register_importer
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
latest AS MATERIALIZED (
  SELECT DISTINCT ON (counter_id, customer_id, period_start) * FROM resolved WHERE customer_id IS NOT NULL
  ORDER BY counter_id, customer_id, period_start, line DESC
),
updated AS (
  UPDATE attributes_countervalue v SET value = v.value - v.imported + l.imported, imported = l.imported, updated_at = now()
  FROM latest l
  WHERE v.counter_id = l.counter_id AND v.customer_id = l.customer_id AND v.period_start = l.period_start
    AND v.imported IS DISTINCT FROM l.imported
  RETURNING 1
),
inserted AS (
  INSERT INTO attributes_countervalue (counter_id, customer_id, period_start, value, imported, updated_at)
  SELECT counter_id, customer_id, period_start, imported, imported, now() FROM latest l
  WHERE NOT EXISTS (SELECT 1 FROM attributes_countervalue v
                    WHERE v.counter_id = l.counter_id AND v.customer_id = l.customer_id AND v.period_start = l.period_start)
  RETURNING 1
)
SELECT line, 'customer: no customer with ' || id_type || ' ' || quote_literal(ident) FROM resolved WHERE customer_id IS NULL
UNION ALL SELECT -1, ((SELECT count(*) FROM updated) + (SELECT count(*) FROM inserted))::text
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

    def apply_chunk(self, job: ImportJob, prepared: Prepared, context: Context) -> list[RowError]:
        errors = list(prepared.errors)
        written = 0
        if prepared.payload:
            with cursor() as cur:
                stage_text(cur, "import_counters", _STAGE, prepared.payload, analyze=False)
                statistics_refresh(cur, ("crm_customer", "crm_card", "crm_notifier", "attributes_countervalue"))
                index_lookups(cur)
                result = run_twice_on_race(cur, _APPLY.replace("{resolved}", resolved_sql("import_counters", prepared.types)))
            written = next((int(r) for line, r in result if line == -1), 0)
            errors += errors_from((line, reason) for line, reason in result if line > 0)
        audit_record(actor=job_actor(job), action="import.counters.chunk", target=job,
                     after={"lines": list(prepared.lines), "written": written, "failed": len(errors)})
        return errors

    def process_chunk(self, job: ImportJob, rows: list[CsvRow]) -> list[RowError]:
        context = self.context(job)
        return self.apply_chunk(job, self.prepare_chunk(job, rows, context), context)
