from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "catalogue"
    verbose_name = "Catalogue: partners, stores, tills, products"
    default_auto_field = "django.db.models.BigAutoField"
    # What each role may do with this app's models (see core.roles): {role: {model: actions}}.
    role_permissions: dict[str, dict[str, tuple[str, ...]]] = {
        "marketer": {
            "product": ("view", "add", "change"),
            "productgroup": ("view", "add", "change", "delete"),
            "productgroupmembership": ("view", "add", "change", "delete"),
            "partner": ("view",),
            "store": ("view",),
        },
        "call_center": {"product": ("view",), "store": ("view",), "partner": ("view",), "till": ("view",)},
    }

    def ready(self) -> None:
        from catalogue import importers  # noqa: F401  (registers the product CSV importer)
