"""The demo loads, shows both systems working, and loads again without changing anything."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from statuses.models import CustomerStatus, StatusChange, StatusSystem

pytestmark = pytest.mark.django_db


def test_demo_is_idempotent_and_shows_statuses():
    call_command("load_demo")
    tier = StatusSystem.objects.get(code="tier")
    frequency = StatusSystem.objects.get(code="frequency")
    schedule = tier.next_recalculation_at
    held = set(CustomerStatus.objects.filter(system=tier, status__isnull=False).values_list("status__code", flat=True))
    assert {"silver", "gold", "platinum"} <= held
    assert CustomerStatus.objects.filter(system=frequency, status__code="frequent").exists()
    vip = CustomerStatus.objects.get(system=tier, customer__external_uid="demo-005")
    assert vip.status.code == "platinum" and vip.manual_until is not None
    changes = StatusChange.objects.count()

    call_command("load_demo")
    assert StatusChange.objects.count() == changes
    tier.refresh_from_db()
    assert tier.next_recalculation_at == schedule  # early runs by hand leave the schedule alone
