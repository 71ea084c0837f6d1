from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Segments and RFM"
    default_auto_field = "django.db.models.BigAutoField"
    # What each role may do with this app's models (see core.roles): {role: {model: actions}}.
    # Marketers build, refresh, upload and delete segments and tune RFM; call-center agents see
    # segments, their refresh history and the RFM matrix (to answer "why did I get this offer").
    role_permissions: dict[str, dict[str, tuple[str, ...]]] = {
        "marketer": {
            "segment": ("view", "add", "change", "delete"),
            "segmentrefresh": ("view",),
            "rfmsettings": ("view", "change"),
            "rfmscore": ("view",),
        },
        "call_center": {
            "segment": ("view",),
            "segmentrefresh": ("view",),
            "rfmsettings": ("view",),
            "rfmscore": ("view",),
        },
    }

    def ready(self) -> None:
        from segments import importers  # noqa: F401 - registers segments.static_members
