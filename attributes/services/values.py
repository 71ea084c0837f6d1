"""Writing attribute values of one customer (operators, the call center, the customer app)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection, transaction

from attributes.models import Attribute, AttributeValue
from attributes.values import COLUMNS, is_blank, value_columns, value_parse, value_to_json
from core.actors import Actor
from core.errors import DomainError, NotFound
from core.services import audit_record, event_emit

_UPSERT = f"""
INSERT INTO attributes_value (customer_id, attribute_id, {", ".join(COLUMNS)}, updated_at)
VALUES (%s, %s, {", ".join(["%s"] * len(COLUMNS))}, now())
ON CONFLICT (customer_id, attribute_id) DO UPDATE SET
  {", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS)}, updated_at = now()
WHERE ({", ".join(f"attributes_value.{c}" for c in COLUMNS)}) IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in COLUMNS)})
"""


def values_write(*, customer_id: int, values: Mapping[Attribute, Any]) -> dict[str, tuple[Any, Any]]:
    """Store typed values (None = clear) of one customer; return {code: (before, after)} of what changed.

    Call inside a transaction that holds the customer's row lock (see `customer_lock`).
    """
    if not values:
        return {}
    current = {
        row.attribute_id: row.value
        for row in AttributeValue.objects.filter(customer_id=customer_id, attribute_id__in=[a.pk for a in values])
    }
    changed: dict[str, tuple[Any, Any]] = {}
    upserts: list[list[Any]] = []
    clears: list[int] = []
    for attribute, value in values.items():
        before = current.get(attribute.pk)
        if before == value:
            continue
        changed[attribute.code] = (value_to_json(before), value_to_json(value))
        if value is None:
            clears.append(attribute.pk)
        else:
            columns = value_columns(attribute.value_type, value)
            upserts.append([customer_id, attribute.pk, *(columns[c] for c in COLUMNS)])
    with connection.cursor() as cursor:
        if upserts:
            cursor.executemany(_UPSERT, upserts)
        if clears:
            cursor.execute("DELETE FROM attributes_value WHERE customer_id = %s AND attribute_id = ANY(%s)",
                           [customer_id, clears])
    return changed


def customer_lock(customer_id: int) -> None:
    """Serialise writers of one customer's answers and values (row lock until commit)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM crm_customer WHERE id = %s FOR UPDATE", [customer_id])
        if cursor.fetchone() is None:
            raise NotFound("not_found", f"No customer {customer_id}.")


@transaction.atomic
def attribute_values_set(*, customer_id: int, values: Mapping[str, Any], actor: Actor,
                         by_customer: bool = False) -> dict[str, Any]:
    """Set generic attributes of a customer by code (None or "" clears). All or nothing, with an
    error per field (`values.<code>`). Returns the customer's values of those attributes after."""
    if not isinstance(values, Mapping):
        raise DomainError("validation_error", "values: expected an object {code: value}.", field="values")
    customer_lock(customer_id)
    attributes = {a.code: a for a in Attribute.objects.filter(code__in=list(values))}
    errors: dict[str, list[str]] = {}
    typed: dict[Attribute, Any] = {}
    for code, raw in values.items():
        field = f"values.{code}"
        attribute = attributes.get(code)
        if attribute is None:
            errors[field] = ["Unknown attribute."]
            continue
        if attribute.kind != Attribute.Kind.GENERIC:
            where = "the questionnaire" if attribute.kind == Attribute.Kind.QUESTIONNAIRE else f"its owner ({attribute.get_kind_display()})"
            errors[field] = [f"Not a generic attribute: it is set through {where}."]
            continue
        if not attribute.is_active:
            errors[field] = ["This attribute is retired."]
            continue
        if by_customer and not attribute.editable_by_customer:
            errors[field] = ["Not editable by the customer."]
            continue
        if is_blank(raw):
            typed[attribute] = None
            continue
        try:
            typed[attribute] = value_parse(attribute.value_type, raw, options=attribute.option_codes())
        except ValueError as exc:
            errors[field] = [str(exc)]
    if errors:
        raise DomainError("validation_error", f"Invalid input: {', '.join(sorted(errors))}.",
                          extra={"errors": errors})
    changed = values_write(customer_id=customer_id, values=typed)
    if changed:
        audit_record(actor=actor, action="attributes.set", object_type="crm.customer", object_id=customer_id,
                     before={k: v[0] for k, v in changed.items()}, after={k: v[1] for k, v in changed.items()})
        event_emit(kind="customer.attributes_changed", customer_id=customer_id, payload={"attributes": sorted(changed)})
    return {code: value_to_json(value) for code, value in ((a.code, v) for a, v in typed.items())}
