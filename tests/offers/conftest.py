from __future__ import annotations

import pytest


@pytest.fixture
def demo_catalogue(db):
    """The demo partner, stores and products (catalogue/demo.py)."""
    from catalogue import demo

    demo.load()
    from catalogue.models import Partner, Store

    partner = Partner.objects.get(code="demo-retail")
    return {"partner": partner, "msk": Store.objects.get(code="msk-01"), "nsk": Store.objects.get(code="nsk-01")}
