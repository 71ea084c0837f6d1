from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_snapshot(request):
    """Each test starts with no compiled offers in this process and a fresh version in Redis."""
    if "django_db_setup" not in request.fixturenames and not any(
            m.name == "django_db" for m in request.node.iter_markers()):
        yield
        return
    from django.core.cache import cache

    from offers.snapshot import VERSION_KEY, snapshot_forget

    snapshot_forget()
    cache.delete(VERSION_KEY)
    yield
    snapshot_forget()


@pytest.fixture
def demo_catalogue(db):
    """The demo partner, stores and products (catalogue/demo.py)."""
    from catalogue import demo

    demo.load()
    from catalogue.models import Partner, Store

    partner = Partner.objects.get(code="demo-retail")
    return {"partner": partner, "msk": Store.objects.get(code="msk-01"), "nsk": Store.objects.get(code="nsk-01")}
