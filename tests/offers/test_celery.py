"""Background work on a real Celery worker: a coupon batch with progress, and the expiry sweep."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from core.actors import Actor
from offers.models import Coupon, CouponIssue
from offers.services.coupons import coupon_issue_batch, coupon_issue_create
from tests.factories.offers import CouponFactory

pytestmark = [pytest.mark.celery_worker]


def _wait(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_batch_issue_runs_on_a_worker(celery_worker_real):
    issue = coupon_issue_create(actor=Actor.system("test"), title="Worker batch", kind="distribution",
                                code_length=10, alphabet="safe")
    coupon_issue_batch(issue=issue, count=1500, actor=Actor.system("test"))  # enqueued on commit

    def done() -> bool:
        issue.refresh_from_db()
        return issue.generation in ("done", "failed")

    assert _wait(done), issue.generation
    assert issue.generation == CouponIssue.Generation.DONE, issue.generation_error
    assert issue.progress == 100
    assert Coupon.objects.filter(issue=issue, state="issued").count() == 1500


def test_expiry_task_from_the_beat_schedule_runs_on_a_worker(celery_worker_real, settings):
    from loymax.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["offers-coupons-expire"]
    assert app.amqp.router.route({}, entry["task"])["queue"].name == "periodic"
    CouponFactory(code="STALE", expire_at=timezone.now() - dt.timedelta(hours=1))
    result = app.send_task(entry["task"])
    assert result.get(timeout=30) == 1
    assert Coupon.objects.get(code="STALE").state == "expired"
