"""A real Celery worker on Redis (not eager mode) runs our tasks and sees committed rows."""
from __future__ import annotations

import pytest
from django.core.cache import cache

from core.health import run_checks
from core.tasks import HEARTBEAT_KEY, periodic_heartbeat, ping


@pytest.mark.celery_worker
def test_real_worker_runs_tasks_and_health_sees_it(celery_worker_real):
    # when
    assert ping.delay().get(timeout=20) == "pong"
    stamp = periodic_heartbeat.delay().get(timeout=20)
    # then: the task wrote through Django's Redis cache, and health sees a worker and beat.
    assert cache.get(HEARTBEAT_KEY) == stamp
    checks = {check.name: check for check in run_checks()}
    assert checks["workers"].ok, checks["workers"].detail
    assert checks["beat"].ok, checks["beat"].detail


def test_beat_schedule_is_in_one_place_and_routes_to_queues(settings):
    from loymax.celery import app

    assert "core-heartbeat" in settings.CELERY_BEAT_SCHEDULE
    queues = {queue.name for queue in app.conf.task_queues}
    assert queues == {"default", "messaging", "imports", "periodic"}
    route = app.amqp.router.route({}, "core.tasks.periodic_heartbeat")
    assert route["queue"].name == "periodic"


@pytest.mark.celery_worker
def test_task_routed_to_periodic_queue_is_consumed(celery_worker_real):
    from loymax.celery import app

    result = app.send_task("core.tasks.periodic_heartbeat")
    assert result.get(timeout=20)
