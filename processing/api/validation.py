"""Fast validation of the till's two hot requests (calculate, confirm).

A DRF serializer of a cheque with 5-30 lines builds a serializer per line (deep-copying its
fields) and runs every field through the generic machinery: about 2 ms of CPU per request, a tenth
of a cheque's budget. These functions check the same rules by hand and return the same validated
data as `PosChequeIn` / `PosConfirmIn` for every request they accept. They accept only what is
plainly valid; at the first doubt (any error, an unusual type) they raise `Doubt` and the caller
runs the serializer, which then answers with its own field errors (`lines.0.quantity`, ...) or, if
the input was valid after all, its validated data. So the error answers are the serializer's, by
construction, and `tests/processing/test_validation.py` checks that both agree on valid input.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError

from processing.api import serializers as s
from processing.selectors import IDENTIFIER_KINDS

# The serializers' own decimal fields convert and quantize (same precision checks, same rounding);
# only their per-request wrapping is skipped. They keep no state between calls.
_LINE = s.PosLineIn().fields
_QUANTITY, _PRICE, _AMOUNT = _LINE["quantity"], _LINE["price"], _LINE["amount"]
_BONUS = s.PosChequeIn().fields["bonus_payment"]
_KINDS = frozenset(IDENTIFIER_KINDS)
_LINE_KEYS = ("position", "sku", "quantity", "price")


class Doubt(Exception):
    """Not plainly valid: let the serializer decide and word the errors."""


def _text(value: Any, *, max_length: int, allow_blank: bool = False) -> str:
    """A CharField's value: a string, stripped, not blank (unless allowed), within max_length, without
    NUL or lone surrogate characters."""
    if type(value) is not str:
        raise Doubt
    value = value.strip()
    if (not value and not allow_blank) or len(value) > max_length or "\x00" in value:
        raise Doubt
    if not value.isascii() and any("\ud800" <= c <= "\udfff" for c in value):
        raise Doubt
    return value


def _plain(field) -> tuple[re.Pattern[str], Decimal]:
    """A plain decimal string within the field's digits (ASCII digits, no sign, exponent or spaces)
    and its quantum: for those DRF's conversion is Decimal(text).quantize(quantum), exactly."""
    whole = field.max_digits - field.decimal_places
    return re.compile(rf"[0-9]{{1,{whole}}}(?:\.[0-9]{{1,{field.decimal_places}}})?"), Decimal(1).scaleb(-field.decimal_places)


_PLAIN: dict[int, tuple[re.Pattern[str], Decimal]] = {}


def _decimal(field, value: Any) -> Decimal:
    if value is None or type(value) is bool:
        raise Doubt
    plain = _PLAIN.get(id(field))
    if plain is None:
        plain = _PLAIN[id(field)] = _plain(field)
    if type(value) is str and plain[0].fullmatch(value):
        number = Decimal(value).quantize(plain[1])
    else:
        try:
            number = field.to_internal_value(value)
        except ValidationError:
            raise Doubt from None
    if field.min_value is not None and number < field.min_value:
        raise Doubt
    return number


def _line(data: Any) -> dict[str, Any]:
    if type(data) is not dict:
        raise Doubt
    position = data.get("position")
    if type(position) is not int or position < 1:
        raise Doubt
    line = {"position": position, "sku": _text(data.get("sku"), max_length=64)}
    if "name" in data:
        line["name"] = _text(data["name"], max_length=300, allow_blank=True)
    line["quantity"] = _decimal(_QUANTITY, data.get("quantity"))
    line["price"] = _decimal(_PRICE, data.get("price"))
    if "amount" in data:
        line["amount"] = _decimal(_AMOUNT, data["amount"])
    return line


def _moment(value: Any) -> dt.datetime:
    if type(value) is not str:
        raise Doubt
    try:
        parsed = parse_datetime(value)
    except ValueError:
        raise Doubt from None
    if parsed is None:
        raise Doubt
    return parsed  # naive stays naive: the service localises it (TillLocalDateTimeField)


def cheque_in(data: Any) -> dict[str, Any]:
    """`PosChequeIn`'s validated data, or Doubt."""
    if type(data) is not dict:
        raise Doubt
    out: dict[str, Any] = {"number": _text(data.get("number"), max_length=64)}
    if "purchased_at" in data:
        out["purchased_at"] = _moment(data["purchased_at"])
    if "identifier" in data:
        identifier = data["identifier"]
        if identifier is None:
            out["identifier"] = None
        elif type(identifier) is dict and type(identifier.get("kind")) is str and identifier["kind"] in _KINDS:
            out["identifier"] = {"kind": identifier["kind"], "value": _text(identifier.get("value"), max_length=256)}
        else:
            raise Doubt
    lines = data.get("lines")
    if type(lines) is not list or not lines:
        raise Doubt
    out["lines"] = [_line(line) for line in lines]
    coupons = data.get("coupons", [])
    if type(coupons) is not list:
        raise Doubt
    out["coupons"] = [_text(code, max_length=64) for code in coupons]
    out["bonus_payment"] = _decimal(_BONUS, data["bonus_payment"]) if "bonus_payment" in data else Decimal("0")
    return out


def confirm_in(data: Any) -> dict[str, Any]:
    """`PosConfirmIn`'s validated data when no lines are sent again (the usual confirm), or Doubt."""
    if type(data) is not dict or "lines" in data:
        raise Doubt
    return {"number": _text(data.get("number"), max_length=64)}


def validated(serializer_class, data: Mapping[str, Any], fast=None) -> dict[str, Any]:
    """The fast check when there is one and it is sure; the serializer otherwise."""
    if fast is not None:
        try:
            return fast(data)
        except Doubt:
            pass
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
