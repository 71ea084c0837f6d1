"""Demo offers on the demo catalogue, a coupon issue with codes, a public code and a personal set.

Idempotent: offers are found by name; nothing is created twice.
"""
from __future__ import annotations

import datetime as dt

from catalogue.models import Partner, ProductGroup
from core.actors import Actor
from offers.models import Coupon, CouponIssue, Offer, PersonalProductSet
from offers.services.coupons import coupon_generate_run, coupon_issue_create
from offers.services.offers import offer_create, offer_set_state

ACTOR = Actor.system("demo")
START = dt.date(2024, 1, 1)


def _offer(name: str, partner: Partner, rules: list[dict], **fields) -> Offer:
    offer = Offer.objects.filter(name=name).first()
    if offer is None:
        offer = offer_create(actor=ACTOR, name=name, start_date=START, partners=[partner], rules=rules, **fields)
    if offer.state == Offer.State.DRAFT:
        offer = offer_set_state(offer=offer, state=Offer.State.ACTIVE, actor=ACTOR)
    return offer


def _issue(title: str, **fields) -> CouponIssue:
    issue = CouponIssue.objects.filter(title=title).first()
    return issue or coupon_issue_create(actor=ACTOR, title=title, **fields)


def load() -> str:
    partner = Partner.objects.get(code="demo-retail")
    coffee_codes = _issue(
        "Coffee lovers: 20% off coffee and tea", partner=partner, kind=CouponIssue.Kind.DISTRIBUTION,
        short_description="20% off coffee and tea", long_description="One purchase of coffee or tea, 20% off. "
        "Valid 90 days.", code_prefix="CF", code_length=10, alphabet=CouponIssue.Alphabet.SAFE, lifetime_days=90)
    if not coffee_codes.coupons.exists():
        CouponIssue.objects.filter(pk=coffee_codes.pk).update(requested_count=20)
        coffee_codes = coupon_generate_run(issue_id=coffee_codes.pk, actor=ACTOR)
    public = _issue("COFFEE20 public code", partner=partner, kind=CouponIssue.Kind.PUBLIC, public_code="COFFEE20",
                    short_description="Type COFFEE20 at the till: 20% off coffee and tea, once per member.")
    welcome = _issue("Welcome gift: 100 points off your next purchase", partner=partner,
                     kind=CouponIssue.Kind.PERSONAL, code_prefix="W", code_length=12, lifetime_days=30,
                     activation_delay_days=1, activation_round="day", timezone="Europe/Moscow")

    _offer("10% off dairy", partner, [{"name": "dairy lines", "filters": [{"type": "product_group", "groups": ["dairy"]}],
                                      "actions": [{"type": "discount", "mode": "percent", "value": "10"}]}], priority=10)
    _offer("5% points on everything", partner, [{"name": "every line", "filters": [], "actions": [
        {"type": "bonus", "mode": "percent", "value": "5", "activation": {"days": 1, "round": "day"},
         "expiry": {"months": 12, "round": "month"}}]}], cumulative=True)
    _offer("Double points in your birthday month", partner, [{"name": "birthday month", "filters": [
        {"type": "birthday", "mode": "month"}], "actions": [
        {"type": "bonus", "mode": "multiplier", "value": "2"},
        {"type": "message", "text": "Happy birthday! Double points all month."}]}], cumulative=True, priority=5)
    _offer("Coffee coupon: 20% off coffee and tea", partner, [{"name": "coupon presented", "filters": [
        {"type": "coupon", "issues": [coffee_codes.pk, public.pk]}, {"type": "product_group", "groups": ["coffee-tea"]}],
        "actions": [{"type": "discount", "mode": "percent", "value": "20"}]}], priority=20)
    _offer("Points pay at most 30% of wine", partner, [{"name": "wine", "filters": [
        {"type": "product_group", "skus": ["WINE-RED"]}], "actions": [{"type": "bonus_cap", "percent": "30"}]}],
        cumulative=True)
    _offer("Welcome coupon after a first purchase of 1000", partner, [{"name": "big cheque", "filters": [
        {"type": "cheque_sum", "min": "1000"}, {"type": "customer_date", "date": "registration", "within_days": 30}],
        "actions": [{"type": "coupon_issue", "issue": welcome.pk, "count": 1}]}], cumulative=True, limit_per_customer=1)
    dairy = ProductGroup.objects.get(code="dairy")
    picks_offer = Offer.objects.filter(name="Your picks: 15% off").first()
    product_set = PersonalProductSet.objects.filter(code="favourite-dairy").first()
    if product_set is None:
        product_set = PersonalProductSet.objects.create(code="favourite-dairy", name="Your two favourite dairy products",
                                                        group=dairy, max_choices=2, changeable=True)
    if picks_offer is None:
        picks_offer = _offer("Your picks: 15% off", partner, [{"name": "chosen products", "filters": [], "actions": [
            {"type": "personal_products", "set": product_set.pk, "benefit": "discount", "mode": "percent",
             "value": "15"}]}], cumulative=True)
    if product_set.offer_id is None:
        PersonalProductSet.objects.filter(pk=product_set.pk).update(offer=picks_offer)
    code = Coupon.objects.filter(issue=coffee_codes).order_by("id").values_list("code", flat=True).first()
    return (f"{Offer.objects.filter(state=Offer.State.ACTIVE).count()} active offers, "
            f"{Coupon.objects.count()} coupons (try {code} or COFFEE20), 1 personal product set")
