"""CSV import of the product catalogue, upserted by SKU.

Columns: `sku`, `name` (required); optional `price`, `category`, `brand`, `is_active` (yes/no),
`groups`. An optional column that is absent, or an empty cell, keeps what the product has (a new
product gets no price, no category or brand, active); `groups` (codes of listed product groups, `|`-separated: the
product's listed groups become exactly these when the column is present and not empty).
Rule groups (by category / brand) follow the product's category and brand automatically.
Set-based: the chunk is COPied into a temporary table and merged with one statement per table;
a row that changes nothing writes nothing, so a re-run is a no-op.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection

from core.actors import Actor
from core.imports import CsvRow, Importer, RowError, register_importer
from core.models import ImportJob
from core.services import audit_record

_TRUE = {"1", "true", "yes", "y", "да"}
_FALSE = {"0", "false", "no", "n", "нет"}

_UPDATE = """
UPDATE catalogue_product p SET name = s.name, price = COALESCE(s.price, p.price),
  category = COALESCE(s.category, p.category), brand = COALESCE(s.brand, p.brand),
  is_active = COALESCE(s.is_active, p.is_active), updated_at = now()
FROM import_products s
WHERE p.sku = s.sku AND (p.name, p.price, p.category, p.brand, p.is_active) IS DISTINCT FROM
  (s.name, COALESCE(s.price, p.price), COALESCE(s.category, p.category), COALESCE(s.brand, p.brand),
   COALESCE(s.is_active, p.is_active))
"""
_INSERT = """
INSERT INTO catalogue_product (sku, name, price, category, brand, is_active, created_at, updated_at)
SELECT sku, name, price, COALESCE(category, ''), COALESCE(brand, ''), COALESCE(is_active, true), now(), now()
FROM import_products s WHERE NOT EXISTS (SELECT 1 FROM catalogue_product p WHERE p.sku = s.sku)
ON CONFLICT (sku) DO NOTHING
"""

# Listed groups: exactly those named, for rows whose `groups` cell is not empty.
_LISTED_REMOVE = """
DELETE FROM catalogue_productgroupmembership m
USING import_products s, catalogue_product p, catalogue_productgroup g
WHERE s.groups IS NOT NULL AND p.sku = s.sku AND m.product_id = p.id AND g.id = m.group_id AND g.kind = 'listed'
  AND NOT (g.code = ANY(s.groups))
"""
_LISTED_ADD = """
INSERT INTO catalogue_productgroupmembership (group_id, product_id)
SELECT g.id, p.id FROM import_products s JOIN catalogue_product p ON p.sku = s.sku
JOIN catalogue_productgroup g ON g.code = ANY(s.groups) AND g.kind = 'listed'
WHERE s.groups IS NOT NULL
ON CONFLICT (group_id, product_id) DO NOTHING
"""
# Rule groups: a product belongs iff its category or brand is listed by the rule.
_RULE_MATCH = """(g.rule_categories ? p.category AND p.category <> '') OR (g.rule_brands ? p.brand AND p.brand <> '')"""
_RULE_REMOVE = f"""
DELETE FROM catalogue_productgroupmembership m
USING import_products s, catalogue_product p, catalogue_productgroup g
WHERE p.sku = s.sku AND m.product_id = p.id AND g.id = m.group_id AND g.kind = 'rule' AND NOT ({_RULE_MATCH})
"""
_RULE_ADD = f"""
INSERT INTO catalogue_productgroupmembership (group_id, product_id)
SELECT g.id, p.id FROM import_products s JOIN catalogue_product p ON p.sku = s.sku
JOIN catalogue_productgroup g ON g.kind = 'rule' AND ({_RULE_MATCH})
ON CONFLICT (group_id, product_id) DO NOTHING
"""


@register_importer
class ProductImporter(Importer):
    kind = "catalogue.products"
    label = "Products (upsert by SKU)"
    required_columns = ("sku", "name")
    optional_columns = ("price", "category", "brand", "is_active", "groups")
    permission = "catalogue.add_product"
    chunk_size = 20_000

    def process_chunk(self, job: ImportJob, rows: list[CsvRow]) -> list[RowError]:
        listed = set(_listed_group_codes())
        errors: list[RowError] = []
        staged: dict[str, tuple[Any, ...]] = {}
        first_line: dict[str, int] = {}
        for row in rows:
            values = row.values
            problems: list[str] = []
            sku, name = values["sku"], values["name"]
            if not sku or len(sku) > 64:
                problems.append("sku: required, at most 64 characters")
            if not name or len(name) > 300:
                problems.append("name: required, at most 300 characters")
            price: Decimal | None = None
            if values.get("price"):
                try:
                    price = Decimal(values["price"].replace(",", ".").replace(" ", ""))
                    if not price.is_finite() or price < 0 or price >= Decimal("1e12") or price != price.quantize(Decimal("0.01")):
                        raise InvalidOperation
                except InvalidOperation:
                    problems.append(f"price: '{values['price']}' is not an amount (≥ 0, 2 decimals)")
            category, brand = values.get("category") or None, values.get("brand") or None
            if len(category or "") > 120 or len(brand or "") > 120:
                problems.append("category and brand: at most 120 characters")
            active_text = values.get("is_active", "").lower()
            if active_text and active_text not in _TRUE | _FALSE:
                problems.append(f"is_active: '{values['is_active']}' is not yes or no")
            groups = [g.strip() for g in values.get("groups", "").split("|") if g.strip()] or None
            unknown = [g for g in groups or [] if g not in listed]
            if unknown:
                problems.append(f"groups: no listed product group {', '.join(unknown)}")
            if sku in first_line and not problems:
                problems.append(f"sku: same as on line {first_line[sku]}")
            if problems:
                errors.append(RowError(row.line, "; ".join(problems)))
                continue
            first_line[sku] = row.line
            active = None if not active_text else active_text not in _FALSE
            staged[sku] = (sku, name, price, category, brand, active, groups)
        if not staged:
            return errors
        counts: dict[str, int] = {}
        with connection.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS import_products")
            cur.execute("CREATE TEMP TABLE import_products (sku text, name text, price numeric(14,2), category text, "
                        "brand text, is_active boolean, groups text[]) ON COMMIT DROP")
            with cur.copy("COPY import_products FROM STDIN") as copy:
                for record in staged.values():
                    copy.write_row(record)
            for label, sql in (("updated", _UPDATE), ("created", _INSERT), ("listed_removed", _LISTED_REMOVE), ("listed_added", _LISTED_ADD),
                               ("rule_removed", _RULE_REMOVE), ("rule_added", _RULE_ADD)):
                cur.execute(sql)
                counts[label] = cur.rowcount
        audit_record(actor=Actor(kind=job.actor_kind or "system", id=job.actor_id, label=job.actor_label or "import"),  # type: ignore[arg-type]
                     action="import.products.chunk", target=job,
                     after={"lines": [rows[0].line, rows[-1].line], **counts, "failed": len(errors)})
        return errors


def _listed_group_codes() -> list[str]:
    from catalogue.models import ProductGroup

    return list(ProductGroup.objects.filter(kind=ProductGroup.Kind.LISTED).values_list("code", flat=True))
