"""Shared fixtures. Tests run against real PostgreSQL and Redis (see scripts/test.sh)."""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright with live_server

from tests.factories.core import OperatorFactory  # noqa: E402


@pytest.fixture(autouse=True)
def _code_requests_per_ip_reset() -> None:
    """Every test client and live server request comes from 127.0.0.1, and the per-IP code limit
    (crm.services.ip_limits) counts in the real Redis, across tests and runs: start each test with
    that address's counter at zero (the limit itself stays as configured)."""
    from crm.services.ip_limits import code_request_ip_reset

    code_request_ip_reset(ip="127.0.0.1")


@pytest.fixture(autouse=True)
def _fresh_offer_snapshot(request) -> Iterator[None]:
    """A test that touches the database starts with no compiled offers in this process and a fresh
    snapshot version in Redis, so it evaluates the offers it made, not another test's."""
    uses_db = any(m.name == "django_db" for m in request.node.iter_markers()) or bool(
        {"db", "transactional_db", "django_db_setup"} & set(request.fixturenames))
    if not uses_db:
        yield
        return
    from django.core.cache import cache

    from offers.snapshot import VERSION_KEY, snapshot_forget

    snapshot_forget()
    cache.delete(VERSION_KEY)
    yield
    snapshot_forget()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def _operator(role: str):
    from core.roles import sync_roles

    if not Group.objects.filter(name=role).exists():
        sync_roles()
    user = OperatorFactory(username=f"{role}-user", is_superuser=(role == "administrator"))
    user.groups.set([Group.objects.get(name=role)])
    return user


@pytest.fixture
def admin_operator(db):
    return _operator("administrator")


@pytest.fixture
def marketer(db):
    return _operator("marketer")


@pytest.fixture
def agent(db):
    return _operator("call_center")


@pytest.fixture
def operator_client(admin_operator) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_operator)
    return client


@pytest.fixture
def celery_worker_real(transactional_db) -> Iterator[object]:
    """A real Celery worker (solo pool, in a thread) consuming from Redis.

    Needs a transactional test: the worker thread uses its own database connection and must see
    committed rows.
    """
    from celery.contrib.testing.worker import start_worker

    from loymax.celery import app

    app.control.purge()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10.0) as worker:
        yield worker


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Debian's Chromium; no browser downloads are possible here.
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


def admin_login(page, base_url: str, username: str, password: str) -> None:
    """Sign in to the admin in a Playwright page and wait for its front page."""
    page.goto(f"{base_url}/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def run_in_threads(target, count: int) -> list:
    """Run `target(i)` in `count` threads started together; return results or exceptions."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def runner(index: int) -> None:
        from django.db import connection

        try:
            barrier.wait()
            results[index] = target(index)
        except Exception as exc:  # the test inspects what each thread got
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
