"""The demo: loads twice without duplicates, and its offers work on a demo cheque."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from catalogue.models import Store
from offers.engine import Cheque, CustomerFacts, Line, PresentedCoupon
from offers.engine.types import EVENTS
from offers.models import Coupon, CouponIssue, Offer, PersonalProductSet
from offers.selectors import customer_personal_products
from offers.snapshot import cheque_evaluate

pytestmark = pytest.mark.django_db


def test_demo_loads_idempotently_and_its_offers_apply():
    call_command("load_demo")
    counts = (Offer.objects.count(), Coupon.objects.count(), CouponIssue.objects.count())
    call_command("load_demo")
    assert (Offer.objects.count(), Coupon.objects.count(), CouponIssue.objects.count()) == counts
    assert Offer.objects.filter(state="active").count() == 7
    store = Store.objects.get(code="msk-01")
    public = CouponIssue.objects.get(public_code="COFFEE20")
    today = dt.datetime.now(dt.timezone.utc)
    cheque = Cheque(
        purchased_at=today, timezone=store.timezone, store_id=store.pk, partner_id=store.partner_id,
        lines=(Line(1, "MILK-1L", Decimal("1"), Decimal("100.00"), Decimal("100.00")),
               Line(2, "COFFEE-250", Decimal("1"), Decimal("499.00"), Decimal("499.00"))),
        customer=CustomerFacts(id=1, birth_date=dt.date(1990, today.month, 1)),
        coupons=(PresentedCoupon("COFFEE20", public.pk),),
    )
    result = cheque_evaluate(cheque)
    assert [line.discount for line in result.lines] == [Decimal("10.00"), Decimal("99.80")]
    # 5% of what is paid, doubled in the birthday month.
    assert [line.bonus for line in result.lines] == [Decimal("9.00"), Decimal("39.92")]
    assert [m.text for m in result.messages] == ["Happy birthday! Double points all month."]
    assert [c.code for c in result.coupons_used] == ["COFFEE20"]


def test_demo_personal_products_set_works_end_to_end(api_client):
    call_command("load_demo")
    from tests.factories.crm import CustomerFactory, customer_token_for

    member = CustomerFactory()
    product_set = PersonalProductSet.objects.get(code="favourite-dairy")
    api_client.credentials(HTTP_AUTHORIZATION=f"Customer {customer_token_for(member)}")
    response = api_client.put(f"/api/v1/me/personal-products/{product_set.pk}/", {"products": ["KEFIR-1L"]},
                              format="json")
    assert response.status_code == 200, response.json()
    chosen = customer_personal_products(customer_id=member.pk)
    store = Store.objects.get(code="msk-01")
    result = cheque_evaluate(Cheque(
        purchased_at=dt.datetime.now(dt.timezone.utc), timezone=store.timezone, store_id=store.pk,
        partner_id=store.partner_id, lines=(Line(1, "KEFIR-1L", Decimal("1"), Decimal("100.00"), Decimal("100.00")),),
        customer=CustomerFacts(id=member.pk, personal_products=chosen)))
    # 10% dairy, then 15% of the 90 left on the chosen product.
    assert result.lines[0].discount == Decimal("23.50")


def test_offer_events_match_the_engine():
    assert [value for value, _ in Offer.Event.choices] == list(EVENTS)


def test_dry_run_api_reads_a_time_without_offset_as_store_time(marketer):
    call_command("load_demo")
    offer = Offer.objects.get(name="10% off dairy")
    from offers.services.offers import rule_update
    from core.actors import Actor

    rule_update(rule=offer.rules.get(), actor=Actor.system("test"), filters=[
        {"type": "product_group", "groups": ["dairy"]}, {"type": "hours", "from": "08:00", "to": "10:00"}])
    client = APIClient()
    client.force_authenticate(marketer)
    nsk = Store.objects.get(code="nsk-01")
    body = {"store": nsk.pk, "lines": [{"sku": "MILK-1L"}], "with_running": False}
    local = client.post(f"/api/v1/offers/{offer.pk}/dry-run/", {**body, "purchased_at": "2024-05-10T09:00:00"},
                        format="json").json()
    assert local["discount"] == "7.99"
    utc = client.post(f"/api/v1/offers/{offer.pk}/dry-run/", {**body, "purchased_at": "2024-05-10T09:00:00Z"},
                      format="json").json()
    assert utc["discount"] == "0.00"  # 16:00 in Novosibirsk
