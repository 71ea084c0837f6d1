"""Admin for offers (with inline rules, a dry run page and a filter/action reference), coupon
issues and coupons, and personal product sets."""
from offers.admin import coupons, offers, personal  # noqa: F401
