"""crm's CSV importers (registered with core.imports when the app is ready)."""
from __future__ import annotations

from core.actors import Actor
from core.errors import DomainError
from core.imports import CsvRow, Importer, RowError, register_importer
from core.models import ImportJob
from crm.models import ProgramSettings
from crm.selectors.ledger import accounts_resolve, currency_resolve, identifier_clean, identifier_type_clean
from crm.services.adjustments import BATCH_SOURCE, BatchRow, adjustments_apply_batch
from crm.services.ledger_base import points


@register_importer
class AdjustmentImporter(Importer):
    """Point adjustments from a file, as in the original: one row per identifier and signed amount.

    Each row's idempotency key is `<file sha256>:<line>`, so the same file uploaded again applies
    nothing twice, and a job resumed after a crash does not re-apply its committed chunks. A row
    that would make a balance negative is reported, not applied. `job.options["currency"]` picks a
    currency other than the default.
    """

    kind = "crm.adjustments"
    label = "Point adjustments"
    required_columns = ("identifier_type", "identifier", "amount")
    optional_columns = ("description",)
    permission = "crm.add_ledgerentry"
    chunk_size = 1000  # the accounts of a chunk are locked together: keep the lock set small

    def process_chunk(self, job: ImportJob, rows: list[CsvRow]) -> list[RowError]:
        errors: list[RowError] = []
        program = ProgramSettings.load()
        currency = currency_resolve(job.options.get("currency"))
        parsed: list[tuple[CsvRow, tuple[str, str], object]] = []
        for row in rows:
            try:
                kind = identifier_type_clean(row.values["identifier_type"])
                value = identifier_clean(kind, row.values["identifier"], program=program)
                amount = points(row.values["amount"], signed=True)
            except DomainError as exc:
                errors.append(RowError(row.line, exc.message))
                continue
            parsed.append((row, (kind, value), amount))
        found = accounts_resolve(identifiers=[pair for _, pair, _ in parsed], currency_id=currency.pk)
        batch: list[BatchRow] = []
        for row, pair, amount in parsed:
            resolved = found[pair]
            if resolved.account_id is None:
                errors.append(RowError(row.line, f"identifier: {resolved.error}"))
                continue
            reason = row.values.get("description") or f"batch adjustment {job.original_name}"
            batch.append(BatchRow(line=row.line, account_id=resolved.account_id, amount=amount,  # type: ignore[arg-type]
                                  reason=reason, idempotency_key=f"{job.file_sha256}:{row.line}"))
        actor = Actor(kind=job.actor_kind or "system", id=job.actor_id, label=job.actor_label or "import")  # type: ignore[arg-type]
        refused = adjustments_apply_batch(rows=batch, actor=actor, source=BATCH_SOURCE)
        errors.extend(RowError(line, f"amount: {reason}") for line, reason in refused.items())
        return errors
