from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.actors import Actor
from core.roles import ROLES, sync_roles
from core.services import audit_record


class Command(BaseCommand):
    help = "Create (or update) an operator with a role: administrator, marketer or call_center."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(ROLES))
        parser.add_argument("--password", help="Omit to be asked; an existing operator keeps theirs when omitted.")
        parser.add_argument("--email", default="")

    def handle(self, *args, username: str, role: str, password: str | None, email: str, **options) -> None:
        User = get_user_model()
        if not Group.objects.filter(name=role).exists():
            sync_roles()
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username, defaults={"email": email})
            if created and not password:
                import getpass

                password = getpass.getpass(f"Password for {username}: ")
                if not password:
                    raise CommandError("A new operator needs a password.")
            if password:
                user.set_password(password)
            user.is_staff = True
            user.is_superuser = role == "administrator"
            if email:
                user.email = email
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            audit_record(
                actor=Actor.system("create_operator command"),
                action="operator.create" if created else "operator.update",
                target=user,
                after={"username": username, "role": role, "email": user.email},
            )
        self.stdout.write(self.style.SUCCESS(f"{'Created' if created else 'Updated'} operator {username} ({role})"))
