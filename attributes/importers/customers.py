"""Import of customers with their card, phone and email, upserted by external_uid.

Columns: `external_uid` (required); optional `first_name`, `last_name`, `middle_name`, `gender`
(male/female), `birth_date`, `phone`, `email`, `card` (number), `card_barcode`.

Rules:
- A new external_uid creates a registered customer (channel import) with an account in the
  default currency; an existing one gets the non-empty cells (an empty cell changes nothing).
- Phone and email become the customer's primary, verified contacts: the retailer vouches for its
  own base, and they identify the customer at the till. A contact that is already a verified
  contact of another customer is refused for that row.
- A card number not yet known is issued (active) to the customer and linked to the account; a
  known card without an owner is given to the customer; a card of another customer is refused.
- Within one chunk, a second row with the same external_uid, card, phone or email is refused
  (its line says which earlier line has it); across chunks the later row updates the earlier.
Chunks are serialised by an advisory lock, so two customer imports never race on new ids.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from attributes.contacts import PhoneRules, email_normalize, phone_normalize, phone_rules
from attributes.importers.common import (
    NULL,
    Prepared,
    copy_text,
    cursor,
    errors_from,
    index_lookups,
    stage_text,
    statistics_refresh,
)
from attributes.importers.values import job_actor
from attributes.values import parse_date
from core.imports import CsvRow, Importer, RowError, register_importer
from core.models import ImportJob
from core.services import audit_record

LOCK_KEY = 774412  # pg_advisory_xact_lock: one customer-import chunk at a time
_CARD = re.compile(r"^[0-9A-Za-z\-_=?;%^/.:]{1,32}$")
_GENDER = {"male": "male", "m": "male", "м": "male", "муж": "male", "female": "female", "f": "female",
           "ж": "female", "жен": "female"}
# Identifier columns are varchar like the columns they are matched with: a text = varchar
# comparison casts the table's column, which keeps the planner off its unique indexes (measured:
# a verified-phone lookup turned into a nested loop over every verified phone, minutes per chunk).
_STAGE = [("line", "int"), ("external_uid", "varchar"), ("first_name", "text"), ("last_name", "text"),
          ("middle_name", "text"), ("gender", "text"), ("birth_date", "date"), ("phone", "varchar"), ("email", "varchar"),
          ("card", "varchar"), ("barcode", "varchar")]

# One pass resolves everything the writes need, and hands out the ids of new rows (customers,
# cards, accounts) from their sequences, so every write below is a projection of this table:
# no write looks up what another wrote. %(currency)s is the default currency.
_RESOLVE = """
CREATE TEMP TABLE import_customers_r ON COMMIT DROP AS
SELECT f.*,
       COALESCE(f.existing_id, nextval(%(customer_seq)s::regclass)) AS customer_id,
       CASE WHEN f.card IS NOT NULL AND f.card_id IS NULL THEN nextval(%(card_seq)s::regclass) END AS new_card_id,
       CASE WHEN f.account_id IS NULL THEN nextval(%(account_seq)s::regclass) END AS new_account_id
FROM (
  SELECT s.*, c.id AS existing_id, c.state AS existing_state,
         k.id AS card_id, k.customer_id AS card_owner, b.number AS barcode_card,
         CASE WHEN c.id IS NOT NULL THEN (SELECT min(a.id) FROM crm_account a
                                          WHERE a.customer_id = c.id AND a.currency_id = %(currency)s) END AS account_id,
         pn.customer_id AS phone_owner, en.customer_id AS email_owner
  FROM import_customers s
  LEFT JOIN crm_customer c ON c.external_uid = s.external_uid
  LEFT JOIN crm_card k ON k.number = s.card
  LEFT JOIN crm_card b ON b.barcode = s.barcode
  LEFT JOIN crm_notifier pn ON pn.kind = 'phone' AND pn.value = s.phone AND pn.verified
  LEFT JOIN crm_notifier en ON en.kind = 'email' AND en.value = s.email AND en.verified
  OFFSET 0  -- keep the sequences out of the joins: one nextval per row that needs it
) AS f
"""

_CONFLICTS = """
SELECT line, reason FROM (
  SELECT line, 'external_uid: customer ' || existing_id || ' was merged; import into the customer it was merged into' AS reason
    FROM import_customers_r WHERE existing_state = 'merged'
  UNION ALL SELECT line, 'card: ' || card || ' belongs to another customer'
    FROM import_customers_r WHERE card_owner IS NOT NULL AND card_owner <> customer_id
  UNION ALL SELECT line, 'card_barcode: ' || barcode || ' is the barcode of card ' || barcode_card
    FROM import_customers_r WHERE barcode_card IS NOT NULL AND barcode_card IS DISTINCT FROM card
  UNION ALL SELECT line, 'phone: ' || phone || ' is a verified contact of another customer'
    FROM import_customers_r WHERE phone_owner IS NOT NULL AND phone_owner <> customer_id
  UNION ALL SELECT line, 'email: ' || email || ' is a verified contact of another customer'
    FROM import_customers_r WHERE email_owner IS NOT NULL AND email_owner <> customer_id
) AS bad ORDER BY line
"""

_NOTIFIER_COLUMNS = "(customer_id, kind, value, verified, verified_at, is_primary, created_at)"

# Statements applied to the rows left after the conflicts are removed. New customers' rows are
# plain INSERTs (nothing can conflict: the customer did not exist); only existing customers pay
# for ON CONFLICT arbitration.
_WRITES: list[tuple[str, str]] = [
    ("created", """
INSERT INTO crm_customer (id, external_uid, first_name, last_name, middle_name, gender, birth_date, state,
                          registered_at, registration_channel, timezone, blocked_reason, created_at, updated_at)
SELECT customer_id, external_uid, COALESCE(first_name, ''), COALESCE(last_name, ''), COALESCE(middle_name, ''),
       COALESCE(gender, ''), birth_date, 'registered', now(), 'import', 'UTC', '', now(), now()
FROM import_customers_r WHERE existing_id IS NULL
"""),
    ("updated", """
UPDATE crm_customer c SET
  first_name = COALESCE(r.first_name, c.first_name), last_name = COALESCE(r.last_name, c.last_name),
  middle_name = COALESCE(r.middle_name, c.middle_name), gender = COALESCE(r.gender, c.gender),
  birth_date = COALESCE(r.birth_date, c.birth_date),
  state = CASE WHEN c.state = 'anonymous' THEN 'registered' ELSE c.state END,
  registered_at = COALESCE(c.registered_at, now()), updated_at = now()
FROM import_customers_r r
WHERE r.existing_id IS NOT NULL AND c.id = r.existing_id AND (
  (COALESCE(r.first_name, c.first_name), COALESCE(r.last_name, c.last_name), COALESCE(r.middle_name, c.middle_name),
   COALESCE(r.gender, c.gender), COALESCE(r.birth_date, c.birth_date), c.state = 'anonymous')
  IS DISTINCT FROM (c.first_name, c.last_name, c.middle_name, c.gender, c.birth_date, false))
"""),
    ("contacts_new", f"""
INSERT INTO crm_notifier {_NOTIFIER_COLUMNS}
SELECT customer_id, 'phone', phone, true, now(), true, now() FROM import_customers_r
WHERE existing_id IS NULL AND phone IS NOT NULL
UNION ALL
SELECT customer_id, 'email', email, true, now(), true, now() FROM import_customers_r
WHERE existing_id IS NULL AND email IS NOT NULL
"""),
    ("contacts_demoted", """
UPDATE crm_notifier n SET is_primary = false FROM import_customers_r r
WHERE r.existing_id IS NOT NULL AND n.customer_id = r.customer_id AND n.is_primary
  AND ((n.kind = 'phone' AND n.value <> r.phone) OR (n.kind = 'email' AND n.value <> r.email))
"""),
    ("contacts_existing", f"""
INSERT INTO crm_notifier {_NOTIFIER_COLUMNS}
SELECT customer_id, kind, value, true, now(), true, now() FROM (
  SELECT customer_id, 'phone' AS kind, phone AS value FROM import_customers_r WHERE existing_id IS NOT NULL AND phone IS NOT NULL
  UNION ALL
  SELECT customer_id, 'email', email FROM import_customers_r WHERE existing_id IS NOT NULL AND email IS NOT NULL
) AS contacts
ON CONFLICT (customer_id, kind, value) DO UPDATE SET verified = true, is_primary = true,
  verified_at = COALESCE(crm_notifier.verified_at, now())
WHERE NOT (crm_notifier.verified AND crm_notifier.is_primary)
"""),
    ("cards_issued", """
INSERT INTO crm_card (id, number, barcode, customer_id, kind, state, state_reason, issued_at, activated_at, updated_at)
SELECT new_card_id, card, barcode, customer_id, 'physical', 'active', '', now(), now(), now()
FROM import_customers_r WHERE new_card_id IS NOT NULL
"""),
    ("cards_assigned", """
UPDATE crm_card k SET customer_id = r.customer_id, barcode = COALESCE(r.barcode, k.barcode),
  state = CASE WHEN k.state = 'not_activated' THEN 'active' ELSE k.state END,
  activated_at = COALESCE(k.activated_at, now()), updated_at = now()
FROM import_customers_r r
WHERE r.card_id IS NOT NULL AND k.id = r.card_id AND (k.customer_id IS NULL
  OR (k.customer_id = r.customer_id AND r.barcode IS NOT NULL AND k.barcode IS DISTINCT FROM r.barcode))
"""),
    ("accounts", """
INSERT INTO crm_account (id, customer_id, currency_id, activated_balance, pending_balance, held_balance, created_at, updated_at)
SELECT new_account_id, customer_id, %(currency)s, 0, 0, 0, now(), now() FROM import_customers_r WHERE new_account_id IS NOT NULL
"""),
    ("cards_linked_new", """
INSERT INTO crm_cardaccount (card_id, account_id)
SELECT new_card_id, COALESCE(account_id, new_account_id) FROM import_customers_r WHERE new_card_id IS NOT NULL
"""),
    ("cards_linked_existing", """
INSERT INTO crm_cardaccount (card_id, account_id)
SELECT card_id, COALESCE(account_id, new_account_id) FROM import_customers_r WHERE card_id IS NOT NULL
ON CONFLICT (card_id, account_id) DO NOTHING
"""),
]


def default_currency_id(cur: Any) -> int:
    """The default bonus currency; 'points' is created (as default) when the program has none."""
    cur.execute("SELECT id FROM crm_currency WHERE is_default")
    row = cur.fetchone()
    if row:
        return row[0]
    cur.execute("INSERT INTO crm_currency (code, name, is_default) VALUES ('points', 'Points', true) "
                "ON CONFLICT (code) DO UPDATE SET is_default = true RETURNING id")
    return cur.fetchone()[0]


@dataclass
class Context:
    phones: PhoneRules
    today: dt.date


@register_importer
class CustomerImporter(Importer):
    kind = "attributes.customers"
    label = "Customers with card, phone and email (upsert by external_uid)"
    required_columns = ("external_uid",)
    optional_columns = ("first_name", "last_name", "middle_name", "gender", "birth_date", "phone", "email", "card",
                        "card_barcode")
    permission = "crm.add_customer"
    chunk_size = 50_000

    def context(self, job: ImportJob) -> Context:
        return Context(phones=phone_rules(), today=timezone.localdate())

    def prepare_chunk(self, job: ImportJob, rows: list[CsvRow], context: Context) -> Prepared:
        """Check and normalise every cell (reader thread); refuse in-file duplicates of the chunk."""
        out = Prepared(lines=(rows[0].line, rows[-1].line), rows=len(rows))
        payload, errors = out.payload, out.errors
        phones, today = context.phones, context.today
        earliest = dt.date(1900, 1, 1)
        seen: dict[str, dict[str, int]] = {"external_uid": {}, "card": {}, "phone": {}, "email": {}, "card_barcode": {}}
        for line, values in rows:
            get = values.get
            problems: list[str] = []
            uid = values["external_uid"]
            if not uid or len(uid) > 64:
                problems.append("external_uid: required, at most 64 characters")
            names = []
            for column in ("first_name", "last_name", "middle_name"):
                text = get(column) or None
                if text and len(text) > 100:
                    problems.append(f"{column}: at most 100 characters")
                names.append(text)
            gender = get("gender") or None
            if gender is not None:
                gender = _GENDER.get(gender.lower())
                if gender is None:
                    problems.append(f"gender: '{get('gender')}' is not male or female")
            birth_text = get("birth_date") or None
            birth = None
            if birth_text is not None:
                try:
                    birth = parse_date(birth_text)
                    if not earliest <= birth <= today:
                        problems.append(f"birth_date: {birth.isoformat()} is not a plausible birth date")
                except ValueError as exc:
                    problems.append(f"birth_date: {exc}")
            phone = get("phone") or None
            if phone is not None:
                try:
                    phone = phone_normalize(phone, phones)
                except ValueError as exc:
                    problems.append(f"phone: {exc}")
            email = get("email") or None
            if email is not None:
                try:
                    email = email_normalize(email)
                except ValueError as exc:
                    problems.append(f"email: {exc}")
            card = get("card") or None
            if card is not None and not _CARD.match(card):
                problems.append(f"card: '{card}' is not a card number (letters, digits, at most 32)")
            barcode = get("card_barcode") or None
            if barcode is not None:
                if card is None:
                    problems.append("card_barcode: give the card number too")
                elif len(barcode) > 64:
                    problems.append("card_barcode: at most 64 characters")
            if not problems:
                for column, key in (("external_uid", uid), ("card", card), ("phone", phone), ("email", email),
                                    ("card_barcode", barcode)):
                    if key is not None:
                        first = seen[column].setdefault(key, line)
                        if first != line:
                            problems.append(f"{column}: same as on line {first}")
            if problems:
                errors.append(RowError(line, "; ".join(problems)))
                continue
            payload.append("\t".join((
                str(line), copy_text(uid), copy_text(names[0]), copy_text(names[1]), copy_text(names[2]),
                gender or NULL, birth.isoformat() if birth else NULL, phone or NULL, copy_text(email),
                copy_text(card), copy_text(barcode),
            )) + "\n")
        return out

    def apply_chunk(self, job: ImportJob, prepared: Prepared, context: Context) -> list[RowError]:
        errors = list(prepared.errors)
        counts: dict[str, int] = {}
        if prepared.payload:
            with cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
                statistics_refresh(cur, ("crm_customer", "crm_card", "crm_notifier", "crm_account", "crm_cardaccount"))
                currency = default_currency_id(cur)
                stage_text(cur, "import_customers", _STAGE, prepared.payload, analyze=False)
                index_lookups(cur)
                cur.execute("SELECT pg_get_serial_sequence('crm_customer', 'id'), pg_get_serial_sequence('crm_card', 'id'), "
                            "pg_get_serial_sequence('crm_account', 'id')")
                customer_seq, card_seq, account_seq = cur.fetchone()  # looked up once, not per row
                params = {"currency": currency, "customer_seq": customer_seq, "card_seq": card_seq, "account_seq": account_seq}
                for attempt in (1, 2):
                    # A customer, card or contact created meanwhile by someone else (the app, the call
                    # center) makes an INSERT fail; the second pass resolves again and finds it.
                    try:
                        with transaction.atomic():
                            conflicts, counts = self._merge(cur, params)
                        break
                    except IntegrityError:
                        if attempt == 2:
                            raise
                errors += errors_from(conflicts)
        audit_record(actor=job_actor(job), action="import.customers.chunk", target=job,
                     after={"lines": list(prepared.lines), **counts, "failed": len(errors)})
        return errors

    @staticmethod
    def _merge(cur: Any, params: dict[str, Any]) -> tuple[list[tuple[int, str]], dict[str, int]]:
        """Resolve the staged rows, drop those in conflict, write the rest. Returns (conflicts, counts)."""
        cur.execute("DROP TABLE IF EXISTS import_customers_r")
        cur.execute(_RESOLVE, params)
        cur.execute(_CONFLICTS)
        conflicts = cur.fetchall()
        if conflicts:
            cur.execute("DELETE FROM import_customers_r WHERE line = ANY(%s)", [[line for line, _ in conflicts]])
        counts: dict[str, int] = {}
        for name, sql in _WRITES:
            cur.execute(sql, params)
            counts[name] = cur.rowcount
        return conflicts, counts

    def process_chunk(self, job: ImportJob, rows: list[CsvRow]) -> list[RowError]:
        context = self.context(job)
        return self.apply_chunk(job, self.prepare_chunk(job, rows, context), context)
