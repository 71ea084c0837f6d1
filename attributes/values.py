"""Typed values: parse what a CSV cell, an API field or an operator typed into the Python value of
an attribute's type, and map it onto the storage columns of `attributes_value`.

Pure functions, no database: imports call them once per row, so they are kept cheap.
`ValueError` carries a message fit to show the person who typed the value.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from attributes.models.definitions import Attribute

VT = Attribute.ValueType
MAX_TEXT = 1000  # btree index entries must stay well under PostgreSQL's ~2.7 kB limit
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
DEC_LIMIT = Decimal("1e16")  # numeric(20, 4)

_TRUE = frozenset({"true", "1", "yes", "y", "t", "да", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "f", "нет", "off"})
_INT = re.compile(r"^[+-]?\d+$")
_RU_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")

# The storage column of each value type (exactly one is set on a row).
COLUMN = {
    VT.BOOLEAN: "value_bool",
    VT.INTEGER: "value_int",
    VT.DECIMAL: "value_dec",
    VT.STRING: "value_text",
    VT.CHOICE: "value_text",
    VT.DATE: "value_date",
    VT.MULTI_CHOICE: "value_list",
}
COLUMNS = ("value_bool", "value_int", "value_dec", "value_text", "value_date", "value_list")


def parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"'{raw}' is not yes/no (use true or false).")


def parse_int(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError("Expected a whole number, got true/false.")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    else:
        text = str(raw).strip().replace(" ", "")
        if not _INT.match(text):
            raise ValueError(f"'{raw}' is not a whole number.")
        value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise ValueError(f"{value} is too large.")
    return value


def parse_decimal(raw: object, *, places: int = 4) -> Decimal:
    if isinstance(raw, bool):
        raise ValueError("Expected a number, got true/false.")
    if isinstance(raw, Decimal):
        value = raw
    else:
        text = (repr(raw) if isinstance(raw, float) else str(raw)).strip().replace(" ", "")
        if "," in text and "." not in text:
            text = text.replace(",", ".")  # decimal comma, common in ';'-separated files
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"'{raw}' is not a number.") from None
    if not value.is_finite():
        raise ValueError(f"'{raw}' is not a number.")
    if abs(value) >= DEC_LIMIT:
        raise ValueError(f"{value} is too large.")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise ValueError(f"{raw}: at most {places} digit(s) after the point." if places else f"'{raw}' is not a whole number.")
    return value


def parse_date(raw: object) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = str(raw).strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    match = _RU_DATE.match(text)
    if match:
        day, month, year = (int(part) for part in match.groups())
        try:
            return dt.date(year, month, day)
        except ValueError:
            pass
    raise ValueError(f"'{raw}' is not a date (YYYY-MM-DD).")


def parse_text(raw: object, *, max_length: int = MAX_TEXT) -> str:
    if isinstance(raw, (dict, list)):
        raise ValueError("Expected text.")
    text = str(raw).strip()
    if len(text) > max_length:
        raise ValueError(f"At most {max_length} characters ({len(text)} given).")
    return text


def parse_choice(raw: object, options: Sequence[str]) -> str:
    text = parse_text(raw)
    if text not in options:
        raise ValueError(f"'{text}' is not one of: {', '.join(options)}.")
    return text


def parse_multi(raw: object, options: Sequence[str]) -> list[str]:
    if isinstance(raw, str):
        parts = [p.strip() for p in re.split(r"[|,]", raw) if p.strip()]
    elif isinstance(raw, (list, tuple)):
        parts = [parse_text(p) for p in raw]
    else:
        raise ValueError("Expected a list of options.")
    unknown = [p for p in parts if p not in options]
    if unknown:
        raise ValueError(f"{', '.join(repr(u) for u in unknown)}: not among {', '.join(options)}.")
    return list(dict.fromkeys(parts))


def is_blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, (list, tuple)) and not raw)


def value_parse(value_type: str, raw: object, *, options: Sequence[str] = (), places: int = 4) -> Any:
    """The typed value, or ValueError with the reason. Blank input is the caller's business."""
    if value_type == VT.BOOLEAN:
        return parse_bool(raw)
    if value_type == VT.INTEGER:
        return parse_int(raw)
    if value_type == VT.DECIMAL:
        return parse_decimal(raw, places=places)
    if value_type == VT.STRING:
        return parse_text(raw)
    if value_type == VT.DATE:
        return parse_date(raw)
    if value_type == VT.CHOICE:
        return parse_choice(raw, options)
    if value_type == VT.MULTI_CHOICE:
        return parse_multi(raw, options)
    raise ValueError(f"Values of type '{value_type}' are not stored here.")


def value_columns(value_type: str, value: Any) -> dict[str, Any]:
    """{column: value} for all six typed columns, the type's one set and the others None."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row[COLUMN[VT(value_type)]] = value
    return row


def value_to_json(value: Any) -> Any:
    """API form: dates ISO, decimals as strings (no floats), lists as lists."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f").rstrip("0")
    return value
