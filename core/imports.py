"""CSV imports as Celery jobs: upload, stream in chunks, keep good rows, report bad ones.

An app registers an importer (usually in `<app>/importers.py`, imported from its AppConfig.ready):

    @register_importer
    class AdjustmentImporter(Importer):
        kind = "crm.adjustments"
        label = "Point adjustments"
        required_columns = ("identifier_type", "identifier", "amount")
        permission = "crm.add_ledgerentry"

        def process_chunk(self, job, rows):  # rows: list[CsvRow]; runs inside one transaction
            ...
            return [RowError(row.line, "amount: not a number")]

For speed, an importer may split its work: `prepare_chunk` (pure Python: parse, validate, build
what it will COPY; no database access) runs in a helper thread one chunk ahead, overlapping the
database work of `apply_chunk` on the previous chunk; `context(job)` loads reference data once
(in the main thread) for both. Importers that only define `process_chunk` work as before.
An importer may also define `apply_raw`: on a plain file (no quotes, no blank lines) it receives
chunks of the file's lines as bytes, to COPY as they are and check in SQL (no Python per row).

The runner streams the file (memory stays bounded whatever its size: at most three chunks are
alive, one being read, one prepared, one applied), calls `process_chunk` once
per chunk inside a transaction that also moves the job's progress counters, writes bad rows with
their line number and reason into a downloadable report, and ends in `done` or
`done_with_errors`. Re-running the same file must change nothing: importers upsert by identifier
or derive idempotency keys from `job.file_sha256` and the line number or the row's content.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
import queue
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from django.core.files.base import ContentFile, File
from django.core.files.uploadedfile import UploadedFile
import psycopg
from django.db import DataError, connection, transaction
from django.db.models import F
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from core.models import ImportJob, ImportRowError
from core.services import audit_record

logger = logging.getLogger(__name__)

class CsvRow(NamedTuple):
    """One record of the file. A NamedTuple: a million of them are built per million rows, and a
    tuple is several times cheaper to create than a frozen dataclass."""

    line: int  # 1-based line number in the file, the header being line 1
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str


class Importer:
    kind: ClassVar[str]
    label: ClassVar[str]
    required_columns: ClassVar[tuple[str, ...]] = ()
    optional_columns: ClassVar[tuple[str, ...]] = ()
    permission: ClassVar[str | None] = None  # Django permission an operator needs to upload
    chunk_size: ClassVar[int] = 5000

    def process_chunk(self, job: ImportJob, rows: list[CsvRow]) -> list[RowError]:
        raise NotImplementedError

    def context(self, job: ImportJob) -> Any:
        """Reference data for prepare/apply, read once per run (main thread, database allowed)."""
        return None

    def prepare_chunk(self, job: ImportJob, rows: list[CsvRow], context: Any) -> Any:
        """Pure-Python part of a chunk; may run in a helper thread, so it must not query the database."""
        return rows

    def apply_chunk(self, job: ImportJob, prepared: Any, context: Any) -> list[RowError]:
        """The database part, inside the chunk's transaction. Default: `process_chunk`."""
        return self.process_chunk(job, prepared)

    def finish(self, job: ImportJob) -> None:
        """Called once after the last chunk (e.g. to refresh aggregates)."""

    # Optional fast path: `apply_raw` receives a chunk of the file's lines as bytes (a RawChunk),
    # COPYs them as they are and checks and converts in SQL. Only used on plain files (see
    # `_plain_file`); a chunk COPY cannot read (a line with the wrong number of cells, say) is
    # rolled back and done again through prepare_chunk/apply_chunk, so behaviour is the same.
    def apply_raw(self, job: ImportJob, chunk: RawChunk, context: Any) -> list[RowError]:
        raise NotImplementedError

    @classmethod
    def takes_raw(cls) -> bool:
        return cls.apply_raw is not Importer.apply_raw


@dataclass(frozen=True, slots=True)
class RawChunk:
    """Whole lines of a plain file (no quotes, no blank lines: one record per line), as read.

    `data` is newline-terminated UTF-8; its first line is line `first_line` of the file.
    `columns` is the header (stripped, lower-cased), `delimiter` the file's separator."""

    first_line: int
    rows: int
    data: bytes
    columns: list[str]
    delimiter: str


_REGISTRY: dict[str, Importer] = {}


def register_importer(cls: type[Importer]) -> type[Importer]:
    _REGISTRY[cls.kind] = cls()
    return cls


def importer_get(kind: str) -> Importer:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise DomainError("unknown_import", f"No importer named '{kind}'. Known: {', '.join(sorted(_REGISTRY))}.", field="kind") from None


def importers_all() -> dict[str, Importer]:
    return dict(_REGISTRY)


def _sniff_delimiter(header_line: str) -> str:
    return ";" if header_line.count(";") > header_line.count(",") else ","


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    sha256: str
    delimiter: str
    columns: list[str]


def import_file_check(*, kind: str, upload: UploadedFile | ContentFile) -> CheckedUpload:
    """Refuse a wrong file at once (encoding, empty, missing columns), before anything is stored."""
    importer = importer_get(kind)
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    header = b""
    for chunk in upload.chunks():
        if not header:
            header = chunk.split(b"\n", 1)[0]
        digest.update(chunk)
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError:
            raise DomainError("bad_encoding", "The file must be CSV in UTF-8.",
                              field="file") from None
    upload.seek(0)
    try:
        header_text = header.decode("utf-8-sig").strip("\r\n")
    except UnicodeDecodeError:
        raise DomainError("bad_encoding", "The file must be CSV in UTF-8.", field="file") from None
    if not header_text:
        raise DomainError("empty_file", "The file is empty: the first line must name the columns.", field="file")
    delimiter = _sniff_delimiter(header_text)
    columns = [c.strip().lower() for c in next(csv.reader([header_text], delimiter=delimiter))]
    missing = [c for c in importer.required_columns if c not in columns]
    if missing:
        raise DomainError(
            "missing_columns",
            f"Missing column(s): {', '.join(missing)}. The first line must name the columns "
            f"{', '.join(importer.required_columns + importer.optional_columns)} (';' or ',' separated).",
            field="file",
        )
    return CheckedUpload(sha256=digest.hexdigest(), delimiter=delimiter, columns=columns)


def import_job_create(*, kind: str, upload: UploadedFile | ContentFile, actor: Actor, options: dict | None = None,
                      name: str | None = None) -> ImportJob:
    """Store the file (checked first), record who uploaded it, enqueue the job after commit."""
    checked = import_file_check(kind=kind, upload=upload)
    upload.seek(0)
    with transaction.atomic():
        job = ImportJob(
            kind=kind,
            original_name=(name or getattr(upload, "name", None) or "upload.csv")[:255],
            file_sha256=checked.sha256,
            delimiter=checked.delimiter,
            options=options or {},
            actor_kind=actor.kind,
            actor_id=str(actor.id),
            actor_label=actor.label[:150],
        )
        job.file.save(job.original_name.rsplit("/", 1)[-1], upload, save=False)
        job.save()
        audit_record(actor=actor, action="import.upload", target=job,
                     after={"kind": kind, "file": job.original_name, "sha256": job.file_sha256})
        from core.tasks import import_run

        transaction.on_commit(lambda: import_run.delay(job.pk))
    return job


def _iter_rows(job: ImportJob) -> Iterator[CsvRow]:
    # Opened through the storage, not job.file.open(): this may run in the reader thread, and
    # FieldFile.open() would change the job object the main thread holds.
    with job.file.storage.open(job.file.name, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, delimiter=job.delimiter or ",")
        header = [c.strip().lower() for c in next(reader, [])]
        yield from _records(reader, header, 0)


def _records(reader: Any, header: list[str], offset: int) -> Iterator[CsvRow]:
    """CsvRows of a csv.reader; `offset` is added to its line numbers (a chunk read on its own)."""
    width = len(header)
    strip = str.strip
    for values in reader:
        if not "".join(values).strip():
            continue  # a blank line, or only separators
        if len(values) != width:
            yield CsvRow(reader.line_num + offset, {"__error__": f"expected {width} columns, found {len(values)}"})
            continue
        yield CsvRow(reader.line_num + offset, dict(zip(header, map(strip, values))))


def raw_chunk_rows(chunk: RawChunk, lines: set[int] | None = None) -> list[CsvRow]:
    """The chunk's records parsed in Python as `_iter_rows` would (all, or only `lines`)."""
    text = chunk.data.decode("utf-8")
    if lines is not None:
        # Only the lines asked for (error rows of a raw chunk, for the report): one per line
        # in a plain file, so line n of the file is element n - first_line.
        split = text.split("\n")
        picked = sorted(n for n in lines if 0 <= n - chunk.first_line < chunk.rows)
        return [row for n in picked
                for row in _records(csv.reader([split[n - chunk.first_line]], delimiter=chunk.delimiter),
                                    chunk.columns, n - 1)]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=chunk.delimiter)
    return list(_records(reader, chunk.columns, chunk.first_line - 1))


# A line of only separators and blanks: read as no record by `_iter_rows`, so a file with one
# is not "plain" (its record count would differ from its line count).
_BLANK_LINE = re.compile(rb"(?:^|\n)[ \t;,]*\r?\n")


def _plain_file(job: ImportJob) -> bool:
    """True when every line after the header is one record: no quote character anywhere (so no
    quoted separator or newline) and no blank line. Such a file can be COPYed as it is, and its
    line numbers and record counts are plain line counts. A C-speed scan of the file."""
    with job.file.storage.open(job.file.name, "rb") as raw:
        raw.readline()  # the header
        carry = b""
        for block in iter(lambda: raw.read(1 << 22), b""):
            if b'"' in block:
                return False
            block = carry + block
            cut = block.rfind(b"\n") + 1
            lines, carry = block[:cut], block[cut:]
            # literal searches first (memchr speed); the regex only when one of them hits
            if (lines[:1] in (b"\n", b"\r", b" ", b"\t", b";", b",") or b"\n\n" in lines or b"\n\r" in lines
                    or b"\n;" in lines or b"\n," in lines or b"\n " in lines or b"\n\t" in lines) \
                    and _BLANK_LINE.search(lines):
                return False
        return not carry or bool(carry.strip(b" \t;,\r"))


def _raw_chunks(job: ImportJob, chunk_size: int, *, skip: int) -> Iterator[RawChunk]:
    """The file after its header in chunks of about `chunk_size` lines, cut at line ends.
    `skip` lines (records, in a plain file) were committed by an earlier run (resume)."""
    with job.file.storage.open(job.file.name, "rb") as raw:
        header_text = raw.readline().decode("utf-8-sig").strip("\r\n")
        delimiter = job.delimiter or ","
        columns = [c.strip().lower() for c in next(csv.reader([header_text], delimiter=delimiter), [])]
        line = 2  # the next line's number
        pending: list[bytes] = []
        count = 0
        leftover = b""
        for block in iter(lambda: raw.read(1 << 20), b""):
            block = leftover + block
            cut = block.rfind(b"\n") + 1
            block, leftover = block[:cut], block[cut:]
            if skip:
                lines = block.count(b"\n")
                if lines <= skip:
                    skip -= lines
                    line += lines
                    continue
                at = 0
                for _ in range(skip):
                    at = block.index(b"\n", at) + 1
                line += skip
                block, skip = block[at:], 0
            pending.append(block)
            count += block.count(b"\n")
            while count >= chunk_size:  # cut after exactly chunk_size lines; the rest starts the next chunk
                data = b"".join(pending)
                at = len(data)
                for _ in range(count - chunk_size):
                    at = data.rindex(b"\n", 0, at - 1) + 1
                yield RawChunk(line, chunk_size, data[:at], columns, delimiter)
                line += chunk_size
                count -= chunk_size
                pending = [data[at:]] if count else []
        if leftover:  # the last line has no newline
            if skip:
                skip -= 1
            else:
                pending.append(leftover + b"\n")
                count += 1
        if count:
            yield RawChunk(line, count, b"".join(pending), columns, delimiter)


def _count_lines(job: ImportJob) -> int:
    count = 0
    with job.file.open("rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            count += block.count(b"\n")
    return max(0, count - 1)  # minus the header (a missing final newline is a rounding detail)


def import_job_run(*, job_id: int) -> ImportJob:
    """Process a job from where it stopped. Safe to call again after a crash."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.finished:
            return job
        if job.state == ImportJob.State.PENDING:
            job.state = ImportJob.State.RUNNING
            job.started_at = timezone.now()
            job.save(update_fields=["state", "started_at"])
    importer = importer_get(job.kind)
    if job.rows_total is None:
        job.rows_total = _count_lines(job)
        ImportJob.objects.filter(pk=job.pk).update(rows_total=job.rows_total)

    try:
        context = importer.context(job)
        if importer.takes_raw() and _plain_file(job):
            for chunk in _raw_chunks(job, importer.chunk_size, skip=job.rows_done):
                _run_raw_chunk(importer, job, chunk, context)
        else:
            for rows, prepared in _prepared_chunks(importer, job, context, skip=job.rows_done):
                _run_chunk(importer, job, rows, prepared, context)
        importer.finish(job)
    except Exception as exc:
        logger.exception("import %s failed", job.pk)
        ImportJob.objects.filter(pk=job.pk).update(
            state=ImportJob.State.FAILED, error_message=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job

    job.refresh_from_db()
    if job.rows_failed:
        _save_report(job)
    job.state = ImportJob.State.DONE_WITH_ERRORS if job.rows_failed else ImportJob.State.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["state", "finished_at", "report"])
    return job


_DONE = object()


def _split(rows: list[CsvRow]) -> tuple[list[RowError], list[CsvRow]]:
    malformed = [RowError(r.line, r.values["__error__"]) for r in rows if "__error__" in r.values]
    good = [r for r in rows if "__error__" not in r.values] if malformed else rows
    return malformed, good


def _prepared_chunks(importer: Importer, job: ImportJob, context: Any, *, skip: int) -> Iterator[tuple[list[CsvRow], Any]]:
    """(rows, prepared) per chunk, read and prepared by a helper thread one chunk ahead.

    The queue holds one chunk, so at most three are alive (read, waiting, applied): memory stays
    bounded. `skip` rows were committed by an earlier run of this job (resume)."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            seen = 0
            chunk: list[CsvRow] = []
            for row in _iter_rows(job):
                seen += 1
                if seen <= skip:
                    continue
                chunk.append(row)
                if len(chunk) >= importer.chunk_size:
                    _, good = _split(chunk)
                    if not put((chunk, importer.prepare_chunk(job, good, context) if good else None)):
                        return
                    chunk = []
            if chunk:
                _, good = _split(chunk)
                if not put((chunk, importer.prepare_chunk(job, good, context) if good else None)):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the main thread, which re-raises it
            put(exc)

    reader = threading.Thread(target=produce, name=f"import-{job.pk}-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join(timeout=30)


def _run_chunk(importer: Importer, job: ImportJob, rows: list[CsvRow], prepared: Any = None,
               context: Any = None) -> None:
    """One chunk, one transaction: the importer's writes, the bad rows and the progress together."""
    malformed, good = _split(rows)
    if prepared is None and good:
        prepared = importer.prepare_chunk(job, good, context)
    with transaction.atomic():
        _fast_commit()
        errors = malformed + (importer.apply_chunk(job, prepared, context) if good else [])
        _record(job, len(rows), errors, lambda: {r.line: r.values for r in good})


def _fast_commit() -> None:
    # A chunk's rows and the job's progress commit together and a run resumes after the last
    # committed chunk, so a commit lost in a server crash only means that chunk is imported again
    # (importers are idempotent). Not waiting for the WAL flush at each commit is then safe.
    with connection.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit = off")


def _run_raw_chunk(importer: Importer, job: ImportJob, chunk: RawChunk, context: Any) -> None:
    """One raw chunk, one transaction. If COPY refuses the chunk (e.g. a line with a wrong
    number of cells, a stray carriage return), its savepoint is rolled back and the chunk is
    parsed in Python and done by prepare_chunk/apply_chunk: same rows, same errors."""
    with transaction.atomic():
        _fast_commit()
        try:
            with transaction.atomic():
                errors = importer.apply_raw(job, chunk, context)
        except (DataError, psycopg.errors.DataError) as exc:
            logger.info("import %s: lines from %s done row by row (%s)", job.pk, chunk.first_line, exc)
            rows = raw_chunk_rows(chunk)
            malformed, good = _split(rows)
            errors = malformed + (importer.apply_chunk(job, importer.prepare_chunk(job, good, context), context)
                                  if good else [])
            _record(job, len(rows), errors, lambda: {r.line: r.values for r in good})
            return
        _record(job, chunk.rows, errors,
                lambda: {r.line: r.values for r in raw_chunk_rows(chunk, {e.line for e in errors})})


def _record(job: ImportJob, rows: int, errors: list[RowError], values: Callable[[], dict[int, dict[str, str]]]) -> None:
    """The chunk's bad rows (with their cells, for the report) and the job's progress."""
    reasons: dict[int, list[str]] = {}
    for error in errors:
        reasons.setdefault(error.line, []).append(error.reason)
    values_by_line = values() if reasons else {}
    ImportRowError.objects.bulk_create(
        [
            ImportRowError(job=job, line=line, reason="; ".join(why)[:500], values=values_by_line.get(line, {}))
            for line, why in sorted(reasons.items())
        ],
        batch_size=2000,
    )
    ImportJob.objects.filter(pk=job.pk).update(
        rows_done=F("rows_done") + rows,
        rows_failed=F("rows_failed") + len(reasons),
        rows_ok=F("rows_ok") + rows - len(reasons),
    )


def _save_report(job: ImportJob) -> None:
    """The downloadable report: line, reason, then the row as it was in the file."""
    columns: list[str] = []
    with job.file.open("rb") as raw:
        header = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="").readline()
        columns = [c.strip().lower() for c in next(csv.reader([header], delimiter=job.delimiter or ","), [])]
    with tempfile.TemporaryFile("w+b") as spool:  # on disk: a report of a million bad rows stays out of memory
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(["line", "reason", *columns])
        for error in job.row_errors.order_by("line").iterator(chunk_size=5000):
            writer.writerow([error.line, error.reason, *(error.values.get(c, "") for c in columns)])
        text.flush()
        spool.seek(0)
        if job.report:
            job.report.delete(save=False)
        job.report.save(f"import-{job.pk}-errors.csv", File(spool), save=False)
        text.detach()
