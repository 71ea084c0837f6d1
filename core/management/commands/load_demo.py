from __future__ import annotations

import importlib

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = (
        "Load demo data: operators with each role, and each app's demo (<app>/demo.py: load()). "
        "Idempotent: a second run adds nothing twice. After every app has loaded, each demo's optional "
        "finish() runs (e.g. status recalculation over the cheques other apps' demos wrote)."
    )

    def handle(self, *args, **options) -> None:
        finishers = []
        for config in apps.get_app_configs():
            try:
                module = importlib.import_module(f"{config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name == f"{config.name}.demo":
                    continue
                raise
            with transaction.atomic():
                summary = module.load()
            self.stdout.write(f"demo {config.label}: {summary}")
            if hasattr(module, "finish"):
                finishers.append((config.label, module.finish))
        for label, finish in finishers:
            with transaction.atomic():
                summary = finish()
            self.stdout.write(f"demo {label} (after all apps): {summary}")
        self.stdout.write(self.style.SUCCESS("demo data ready"))
