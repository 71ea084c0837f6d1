from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Platform core (audit, roles)"
    default_auto_field = "django.db.models.BigAutoField"
    # What each role may do with this app's models: {role: {model: actions}}.
    role_permissions = {
        "administrator": {"auditevent": ("view",)},
        "call_center": {"auditevent": ("view",), "importjob": ("view", "add")},
        "marketer": {"auditevent": ("view",), "importjob": ("view", "add")},
    }

    def ready(self) -> None:
        from core.roles import sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="core.sync_roles")
