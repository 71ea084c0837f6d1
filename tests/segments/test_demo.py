"""The demo: segments with members, RFM scored, idempotent."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from crm.models import Purchase
from segments.models import Membership, RfmScore, Segment

pytestmark = pytest.mark.django_db


def test_demo_segments_have_members_and_a_second_load_adds_nothing():
    call_command("load_demo")
    cheques = Purchase.objects.filter(number__startswith="DEMO-SEG-").count()
    counts = dict(Segment.objects.values_list("name", "member_count"))
    assert cheques > 30
    assert counts["Has a verified phone"] == 12
    assert counts["Spent over 1000 in 365 days"] > 0
    assert counts["Bought dairy (90 days)"] > 0
    assert counts["RFM champions"] > 0
    assert counts["VIP list"] == 3
    assert counts["Parents (children in the questionnaire)"] > 0
    assert RfmScore.objects.values("cell").distinct().count() >= 5

    call_command("load_demo")
    assert Purchase.objects.filter(number__startswith="DEMO-SEG-").count() == cheques
    assert dict(Segment.objects.values_list("name", "member_count")) == counts
    assert Membership.objects.filter(segment__name="VIP list").count() == 3
