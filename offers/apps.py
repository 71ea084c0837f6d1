from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "offers"
    verbose_name = "Offers, rules, coupons, personal products"
    default_auto_field = "django.db.models.BigAutoField"
    # What each role may do with this app's models (see core.roles): {role: {model: actions}}.
    role_permissions: dict[str, dict[str, tuple[str, ...]]] = {
        "marketer": {
            "offer": ("view", "add", "change", "delete"),
            "rule": ("view", "add", "change", "delete"),
            "couponissue": ("view", "add", "change"),
            "coupon": ("view", "change"),
            "coupongrant": ("view",),
            "couponredemption": ("view",),
            "personalproductset": ("view", "add", "change", "delete"),
            "personalproductchoice": ("view",),
            "offercounter": ("view",),
        },
        "call_center": {
            "offer": ("view",),
            "rule": ("view",),
            "couponissue": ("view",),
            "coupon": ("view",),
            "coupongrant": ("view",),
            "couponredemption": ("view",),
            "personalproductset": ("view",),
            "personalproductchoice": ("view", "add", "change", "delete"),
        },
    }

    def ready(self) -> None:
        from offers import importers, signals  # noqa: F401  (importers registers offers.coupons with core.imports)

        signals.connect()
