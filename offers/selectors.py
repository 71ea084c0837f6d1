"""Reads for the API, the admin and processing's cheque context. One query each, whatever the size."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from catalogue.models import Product, ProductGroupMembership
from offers.engine.types import UsageFacts
from offers.models import Coupon, Offer, OfferCounter, PersonalProductChoice, PersonalProductSet, Rule
from offers.models.usage import ALL_MEMBERS


def offers_list(*, state: str | None = None, search: str = "") -> QuerySet[Offer]:
    query = Offer.objects.all().prefetch_related("partners", "stores")
    if state:
        query = query.filter(state=state)
    if search:
        query = query.filter(name__icontains=search)
    return query.order_by("-priority", "id")


def offer_detail(*, offer_id: int) -> Offer:
    return (Offer.objects.prefetch_related("partners", "stores",
                                           Prefetch("rules", queryset=Rule.objects.order_by("position", "id")))
            .get(pk=offer_id))


def customer_coupons(*, customer_id: int, include_inactive: bool = False) -> QuerySet[Coupon]:
    query = Coupon.objects.filter(customer_id=customer_id).select_related("issue")
    if not include_inactive:
        now = timezone.now()
        query = query.filter(state=Coupon.State.ISSUED).filter(Q(expire_at__isnull=True) | Q(expire_at__gt=now))
    return query.order_by("expire_at", "-id")


def offer_usage_facts(*, customer_id: int | None, offer_ids: Iterable[int]) -> dict[int, UsageFacts]:
    """Usage of limited offers for the cheque context: one query (snapshot.limited_offer_ids)."""
    ids = list(offer_ids)
    if not ids:
        return {}
    members = [ALL_MEMBERS] + ([customer_id] if customer_id is not None else [])
    uses: dict[int, int] = {}
    spent: dict[int, Decimal] = {}
    for offer_id, member, count, benefit in OfferCounter.objects.filter(
            offer_id__in=ids, customer_id__in=members).values_list("offer_id", "customer_id", "uses", "benefit"):
        if member == ALL_MEMBERS:
            spent[offer_id] = benefit
        else:
            uses[offer_id] = count
    return {offer_id: UsageFacts(customer_uses=uses.get(offer_id, 0), budget_spent=spent.get(offer_id, Decimal("0")))
            for offer_id in ids if offer_id in uses or offer_id in spent}


def customer_personal_products(*, customer_id: int, today: dt.date | None = None) -> dict[int, frozenset[str]]:
    """Set id -> SKUs the member chose that still hold today (for the cheque context)."""
    today = today or timezone.localdate()
    out: dict[int, set[str]] = {}
    rows = (PersonalProductChoice.objects.filter(customer_id=customer_id, product_set__is_active=True)
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
            .values_list("product_set_id", "product__sku"))
    for set_id, sku in rows:
        out.setdefault(set_id, set()).add(sku)
    return {set_id: frozenset(skus) for set_id, skus in out.items()}


def personal_sets_for_customer(*, customer_id: int) -> list[dict]:
    """Open sets with the member's current choice and the products they may choose from."""
    sets = list(PersonalProductSet.objects.filter(is_active=True).select_related("group", "offer").order_by("name"))
    if not sets:
        return []
    chosen: dict[int, list[str]] = {}
    for set_id, sku in (PersonalProductChoice.objects.filter(customer_id=customer_id, product_set__in=sets)
                        .values_list("product_set_id", "product__sku")):
        chosen.setdefault(set_id, []).append(sku)
    products: dict[int, list[Product]] = {}
    memberships = (ProductGroupMembership.objects.filter(group_id__in={s.group_id for s in sets}, product__is_active=True)
                   .select_related("product").order_by("product__sku"))
    for membership in memberships:
        products.setdefault(membership.group_id, []).append(membership.product)
    return [
        {"set": s, "chosen": sorted(chosen.get(s.pk, [])), "products": products.get(s.group_id, [])}
        for s in sets
    ]


def customer_group_purchase_dates(*, customer_id: int, group_codes: Iterable[str],
                                  since: dt.date | None = None) -> dict[str, tuple[dt.date, ...]]:
    """Group code -> dates of the member's confirmed purchases of that group (snapshot.history_groups)."""
    from crm.models import Purchase, PurchaseLine

    codes = list(group_codes)
    if not codes:
        return {}
    query = (PurchaseLine.objects.filter(purchase__customer_id=customer_id, purchase__state=Purchase.State.CONFIRMED,
                                         purchase__kind=Purchase.Kind.SALE)
             .filter(product__productgroupmembership__group__code__in=codes))
    if since is not None:
        query = query.filter(purchase__purchased_at__date__gte=since)
    out: dict[str, set[dt.date]] = {}
    for code, moment in query.values_list("product__productgroupmembership__group__code",
                                          "purchase__purchased_at").distinct():
        out.setdefault(code, set()).add(moment.date())
    return {code: tuple(sorted(days)) for code, days in out.items()}
