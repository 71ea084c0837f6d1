"""core.jsontext: the till path's JSON encoder writes what json.dumps would, decimals as strings."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy

from core.jsontext import FastJSONRenderer, dumps


def test_dumps_decodes_to_what_the_standard_encoder_gives_with_decimals_as_strings():
    # given a document with the types an answer carries
    document = {"amount": Decimal("10.50"), "name": "Ирина \"Q\"", "lines": [1, 2], "none": None, "ok": True,
                "label": gettext_lazy("Points")}
    # when it is encoded
    text = dumps(document)
    # then it decodes to the same values, decimals and lazy strings as their text
    assert json.loads(text) == {"amount": "10.50", "name": "Ирина \"Q\"", "lines": [1, 2], "none": None, "ok": True,
                                "label": "Points"}


def test_datetimes_are_iso_as_the_api_writes_them():
    moment = dt.datetime(2026, 12, 6, 21, 0, tzinfo=dt.timezone.utc)
    assert json.loads(dumps({"at": moment})) == {"at": "2026-12-06T21:00:00+00:00"}


def test_what_json_cannot_hold_is_refused_not_written():
    with pytest.raises(TypeError):
        dumps({"raw": b"\x00"})


def test_renderer_writes_bytes_and_nothing_for_no_data():
    renderer = FastJSONRenderer()
    assert json.loads(renderer.render({"a": Decimal("1.00")})) == {"a": "1.00"}
    assert renderer.render(None) == b""


def test_an_object_json_does_not_know_is_refused_not_written_as_its_str():
    class Cheque:
        def __str__(self) -> str:
            return "cheque 1"

    with pytest.raises(TypeError):
        dumps({"purchase": Cheque()})
