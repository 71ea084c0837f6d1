from django.apps import AppConfig


class ProcessingConfig(AppConfig):
    name = "processing"
    verbose_name = "Processing: the till API"
    default_auto_field = "django.db.models.BigAutoField"
    # What each role may do with this app's models (see core.roles): {role: {model: actions}}.
    role_permissions: dict[str, dict[str, tuple[str, ...]]] = {}
