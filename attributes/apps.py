from django.apps import AppConfig


class AttributesConfig(AppConfig):
    name = "attributes"
    verbose_name = "Attributes, questionnaire, counters, imports"
    default_auto_field = "django.db.models.BigAutoField"
    # What each role may do with this app's models (see core.roles): {role: {model: actions}}.
    # Marketers design what is known about customers; the call center reads it and fixes answers.
    role_permissions: dict[str, dict[str, tuple[str, ...]]] = {
        "marketer": {
            "attribute": ("view", "add", "change", "delete"),
            "questionnaire": ("view", "add", "change", "delete"),
            "questiongroup": ("view", "add", "change", "delete"),
            "question": ("view", "add", "change", "delete"),
            "counter": ("view", "add", "change", "delete"),
            "attributevalue": ("view", "change"),
            "groupitem": ("view",),
            "countervalue": ("view", "change"),
        },
        "call_center": {
            "attribute": ("view",),
            "questionnaire": ("view",),
            "questiongroup": ("view",),
            "question": ("view",),
            "counter": ("view",),
            "attributevalue": ("view", "change"),
            "groupitem": ("view", "add", "change", "delete"),
            "countervalue": ("view",),
        },
    }

    def ready(self) -> None:
        from attributes import importers  # noqa: F401  (registers the CSV importers)
