"""Static segment members from a CSV of identifiers (core.imports framework).

    identifier_type;identifier
    card;7000000000000001
    phone;+7 916 000-00-02
    external_uid;demo-003

Types: card (number, or barcode), phone, email, external_uid. Each chunk is resolved with one
query (phones and emails normalised as crm stores them; a phone held unverified by several
customers is ambiguous; merged customers lead to the customer they were merged into) and the
customers are staged under the job. After the last chunk the staged set is applied to the
segment in one transaction: added, or made the whole membership when the job's options say
`replace`. The segment comes from the job's options: upload from the segment's admin page or
`POST /api/v1/segments/{id}/members/upload`.
"""
from __future__ import annotations

from core.actors import Actor
from core.errors import DomainError
from core.imports import CsvRow, Importer, RowError, register_importer
from core.models import ImportJob

TYPES = {"card": "card", "card_number": "card", "barcode": "card", "phone": "phone", "email": "email",
         "external_uid": "external_uid"}

_RESOLVE = """
WITH RECURSIVE input (line, kind, value) AS (SELECT * FROM unnest(%s::int[], %s::text[], %s::text[])),
found (line, customer_id, bound) AS (
    SELECT i.line, k.customer_id, k.customer_id IS NOT NULL FROM input i
    JOIN crm_card k ON k.number = i.value WHERE i.kind = 'card'
  UNION ALL
    SELECT i.line, k.customer_id, k.customer_id IS NOT NULL FROM input i
    JOIN crm_card k ON k.barcode = i.value WHERE i.kind = 'card'
  UNION ALL
    SELECT i.line, c.id, true FROM input i JOIN crm_customer c ON c.external_uid = i.value WHERE i.kind = 'external_uid'
  UNION ALL
    SELECT i.line,
           CASE WHEN bool_or(n.verified) THEN min(n.customer_id) FILTER (WHERE n.verified)
                WHEN count(DISTINCT n.customer_id) = 1 THEN min(n.customer_id) END,
           true
    FROM input i JOIN crm_notifier n ON n.kind = i.kind AND n.value = i.value
    WHERE i.kind IN ('phone', 'email') GROUP BY i.line
),
hops (line, customer_id, depth) AS (
    SELECT line, customer_id, 0 FROM found WHERE customer_id IS NOT NULL
  UNION ALL
    SELECT h.line, c.merged_into_id, h.depth + 1 FROM hops h JOIN crm_customer c ON c.id = h.customer_id
    WHERE c.state = 'merged' AND h.depth < 10
)
SELECT f.line, f.bound, (SELECT h.customer_id FROM hops h WHERE h.line = f.line ORDER BY h.depth DESC LIMIT 1)
FROM found f
"""


def _normalise(kind: str, raw: str) -> str:
    from crm.identifiers import card_code_normalize, email_normalize, phone_normalize

    if kind == "phone":
        return phone_normalize(raw, field="identifier")
    if kind == "email":
        return email_normalize(raw, field="identifier")
    if kind == "card":
        return card_code_normalize(raw, field="identifier", max_length=128)
    text = raw.strip()
    if not text or len(text) > 64:
        raise DomainError("identifier_invalid", "External UID is empty or longer than 64.", field="identifier")
    return text


@register_importer
class StaticMembersImporter(Importer):
    kind = "segments.static_members"
    label = "Static segment members"
    required_columns = ("identifier_type", "identifier")
    permission = "segments.change_segment"
    chunk_size = 5000

    def process_chunk(self, job: ImportJob, rows: list[CsvRow]) -> list[RowError]:
        from django.db import connection

        errors: list[RowError] = []
        if not job.options.get("segment_id"):
            return [RowError(row.line, "No segment chosen: upload from the segment's page "
                                       "(or POST /api/v1/segments/{id}/members/upload).") for row in rows]
        lines, kinds, values = [], [], []
        for row in rows:
            kind = TYPES.get(row.values["identifier_type"].strip().lower())
            if kind is None:
                errors.append(RowError(row.line, f"identifier_type: '{row.values['identifier_type']}' is not one of "
                                                 f"{', '.join(sorted(TYPES))}"))
                continue
            try:
                value = _normalise(kind, row.values["identifier"])
            except DomainError as exc:
                errors.append(RowError(row.line, f"identifier: {exc.message}"))
                continue
            lines.append(row.line)
            kinds.append(kind)
            values.append(value)
        if not lines:
            return errors
        with connection.cursor() as cursor:
            cursor.execute(_RESOLVE, [lines, kinds, values])
            resolved: dict[int, tuple[bool, int | None]] = {}
            for line, bound, customer_id in cursor.fetchall():
                if line not in resolved or (customer_id and not resolved[line][1]):
                    resolved[line] = (bound, customer_id)
            customers = sorted({c for _, c in resolved.values() if c})
            cursor.execute("INSERT INTO segments_staticuploadrow (job_id, customer_id) SELECT %s, unnest(%s::bigint[]) "
                           "ON CONFLICT DO NOTHING", [job.pk, customers])
        for line, kind in zip(lines, kinds):
            bound, customer_id = resolved.get(line, (True, None))
            if customer_id:
                continue
            if not bound:
                errors.append(RowError(line, "identifier: the card is not bound to a customer"))
            elif line in resolved and kind in ("phone", "email"):
                errors.append(RowError(line, f"identifier: several customers have this {kind} unverified"))
            else:
                errors.append(RowError(line, f"identifier: no customer with this {kind.replace('_', ' ')}"))
        return errors

    def finish(self, job: ImportJob) -> None:
        from segments.services import segment_members_apply_upload

        segment_id = job.options.get("segment_id")
        if not segment_id:
            return
        actor = Actor(kind=job.actor_kind or "system", id=job.actor_id, label=job.actor_label or "import")  # type: ignore[arg-type]
        segment_members_apply_upload(segment_id=int(segment_id), job_id=job.pk, replace=bool(job.options.get("replace")),
                                     actor=actor)
