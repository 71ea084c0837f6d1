"""Demo operators, one per role. Password: settings.LOYALTY['DEMO_PASSWORD']."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from core.actors import Actor
from core.roles import sync_roles
from core.services import audit_record

DEMO_OPERATORS = (("admin", "administrator"), ("marketer", "marketer"), ("agent", "call_center"))


def load() -> str:
    sync_roles()
    User = get_user_model()
    created = 0
    for username, role in DEMO_OPERATORS:
        user, was_created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": role == "administrator", "email": f"{username}@example.com"}
        )
        if was_created:
            user.set_password(settings.LOYALTY["DEMO_PASSWORD"])
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            audit_record(actor=Actor.system("demo"), action="operator.create", target=user, after={"role": role})
            created += 1
    return f"{created} operators created"
