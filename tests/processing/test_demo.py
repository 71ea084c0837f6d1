from __future__ import annotations

import pytest

from crm.models import Purchase
from tests.crm.ledger_checks import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def test_demo_cheques_load_twice_without_duplicates():
    from catalogue import demo as catalogue_demo
    from crm import demo as crm_demo
    from offers import demo as offers_demo
    from processing import demo

    catalogue_demo.load()
    crm_demo.load()
    offers_demo.load()
    summary = demo.load()
    assert "Till demo-till-msk-01:demo-secret-msk-01" in summary
    states = dict(Purchase.objects.filter(number__startswith="DEMO-POS-").values_list("number", "state"))
    assert states["DEMO-POS-1"] == "confirmed" and states["DEMO-POS-4"] == "cancelled"
    assert states["DEMO-POS-OFF-1"] == "confirmed"
    assert Purchase.objects.filter(kind="refund", number="DEMO-POS-5-R").exists()
    count = Purchase.objects.count()
    demo.load()
    assert Purchase.objects.count() == count
    assert_ledger_consistent()
