"""The fast validation of calculate/confirm agrees with the serializers: the same validated data for
what it accepts, and it hands everything doubtful to the serializer (whose errors the API answers)."""
from __future__ import annotations

import copy

import pytest

from processing.api import serializers as s
from processing.api.validation import Doubt, cheque_in, confirm_in, validated

BASE = {
    "number": " C-1 ", "purchased_at": "2026-03-01T12:30:00",
    "identifier": {"kind": "card", "value": " 200000000001 ", "extra": 1},
    "lines": [{"position": 1, "sku": "SKU1", "name": " Молоко ", "quantity": "2", "price": "10.5", "amount": "21"},
              {"position": 2, "sku": "SKU2", "quantity": 1, "price": 3, "name": ""},
              {"position": 3, "sku": "SKU3", "quantity": "0.125", "price": "0", "ignored": True}],
    "coupons": [" A1 ", "B2"], "bonus_payment": "10",
}


def variants():
    yield BASE
    yield {k: v for k, v in BASE.items() if k not in ("purchased_at", "identifier", "coupons", "bonus_payment")}
    yield {**BASE, "identifier": None, "purchased_at": "2026-03-01T12:30:00+03:00", "bonus_payment": 0}
    yield {**BASE, "identifier": {"kind": "qr", "value": "t"}, "bonus_payment": "0.00"}


def serializer_data(data):
    serializer = s.PosChequeIn(data=copy.deepcopy(data))
    assert serializer.is_valid(), serializer.errors
    return serializer.validated_data


@pytest.mark.parametrize("data", list(variants()))
def test_fast_cheque_matches_the_serializer(data):
    fast, slow = cheque_in(copy.deepcopy(data)), serializer_data(data)
    assert fast == slow
    assert [type(v) for v in fast.values()] == [type(slow[k]) for k in fast]
    for a, b in zip(fast["lines"], slow["lines"]):
        assert list(a.items()) == list(b.items()) and all(str(a[k]) == str(b[k]) for k in a)
    assert str(fast["bonus_payment"]) == str(slow["bonus_payment"])


@pytest.mark.parametrize("change", [
    lambda d: d["lines"][0].update(quantity="-1"),
    lambda d: d["lines"][0].update(quantity="1.0001"),
    lambda d: d["lines"][0].update(price="abc"),
    lambda d: d["lines"][0].update(price=True),
    lambda d: d["lines"][0].update(position=0),
    lambda d: d["lines"][0].update(position="1"),
    lambda d: d["lines"][0].update(sku="  "),
    lambda d: d["lines"][0].update(sku="x" * 65),
    lambda d: d["lines"][0].update(name=None),
    lambda d: d["lines"][0].pop("price"),
    lambda d: d.update(lines=[]),
    lambda d: d.update(number=5),
    lambda d: d.update(number="a\x00"),
    lambda d: d.update(identifier={"kind": "fingerprint", "value": "x"}),
    lambda d: d.update(identifier={"kind": ["card"], "value": "x"}),
    lambda d: d.update(purchased_at="yesterday"),
    lambda d: d.update(coupons=["ok", ""]),
    lambda d: d.update(bonus_payment=None),
    lambda d: d.update(bonus_payment="-1"),
])
def test_fast_cheque_doubts_what_is_not_plainly_valid(change):
    data = copy.deepcopy(BASE)
    change(data)
    with pytest.raises(Doubt):
        cheque_in(data)


def test_doubt_falls_back_to_the_serializer_errors():
    data = copy.deepcopy(BASE)
    data["lines"][0]["quantity"] = "-1"
    with pytest.raises(Exception) as caught:
        validated(s.PosChequeIn, data, cheque_in)
    assert "quantity" in str(caught.value.detail["lines"][0])
    data = copy.deepcopy(BASE)
    data["lines"][0]["position"] = "2"  # a string the serializer accepts: validated by it
    assert validated(s.PosChequeIn, data, cheque_in)["lines"][0]["position"] == 2


def test_fast_confirm():
    assert confirm_in({"number": " C-1 "}) == {"number": "C-1"} == dict(s.PosConfirmIn(data={"number": " C-1 "}).run_validation({"number": " C-1 "}))
    for data in ({"number": ""}, {"number": "C", "lines": []}, [], {"number": None}):
        with pytest.raises(Doubt):
            confirm_in(data)
