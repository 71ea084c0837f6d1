from django.apps import AppConfig


class StatusesConfig(AppConfig):
    name = "statuses"
    verbose_name = "Status systems"
    default_auto_field = "django.db.models.BigAutoField"
    # What each role may do with this app's models (see core.roles): {role: {model: actions}}.
    # Marketers define systems and statuses; call-center agents see them and assign statuses by
    # hand (through the service: reason required, audited). History and runs are read-only.
    role_permissions: dict[str, dict[str, tuple[str, ...]]] = {
        "marketer": {
            "statussystem": ("view", "add", "change", "delete"),
            "status": ("view", "add", "change", "delete"),
            "customerstatus": ("view",),
            "statuschange": ("view",),
            "statusrecalculation": ("view",),
        },
        "call_center": {
            "statussystem": ("view",),
            "status": ("view",),
            "customerstatus": ("view", "add", "change"),
            "statuschange": ("view",),
        },
    }

    def ready(self) -> None:
        # Status systems are attributes of kind "status" whose values live here: tell the
        # attributes' filter compiler (segments) how to select customers by status.
        from attributes.filters import register_kind_filter
        from statuses.filters import status_condition

        register_kind_filter("status", status_condition)

        from crm.signals import customer_merged
        from statuses.receivers import on_customer_merged

        customer_merged.connect(on_customer_merged, dispatch_uid="statuses.on_customer_merged")

        from statuses.active import connect

        connect()
