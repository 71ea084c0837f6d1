"""Background refresh on a real Celery worker: the hourly fan-out, the API's queued refresh, RFM."""
from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from segments.models import Membership, RfmScore, Segment
from segments.tasks import customer_stats_refresh, periodic_refresh_all, rfm_recompute
from tests.factories.crm import NotifierFactory, PurchaseFactory
from tests.factories.segments import SegmentFactory, StaticSegmentFactory

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]
PHONE = {"kind": "notifier", "channel": "phone", "verified": True}


def wait_for(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("the worker did not finish in time")


def test_hourly_fan_out_refreshes_each_automatic_dynamic_segment(celery_worker_real, settings):
    people = [NotifierFactory(verified=True).customer for _ in range(4)]
    automatic = SegmentFactory(definition=PHONE)
    manual = SegmentFactory(definition=PHONE, auto_refresh=False)
    archived = SegmentFactory(definition=PHONE, is_active=False)
    StaticSegmentFactory()
    assert settings.CELERY_BEAT_SCHEDULE["segments-refresh"]["task"] == "segments.tasks.periodic_refresh_all"

    assert periodic_refresh_all.delay().get(timeout=30) == 1

    wait_for(lambda: Segment.objects.get(pk=automatic.pk).member_count == 4)
    assert set(Membership.objects.filter(segment=automatic).values_list("customer_id", flat=True)) == {
        p.pk for p in people}
    assert not Membership.objects.filter(segment_id__in=[manual.pk, archived.pk]).exists()


def test_api_refresh_runs_on_the_worker(celery_worker_real, marketer):
    NotifierFactory(verified=True)
    segment = SegmentFactory(definition=PHONE)
    client = APIClient()
    client.force_authenticate(marketer)
    assert client.post(f"/api/v1/segments/{segment.pk}/refresh", {}).status_code == 202
    wait_for(lambda: Segment.objects.get(pk=segment.pk).member_count == 1)
    assert Segment.objects.get(pk=segment.pk).refreshes.get().actor_label == marketer.username


def test_rfm_and_totals_tasks(celery_worker_real):
    purchase = PurchaseFactory()
    assert customer_stats_refresh.delay([purchase.customer_id]).get(timeout=30) == 1
    assert rfm_recompute.delay("test").get(timeout=30) == 1
    assert RfmScore.objects.get().customer_id == purchase.customer_id
