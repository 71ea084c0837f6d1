"""Old one-time codes are purged daily by a real Celery worker (beat task on the periodic queue)."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from core.models import AuditEvent
from crm.models import VerificationCode
from crm.tasks.customers import periodic_verification_codes_purge
from tests.factories.crm import CustomerFactory


def _code(age: dt.timedelta) -> VerificationCode:
    row = VerificationCode.objects.create(
        customer=CustomerFactory(), kind="phone", value="+79160000000", purpose="verify", code_hash="x" * 64,
        expires_at=timezone.now() + dt.timedelta(minutes=5),
    )
    VerificationCode.objects.filter(pk=row.pk).update(created_at=timezone.now() - age)
    return row


@pytest.mark.celery_worker
def test_worker_purges_codes_older_than_a_day(celery_worker_real, settings):
    old = [_code(dt.timedelta(days=2)) for _ in range(3)]
    fresh = _code(dt.timedelta(minutes=1))
    assert "crm-verification-codes-purge" in settings.CELERY_BEAT_SCHEDULE

    assert periodic_verification_codes_purge.delay().get(timeout=20) == 3

    assert list(VerificationCode.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not VerificationCode.objects.filter(pk__in=[row.pk for row in old]).exists()
    assert AuditEvent.objects.get(action="verification_code.purge").after["deleted"] == 3
