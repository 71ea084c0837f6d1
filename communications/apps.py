from django.apps import AppConfig


class CommunicationsConfig(AppConfig):
    name = "communications"
    verbose_name = "Communications: channels, mailings, campaigns"
    default_auto_field = "django.db.models.BigAutoField"
    # What each role may do with this app's models (see core.roles): {role: {model: actions}}.
    role_permissions: dict[str, dict[str, tuple[str, ...]]] = {}
