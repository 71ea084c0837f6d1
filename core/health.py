"""Health checks for the database, Redis, Celery workers and beat."""
from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.tasks import HEARTBEAT_KEY


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    millis: float


def _timed(name: str, fn) -> Check:
    started = time.perf_counter()
    try:
        ok, detail = fn()
    except Exception as exc:  # a health check reports failures, it never raises
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return Check(name=name, ok=ok, detail=detail, millis=round((time.perf_counter() - started) * 1000, 1))


def _database() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("select version()")
        return True, cursor.fetchone()[0].split(",")[0]


def _redis() -> tuple[bool, str]:
    client = cache._cache.get_client(write=True)  # the Redis client behind Django's cache
    client.ping()
    return True, "PONG"


def _workers() -> tuple[bool, str]:
    from loymax.celery import app

    replies = app.control.ping(timeout=1.0) or []
    names = sorted(name for reply in replies for name in reply)
    return (bool(names), ", ".join(names) if names else "no worker answered within 1 s")


def _beat() -> tuple[bool, str]:
    stamp = cache.get(HEARTBEAT_KEY)
    if not stamp:
        return False, "no heartbeat yet (beat sends one every 30 s)"
    age = (timezone.now() - parse_datetime(stamp)).total_seconds()
    return age < 120, f"last heartbeat {int(age)} s ago"


def run_checks(*, include_beat: bool = True) -> list[Check]:
    checks = [_timed("database", _database), _timed("redis", _redis), _timed("workers", _workers)]
    if include_beat:
        checks.append(_timed("beat", _beat))
    return checks
