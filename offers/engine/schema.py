"""Per-type parameter schemas for filters and actions, declared once.

A rule stores its filters and actions as JSON lists of objects, each with a `type`. Every type
declares its parameters here (`Param`); the same declaration

- validates and converts a stored object (`parse_params`), raising `SpecError(field, reason)` that
  the service layer turns into a field error (admin form, API, `DomainError`);
- compiles it into the typed values the engine evaluates (Decimal, date, time, frozenset);
- documents it: a JSON Schema for /api/schema/ and the help text of the admin form.

Why not jsonschema or a DRF serializer per type: the engine must stay free of Django, and it needs
typed values (Decimal, date) rather than a yes/no, so one small declarative layer serves the three
uses without a second copy of the rules drifting apart.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any


class SpecError(ValueError):
    """A stored filter or action is malformed. `field` is dotted within the object (e.g. `value`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # decimal, int, str, bool, date, datetime, time, choice, int_list, str_list, object, object_list
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    min: Decimal | int | None = None
    max: Decimal | int | None = None
    help: str = ""
    # For kind "object" / "object_list": the nested parameters.
    fields: tuple["Param", ...] = field(default_factory=tuple)


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or value is None or isinstance(value, float):
        # floats are refused on purpose: money is written as a string ("9.90") or an integer.
        raise SpecError(name, "must be a number written as a string or an integer, e.g. \"10.5\".")
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise SpecError(name, f"'{value}' is not a number.") from exc
    if not result.is_finite():
        raise SpecError(name, "must be a finite number.")
    return result


def _convert(param: Param, value: Any, path: str) -> Any:
    kind = param.kind
    if kind == "decimal":
        result: Any = _decimal(value, path)
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            else:
                raise SpecError(path, "must be an integer.")
        result = value
    elif kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise SpecError(path, "must be a non-empty string.")
        result = value.strip()
    elif kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(path, "must be true or false.")
        result = value
    elif kind == "choice":
        if value not in param.choices:
            raise SpecError(path, f"must be one of {', '.join(param.choices)}.")
        result = value
    elif kind == "date":
        try:
            result = dt.date.fromisoformat(str(value))
        except ValueError as exc:
            raise SpecError(path, "must be a date YYYY-MM-DD.") from exc
    elif kind == "datetime":
        try:
            result = dt.datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise SpecError(path, "must be a local date-time YYYY-MM-DDTHH:MM.") from exc
        if result.tzinfo is not None:
            raise SpecError(path, "is a local time of the store: give it without a time zone.")
    elif kind == "time":
        try:
            result = dt.time.fromisoformat(str(value))
        except ValueError as exc:
            raise SpecError(path, "must be a time HH:MM.") from exc
    elif kind in ("int_list", "str_list"):
        if not isinstance(value, list) or not value:
            raise SpecError(path, "must be a non-empty list.")
        item = Param(name=param.name, kind="int" if kind == "int_list" else "str", min=param.min, max=param.max,
                     choices=param.choices)
        items = []
        for index, raw in enumerate(value):
            converted = _convert(item, raw, f"{path}.{index}")
            if param.choices and converted not in param.choices:
                raise SpecError(f"{path}.{index}", f"must be one of {', '.join(map(str, param.choices))}.")
            items.append(converted)
        result = tuple(items)
    elif kind == "object":
        if not isinstance(value, Mapping):
            raise SpecError(path, "must be an object.")
        result = parse_params(value, param.fields, prefix=f"{path}.")
    elif kind == "object_list":
        if not isinstance(value, list) or not value:
            raise SpecError(path, "must be a non-empty list of objects.")
        result = tuple(
            parse_params(item, param.fields, prefix=f"{path}.{index}.") if isinstance(item, Mapping)
            else _raise(f"{path}.{index}", "must be an object.")
            for index, item in enumerate(value)
        )
    elif kind == "any":
        result = value
    else:  # pragma: no cover - a programming error in a declaration
        raise AssertionError(f"unknown param kind {kind}")
    if param.min is not None and kind in ("decimal", "int") and result < param.min:
        raise SpecError(path, f"must be at least {param.min}.")
    if param.max is not None and kind in ("decimal", "int") and result > param.max:
        raise SpecError(path, f"must be at most {param.max}.")
    return result


def _raise(path: str, message: str) -> Any:
    raise SpecError(path, message)


def parse_params(data: Mapping[str, Any], params: Sequence[Param], *, prefix: str = "",
                 ignore: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Validate `data` against `params`; return converted values (defaults filled in)."""
    known = {param.name for param in params} | ignore
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(f"{prefix}{unknown[0]}", "is not a parameter of this type.")
    out: dict[str, Any] = {}
    for param in params:
        raw = data.get(param.name)
        if raw is None or raw == "" or raw == []:
            if param.required:
                raise SpecError(f"{prefix}{param.name}", "is required.")
            out[param.name] = param.default
            continue
        out[param.name] = _convert(param, raw, f"{prefix}{param.name}")
    return out


_JSON_KIND = {
    "decimal": {"type": ["string", "integer"], "pattern": r"^-?\d+(\.\d+)?$"},
    "int": {"type": "integer"},
    "str": {"type": "string", "minLength": 1},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "description": "local date-time of the store, YYYY-MM-DDTHH:MM"},
    "time": {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$"},
    "any": {},
}


def json_schema_of(params: Sequence[Param]) -> dict[str, Any]:
    """A JSON Schema object for a parameter list (documentation only; validation is parse_params)."""
    props: dict[str, Any] = {}
    for param in params:
        if param.kind == "choice":
            prop: dict[str, Any] = {"type": "string", "enum": list(param.choices)}
        elif param.kind in ("int_list", "str_list"):
            item: dict[str, Any] = {"type": "integer" if param.kind == "int_list" else "string"}
            if param.choices:
                item["enum"] = list(param.choices)
            prop = {"type": "array", "items": item, "minItems": 1}
        elif param.kind == "object":
            prop = json_schema_of(param.fields)
        elif param.kind == "object_list":
            prop = {"type": "array", "items": json_schema_of(param.fields), "minItems": 1}
        else:
            prop = dict(_JSON_KIND[param.kind])
        if param.help:
            prop["description"] = param.help
        if param.default is not None and not isinstance(param.default, (tuple, frozenset)):
            prop["default"] = str(param.default) if isinstance(param.default, Decimal) else param.default
        props[param.name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    required = [param.name for param in params if param.required]
    if required:
        schema["required"] = required
    return schema


def describe_params(params: Sequence[Param]) -> str:
    """One line per parameter, for the admin help text."""
    parts = []
    for param in params:
        kind = f"one of {'/'.join(param.choices)}" if param.kind == "choice" else param.kind
        flag = "required" if param.required else f"default {param.default}" if param.default is not None else "optional"
        parts.append(f"{param.name} ({kind}, {flag}){': ' + param.help if param.help else ''}")
    return "; ".join(parts)
