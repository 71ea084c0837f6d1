"""JSON text for the till's hot path, encoded by orjson.

Every cheque encodes tens of kilobytes of JSON (its lines, the stored answer, the booking plan,
the offer trace, the HTTP answer); under load the standard library's encoder was the largest
single CPU cost of a request (15% of the gunicorn workers' time, sampled with py-spy). orjson
encodes the same documents several times faster. The output is compact (no spaces) and
otherwise what `json.dumps` writes for the same data; PostgreSQL stores jsonb parsed, so the
stored values are identical. Decimals (money, points) are written as strings, as the API does.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from django.utils.functional import Promise
from rest_framework.renderers import JSONRenderer


def _default(value: Any) -> Any:
    # orjson writes str, int, bool, None, lists, dicts, datetimes, dates and UUIDs itself.
    if isinstance(value, (Decimal, Promise)):  # money and points; lazy translations (as DRF writes them)
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """`value` as JSON text (str), Decimals as strings."""
    return orjson.dumps(value, default=_default).decode()


class FastJSONRenderer(JSONRenderer):
    """DRF's JSON renderer, encoded by orjson (the till views' answers)."""

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: dict[str, Any] | None = None) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_default)
