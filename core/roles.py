"""Roles are Django groups. Each app declares, on its AppConfig, what each role may do with its models:

    role_permissions = {"marketer": {"offer": ("view", "add", "change")}}

`sync_roles` builds the groups from all of them after every migrate, so a new app's models get
their permissions without touching this module.
"""
from __future__ import annotations

from django.apps import apps
from django.contrib.auth.models import Group, Permission

ROLES: dict[str, str] = {
    "administrator": "Administrator: everything, including operators and settings",
    "marketer": "Marketer: attributes, segments, offers, coupons, mailings, campaigns",
    "call_center": "Call-center agent: finds members and fixes their data, cards and points",
}


def role_permission_codenames() -> dict[str, set[tuple[str, str]]]:
    wanted: dict[str, set[tuple[str, str]]] = {role: set() for role in ROLES}
    for config in apps.get_app_configs():
        for role, models in getattr(config, "role_permissions", {}).items():
            for model, actions in models.items():
                for action in actions:
                    wanted[role].add((config.label, f"{action}_{model}"))
    return wanted


def sync_roles() -> dict[str, int]:
    counts: dict[str, int] = {}
    wanted = role_permission_codenames()
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        if role == "administrator":
            perms = list(Permission.objects.all())
        else:
            perms = [
                perm
                for perm in Permission.objects.select_related("content_type")
                if (perm.content_type.app_label, perm.codename) in wanted[role]
            ]
        group.permissions.set(perms)
        counts[role] = len(perms)
    return counts


def sync_roles_after_migrate(sender, **kwargs) -> None:  # noqa: ARG001
    # post_migrate is sent once per app, and permissions are created app by app; wait for the last
    # installed app so every model's permissions exist before the groups are built.
    if sender.label == list(apps.get_app_configs())[-1].label:
        sync_roles()
