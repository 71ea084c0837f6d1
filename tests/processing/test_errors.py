"""Every error code of the till API, over HTTP, in the common error shape."""
from __future__ import annotations

from decimal import Decimal

import pytest

from catalogue.models import Till
from crm.models import Card, Purchase
from offers.models import Coupon
from tests.factories.offers import CouponFactory, OfferFactory, RuleFactory
from tests.processing.conftest import cheque, make_member

pytestmark = pytest.mark.django_db


def post(client, path, body):
    return client.post(f"/api/v1/pos/{path}", body, format="json")


def expect(answer, status: int, code: str, field: str | None = None) -> dict:
    body = answer.json()
    assert answer.status_code == status, body
    assert body["code"] == code, body
    assert set(body) >= {"status", "code", "message", "errors"}
    if field:
        assert field in body["errors"], body
    return body


def test_till_blocked_and_unknown(client, till):
    Till.objects.filter(pk=till.pk).update(is_blocked=True)
    expect(post(client, "balance", {"identifier": {"kind": "card", "value": "1"}}), 401, "till_blocked")
    client.credentials(HTTP_AUTHORIZATION="Till nope:nope")
    expect(post(client, "balance", {"identifier": {"kind": "card", "value": "1"}}), 401, "till_not_found")


def test_card_not_found_and_blocked(client, products):
    expect(post(client, "balance", {"identifier": {"kind": "card", "value": "999"}}), 404, "card_not_found")
    member = make_member(card_state=Card.State.BLOCKED)
    expect(post(client, "calculate", cheque(member=member)), 400, "card_blocked", "identifier.value")
    assert not Purchase.objects.exists()


def test_blocked_card_member_may_identify_by_phone(client, products):
    from tests.factories.crm import NotifierFactory

    member = make_member(card_state=Card.State.BLOCKED)
    phone = NotifierFactory(customer=member.customer, verified=True)
    answer = post(client, "balance", {"identifier": {"kind": "phone", "value": phone.value}})
    assert answer.status_code == 200 and answer.json()["member"]["id"] == member.customer.pk


def test_card_not_activated_cannot_pay(client, products):
    member = make_member("100", card_state=Card.State.NOT_ACTIVATED)
    expect(post(client, "calculate", cheque(member=member, bonus_payment="5")), 400, "card_not_activated",
           "bonus_payment")


def test_customer_not_found(client, products):
    expect(post(client, "balance", {"identifier": {"kind": "email", "value": "nobody@example.com"}}), 404,
           "customer_not_found")
    expect(post(client, "calculate", cheque(bonus_payment="5")), 404, "customer_not_found")


def test_not_enough_points_and_too_high(client, products):
    member = make_member("10")
    body = expect(post(client, "calculate", cheque(member=member, bonus_payment="20")), 400, "not_enough_points",
                  "bonus_payment")
    assert body["available"] == "10.00"
    rich = make_member("1000")
    body = expect(post(client, "calculate", cheque("C-2", member=rich, bonus_payment="60")), 400,
                  "bonus_payment_too_high", "bonus_payment")
    assert body["bonus_payment_max"] == "50.00"


def test_validation_error_names_the_field(client, products):
    body = cheque()
    body["lines"][0]["quantity"] = "-1"
    expect(post(client, "calculate", body), 400, "validation_error", "lines.0.quantity")
    body = cheque()
    body["lines"][1]["position"] = 1
    expect(post(client, "calculate", body), 400, "validation_error", "lines.1.position")
    expect(post(client, "calculate", {"number": "X"}), 400, "validation_error", "lines")
    expect(post(client, "calculate", cheque(identifier={"kind": "fingerprint", "value": "x"})), 400,
           "validation_error", "identifier.kind")


def test_state_errors(client, products):
    expect(post(client, "confirm", {"number": "nope"}), 404, "operation_not_found", "number")
    expect(post(client, "cancel", {"number": "nope"}), 404, "operation_not_found")
    assert post(client, "calculate", cheque("A")).status_code == 200
    assert post(client, "confirm", {"number": "A"}).status_code == 200
    expect(post(client, "cancel", {"number": "A"}), 409, "already_confirmed")
    expect(post(client, "calculate", cheque("A")), 409, "already_confirmed")
    assert post(client, "calculate", cheque("B")).status_code == 200
    assert post(client, "cancel", {"number": "B"}).status_code == 200
    expect(post(client, "confirm", {"number": "B"}), 409, "already_cancelled")


def test_different_cheque(client, products):
    body = cheque("D")
    assert post(client, "calculate", body).status_code == 200
    other = [dict(body["lines"][0], quantity="3", amount="30.00"), body["lines"][1]]
    expect(post(client, "confirm", {"number": "D", "lines": other}), 409, "different_cheque", "lines")
    answer = post(client, "confirm", {"number": "D", "lines": body["lines"]})
    assert answer.status_code == 200, answer.json()


def test_coupon_invalid(client, products):
    expect(post(client, "balance", {"identifier": {"kind": "coupon", "value": "NOPE"}}), 400, "coupon_invalid")
    # a coupon used by another cheque between calculate and confirm
    member = make_member("0")
    coupon = CouponFactory(customer=member.customer)
    offer = OfferFactory(name="coupon 10%")
    RuleFactory(offer=offer, filters=[{"type": "coupon", "issues": [coupon.issue_id]}])
    calc = post(client, "calculate", cheque(member=member, coupons=[coupon.code, "MISSING"]))
    assert calc.status_code == 200, calc.json()
    coupons = calc.json()["coupons"]
    assert coupons["used"] == [{"code": coupon.code, "offer_id": offer.pk}]
    assert coupons["rejected"][0]["code"] == "MISSING" and coupons["rejected"][0]["reason"] == "not_found"
    assert calc.json()["totals"]["discount"] == "5.00"
    Coupon.objects.filter(pk=coupon.pk).update(state="used", uses=1)
    body = expect(post(client, "confirm", {"number": "C-1"}), 400, "coupon_invalid")
    assert body["reason"] == "used"


def test_coupon_redeemed_at_confirm_and_identifies_its_owner(client, products):
    member = make_member("0")
    coupon = CouponFactory(customer=member.customer)
    offer = OfferFactory(name="coupon 10%")
    RuleFactory(offer=offer, filters=[{"type": "coupon", "issues": [coupon.issue_id]}])
    body = cheque(identifier={"kind": "coupon", "value": coupon.code}, coupons=[coupon.code])
    assert post(client, "calculate", body).json()["member"]["id"] == member.customer.pk
    assert post(client, "confirm", {"number": "C-1"}).status_code == 200
    coupon.refresh_from_db()
    assert coupon.state == "used"


def test_bad_json_types_never_500(client, products):
    for body in ({"number": "X", "lines": "nope"}, {"number": "X", "lines": [{"position": "a"}]},
                 {"number": "X", "lines": [], "bonus_payment": "abc"}, [], {"identifier": "x"}):
        answer = post(client, "calculate", body)
        assert answer.status_code == 400, (body, answer.json())
    assert post(client, "refund", {"number": "R", "original_number": "nope"}).json()["code"] == "operation_not_found"
