"""Personal products (service, app and call-center endpoints) and the operator API of offers."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from core.actors import Actor
from core.errors import DomainError
from core.models import AuditEvent
from offers.models import Offer, PersonalProductChoice
from offers.selectors import customer_personal_products
from offers.services.personal import personal_products_choose
from tests.factories.catalogue import ProductFactory, ProductGroupFactory, StoreFactory
from tests.factories.crm import CustomerFactory, customer_token_for
from tests.factories.offers import CouponFactory, CouponIssueFactory, OfferFactory, PersonalProductSetFactory, RuleFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


@pytest.fixture
def product_set():
    group = ProductGroupFactory(code="fav")
    for sku in ("A", "B", "C"):
        group.products.add(ProductFactory(sku=sku))
    ProductFactory(sku="OUTSIDE")
    offer = OfferFactory(end_date=dt.date(2099, 12, 31))
    return PersonalProductSetFactory(group=group, max_choices=2, offer=offer, changeable=False)


def test_choose_within_the_limit_and_the_group(product_set):
    member = CustomerFactory()
    choices = personal_products_choose(product_set=product_set, customer=member, skus=["A", "B"], actor=ACTOR,
                                       channel="app")
    assert sorted(c.product.sku for c in choices) == ["A", "B"]
    assert {c.valid_until for c in choices} == {dt.date(2099, 12, 31)}  # the offer's period
    assert customer_personal_products(customer_id=member.pk) == {product_set.pk: frozenset({"A", "B"})}
    for skus, code in ((["A", "B", "C"], "too_many_products"), (["OUTSIDE"], "product_not_in_set"),
                       (["NOPE"], "unknown_product")):
        with pytest.raises(DomainError) as caught:
            personal_products_choose(product_set=product_set, customer=member, skus=skus, actor=ACTOR, channel="app")
        assert caught.value.code == code
    # Not changeable by the member during the period; the call center may.
    with pytest.raises(DomainError) as caught:
        personal_products_choose(product_set=product_set, customer=member, skus=["C"], actor=ACTOR, channel="app")
    assert caught.value.code == "choice_locked"
    personal_products_choose(product_set=product_set, customer=member, skus=["C"], actor=ACTOR, channel="call_center")
    assert list(PersonalProductChoice.objects.filter(customer=member).values_list("product__sku", flat=True)) == ["C"]
    assert AuditEvent.objects.filter(action="personal_products.choose").count() == 2


def test_a_set_whose_offer_is_not_running_is_closed(product_set):
    Offer.objects.filter(pk=product_set.offer_id).update(state="paused")
    product_set.refresh_from_db()
    with pytest.raises(DomainError) as caught:
        personal_products_choose(product_set=product_set, customer=CustomerFactory(), skus=["A"], actor=ACTOR,
                                 channel="app")
    assert caught.value.code == "set_closed"


def test_customer_app_lists_and_chooses_personal_products(product_set, api_client):
    member = CustomerFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Customer {customer_token_for(member)}")
    listing = api_client.get("/api/v1/me/personal-products/")
    assert listing.status_code == 200
    body = listing.json()[0]
    assert body["max_choices"] == 2 and body["open"] is True and [p["sku"] for p in body["products"]] == ["A", "B", "C"]
    chosen = api_client.put(f"/api/v1/me/personal-products/{product_set.pk}/", {"products": ["A"]}, format="json")
    assert chosen.status_code == 200 and chosen.json()[0]["chosen"] == ["A"]
    refused = api_client.put(f"/api/v1/me/personal-products/{product_set.pk}/", {"products": ["A", "B", "C"]},
                             format="json")
    assert refused.status_code == 400
    assert refused.json()["code"] == "too_many_products" and "products" in refused.json()["errors"]


def test_call_center_sets_a_members_personal_products(product_set, agent, marketer):
    member = CustomerFactory()
    client = APIClient()
    client.force_authenticate(agent)
    url = f"/api/v1/customers/{member.pk}/personal-products/{product_set.pk}/"
    response = client.put(url, {"products": ["B", "C"]}, format="json")
    assert response.status_code == 200, response.json()
    assert PersonalProductChoice.objects.get(customer=member, product__sku="B").channel == "call_center"
    client.force_authenticate(marketer)  # marketers see, but do not change members' choices
    assert client.get(f"/api/v1/customers/{member.pk}/personal-products/").status_code == 200
    assert client.put(url, {"products": ["A"]}, format="json").status_code == 403


def test_my_coupons_only_mine_and_usable(api_client):
    member, other = CustomerFactory(), CustomerFactory()
    issue = CouponIssueFactory(title="Coffee", short_description="20% off")
    CouponFactory(code="MINE1", issue=issue, customer=member)
    CouponFactory(code="MINE-USED", issue=issue, customer=member, state="used", uses=1)
    CouponFactory(code="THEIRS", issue=issue, customer=other)
    api_client.credentials(HTTP_AUTHORIZATION=f"Customer {customer_token_for(member)}")
    body = api_client.get("/api/v1/me/coupons/").json()
    assert [c["code"] for c in body["results"]] == ["MINE1"]
    assert body["results"][0]["title"] == "Coffee" and body["results"][0]["short_description"] == "20% off"
    everything = api_client.get("/api/v1/me/coupons/?all=1").json()
    assert sorted(c["code"] for c in everything["results"]) == ["MINE-USED", "MINE1"]


def test_operator_endpoints_need_the_right_caller(api_client, marketer):
    assert api_client.get("/api/v1/offers/").status_code == 401
    member = CustomerFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Customer {customer_token_for(member)}")
    assert api_client.get("/api/v1/offers/").status_code == 403
    client = APIClient()
    client.force_authenticate(marketer)
    offer = OfferFactory(name="Visible")
    RuleFactory(offer=offer, filters=[{"type": "weekdays", "days": [1]}])
    listing = client.get("/api/v1/offers/?state=active").json()
    assert [o["name"] for o in listing["results"]] == ["Visible"]
    detail = client.get(f"/api/v1/offers/{offer.pk}/").json()
    assert detail["rules"][0]["filters"] == [{"type": "weekdays", "days": [1]}]


def test_dry_run_endpoint_shows_result_and_trace(marketer):
    client = APIClient()
    client.force_authenticate(marketer)
    store = StoreFactory(timezone="Europe/Moscow")
    group = ProductGroupFactory(code="dairy")
    group.products.add(ProductFactory(sku="MILK", price=Decimal("80.00")))
    offer = OfferFactory(state="draft", name="Birthday dairy")
    RuleFactory(offer=offer, name="bday", filters=[{"type": "birthday"}, {"type": "product_group", "groups": ["dairy"]}],
                actions=[{"type": "discount", "mode": "percent", "value": "20"}])
    body = {"store": store.pk, "purchased_at": "2024-05-10T12:00:00", "lines": [{"sku": "MILK", "quantity": "2"}],
            "customer": {"birth_date": "1990-05-20"}}
    response = client.post(f"/api/v1/offers/{offer.pk}/dry-run/", body, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["lines"][0]["discount"] == "32.00" and data["payable"] == "128.00"
    assert data["trace"][0]["applied"] is True
    body["customer"] = {"birth_date": "1990-06-20"}
    failed = client.post(f"/api/v1/offers/{offer.pk}/dry-run/", body, format="json").json()
    assert "birthday month 6 is not the cheque's month 5" in failed["trace"][0]["rules"][0]["reason"]
    bad = client.post(f"/api/v1/offers/{offer.pk}/dry-run/", {"lines": [{"sku": "NOPRICE"}]}, format="json")
    assert bad.status_code == 400 and "lines.0.price" in bad.json()["errors"]
    assert not AuditEvent.objects.filter(object_type="offers.offer").exists()  # a dry run writes nothing


def test_coupon_lookup_and_batch_endpoints(marketer, agent, django_capture_on_commit_callbacks):
    client = APIClient()
    client.force_authenticate(agent)
    CouponFactory(code="LOOKME", state="used", uses=1)
    data = client.get("/api/v1/coupons/LOOKME/").json()
    assert data["state"] == "used" and data["validity"] == {"ok": False, "code": "used",
                                                            "message": "The coupon has been used."}
    assert client.get("/api/v1/coupons/NOSUCH/").json()["code"] == "not_found"
    issue = CouponIssueFactory(code_length=10)
    assert client.post(f"/api/v1/coupon-issues/{issue.pk}/batches/", {"count": 10}, format="json").status_code == 403
    client.force_authenticate(marketer)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/api/v1/coupon-issues/{issue.pk}/batches/", {"count": 10}, format="json")
    assert response.status_code == 202 and response.json()["generation"] == "queued"
    assert client.get(f"/api/v1/coupon-issues/{issue.pk}/").json()["requested_count"] == 10


def test_endpoints_and_rule_types_are_documented(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path in ("/api/v1/offers/", "/api/v1/offers/{id}/dry-run/", "/api/v1/coupons/{code}/",
                 "/api/v1/me/coupons/", "/api/v1/me/personal-products/{set_id}/",
                 "/api/v1/customers/{customer_id}/personal-products/{set_id}/", "/api/v1/coupon-issues/{id}/batches/"):
        assert path in paths, path
    rule = schema["components"]["schemas"]["Rule"]["properties"]
    filter_types = {variant["title"] for variant in rule["filters"]["items"]["oneOf"]}
    assert {"birthday", "group_items", "purchased_group", "product_group"} <= filter_types
