"""Offers, rules, coupons, personal products and offer usage counters."""
from offers.models.coupons import Coupon, CouponGrant, CouponIssue, CouponRedemption
from offers.models.offers import Offer, Rule
from offers.models.personal import PersonalProductChoice, PersonalProductSet
from offers.models.usage import OfferCounter, OfferUsageRecord

__all__ = [
    "Coupon",
    "CouponGrant",
    "CouponIssue",
    "CouponRedemption",
    "Offer",
    "OfferCounter",
    "OfferUsageRecord",
    "PersonalProductChoice",
    "PersonalProductSet",
    "Rule",
]
