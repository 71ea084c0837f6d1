"""offers writes, one module per area: offers.py (offers, rules, states), coupons.py (issues, codes,
validation, redemption, expiry), personal.py (personal product choices), usage.py (offer limits).
Import from the module, e.g. `from offers.services.coupons import coupon_redeem`."""
