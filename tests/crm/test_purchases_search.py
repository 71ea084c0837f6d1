"""Purchase history: selectors (filters, no N+1), the operator endpoint and the admin list."""
from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from crm.selectors.purchases import PurchaseFilter, purchase_detail, purchase_search
from tests.factories.catalogue import StoreFactory, TillFactory
from tests.factories.crm import (
    CardFactory,
    CustomerFactory,
    PurchaseFactory,
    PurchaseLineFactory,
    PurchaseLineOfferFactory,
)

pytestmark = pytest.mark.django_db
DAY = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def history():
    anna, boris = CustomerFactory(), CustomerFactory()
    card = CardFactory(customer=anna, number="7000777")
    msk, nsk = TillFactory(store=StoreFactory(code="msk")), TillFactory(store=StoreFactory(code="nsk"))
    rows = {
        "a1": PurchaseFactory(customer=anna, card=card, till=msk, number="A-1", purchased_at=DAY - dt.timedelta(days=2)),
        "a2": PurchaseFactory(customer=anna, card=card, till=nsk, number="A-2", purchased_at=DAY),
        "a3": PurchaseFactory(customer=anna, card=None, till=msk, number="A-3", purchased_at=DAY + dt.timedelta(hours=11, minutes=59)),
        "b1": PurchaseFactory(customer=boris, till=msk, number="B-1", purchased_at=DAY + dt.timedelta(days=1)),
    }
    return {"anna": anna, "boris": boris, "card": card, "msk": msk.store, "nsk": nsk.store, **rows}


def numbers(qs) -> list[str]:
    return [p.number for p in qs]


def test_filters(history):
    assert numbers(purchase_search(filters=PurchaseFilter(customer_id=history["anna"].pk))) == ["A-3", "A-2", "A-1"]
    assert numbers(purchase_search(filters=PurchaseFilter(card_number="7000777"))) == ["A-2", "A-1"]
    assert numbers(purchase_search(filters=PurchaseFilter(card_id=history["card"].pk))) == ["A-2", "A-1"]
    assert numbers(purchase_search(filters=PurchaseFilter(store_id=history["msk"].pk))) == ["B-1", "A-3", "A-1"]
    assert numbers(purchase_search(filters=PurchaseFilter(number="B-1"))) == ["B-1"]
    # A date `to` includes its whole (UTC) day; a date-time is exact.
    day = DAY.date()
    assert numbers(purchase_search(filters=PurchaseFilter(date_from=day, date_to=day))) == ["A-3", "A-2"]
    assert numbers(purchase_search(filters=PurchaseFilter(date_from=day, date_to=DAY))) == ["A-2"]
    both = PurchaseFilter(customer_id=history["anna"].pk, store_id=history["msk"].pk, date_from=day)
    assert numbers(purchase_search(filters=both)) == ["A-3"]


def test_bad_filters_name_the_field():
    from core.errors import DomainError

    with pytest.raises(DomainError) as caught:
        list(purchase_search(filters=PurchaseFilter(date_from=dt.date(2026, 2, 1), date_to=dt.date(2026, 1, 1))))
    assert caught.value.field == "date_from"
    with pytest.raises(DomainError) as caught:
        purchase_search(filters=PurchaseFilter(state="lost"))
    assert caught.value.field == "state"


def test_list_is_one_query_whatever_the_page_size(history, django_assert_num_queries):
    for _ in range(5):
        PurchaseFactory(customer=history["anna"], card=history["card"])
    with django_assert_num_queries(1):
        rows = list(purchase_search(filters=PurchaseFilter(customer_id=history["anna"].pk)))
        _ = [(p.store.name, p.till.code, p.card and p.card.number, p.customer.first_name) for p in rows]
    assert len(rows) == 8


def test_detail_is_three_queries(history, django_assert_num_queries):
    purchase = history["a2"]
    for position in (1, 2, 3):
        line = PurchaseLineFactory(purchase=purchase, position=position)
        PurchaseLineOfferFactory(line=line)
        PurchaseLineOfferFactory(line=line)
    with django_assert_num_queries(3):
        found = purchase_detail(purchase_id=purchase.pk)
        offers = [(line.position, [o.offer_name for o in line.offers.all()]) for line in found.lines.all()]
        _ = (found.store.name, found.till.code, found.card.number, found.customer.pk)
    assert [position for position, _ in offers] == [1, 2, 3] and all(len(names) == 2 for _, names in offers)


def test_operator_endpoint_pages_by_cursor(history, agent, django_assert_max_num_queries):
    client = APIClient()
    client.force_authenticate(agent)
    response = client.get("/api/v1/purchases", {"customer": history["anna"].pk, "page_size": 2})
    assert response.status_code == 200
    body = response.json()
    assert [row["number"] for row in body["results"]] == ["A-3", "A-2"]
    assert body["results"][1]["card"] == "7000777" and body["results"][1]["store"]["code"] == "nsk"
    following = client.get(body["next"]).json()
    assert [row["number"] for row in following["results"]] == ["A-1"]
    by_date = client.get("/api/v1/purchases", {"date_from": "2026-03-10", "date_to": "2026-03-10"}).json()
    assert [row["number"] for row in by_date["results"]] == ["A-3", "A-2"]
    bad = client.get("/api/v1/purchases", {"date_from": "yesterday"})
    assert bad.status_code == 400 and bad.json()["errors"].keys() == {"date_from"}
    nested = client.get(f"/api/v1/customers/{history['boris'].pk}/purchases").json()
    assert [row["number"] for row in nested["results"]] == ["B-1"]

    line = PurchaseLineFactory(purchase=history["a1"], position=1)
    PurchaseLineOfferFactory(line=line, offer_name="Double points")
    detail = client.get(f"/api/v1/purchases/{history['a1'].pk}").json()
    assert detail["lines"][0]["offers"][0]["offer_name"] == "Double points"
    assert client.get("/api/v1/purchases/999999").status_code == 404


def test_admin_list_filters_and_search(history, client, agent):
    client.force_login(agent)
    url = "/admin/crm/purchase/"
    page = client.get(url, {"customer__id__exact": history["anna"].pk}).content.decode()
    assert "A-1" in page and "A-3" in page and "B-1" not in page
    page = client.get(url, {"q": "7000777"}).content.decode()
    assert "A-2" in page and "A-3" not in page
    page = client.get(url, {"purchased_at__gte": "2026-03-11", "purchased_at__lt": "2026-03-12"}).content.decode()
    assert "B-1" in page and "A-2" not in page
    detail = client.get(f"{url}{history['a2'].pk}/change/")
    assert detail.status_code == 200  # agents view purchases, read-only
    assert client.post(f"{url}{history['a2'].pk}/change/", {}).status_code == 403


def test_marketer_may_view_purchases(history, client, marketer):
    client.force_login(marketer)
    assert client.get("/admin/crm/purchase/").status_code == 200
    assert client.get(f"/admin/crm/purchase/{history['b1'].pk}/change/").status_code == 200
