from django.apps import AppConfig

# Customer side (customers, contacts, cards, purchase history, program settings). Call-center agents
# find and fix members; marketers only look. Administrators get everything (core.roles).
CUSTOMER_ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "call_center": {
        "customer": ("view", "add", "change"),
        "notifier": ("view", "add", "change"),
        "card": ("view", "change"),
        "cardcategory": ("view",),
        "cardgroup": ("view",),
        "purchase": ("view",),
        "purchaseline": ("view",),
    },
    "marketer": {
        "customer": ("view",),
        "notifier": ("view",),
        "card": ("view",),
        "cardcategory": ("view",),
        "cardgroup": ("view",),
        "purchase": ("view",),
        "purchaseline": ("view",),
    },
}


# Ledger side. Points move only through the ledger services: "add ledgerentry" is the right to adjust.
LEDGER_ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "call_center": {
        "currency": ("view",),
        "account": ("view",),
        "ledgerentry": ("view", "add"),
        "lot": ("view",),
        "hold": ("view",),
    },
    "marketer": {
        "currency": ("view",),
        "account": ("view",),
        "ledgerentry": ("view",),
        "lot": ("view",),
    },
}


def _merge_roles(*parts: dict[str, dict[str, tuple[str, ...]]]) -> dict[str, dict[str, tuple[str, ...]]]:
    merged: dict[str, dict[str, tuple[str, ...]]] = {}
    for part in parts:
        for role, models in part.items():
            merged.setdefault(role, {}).update(models)
    return merged


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM: customers, cards, accounts, ledger, purchases"
    default_auto_field = "django.db.models.BigAutoField"
    # What each role may do with this app's models (see core.roles): {role: {model: actions}}.
    role_permissions: dict[str, dict[str, tuple[str, ...]]] = _merge_roles(CUSTOMER_ROLE_PERMISSIONS, LEDGER_ROLE_PERMISSIONS)

    def ready(self) -> None:
        from crm import importers  # noqa: F401  (registers crm.adjustments with core.imports)
