"""Coupon issues, batch generation, validation reasons, redemption (never twice), expiry."""
from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from core.models import AuditEvent
from offers.models import Coupon, CouponIssue
from offers.services.coupons import (
    coupon_generate_run,
    coupon_grant,
    coupon_issue_batch,
    coupon_issue_create,
    coupon_redeem,
    coupon_redemption_cancel,
    coupon_revoke,
    coupon_validate,
    coupons_expire,
    coupons_issue_to_customers,
    coupons_present,
)
from tests.conftest import run_in_threads
from tests.factories.catalogue import PartnerFactory
from tests.factories.crm import CustomerFactory
from tests.factories.offers import CouponFactory, CouponIssueFactory

ACTOR = Actor.system("test")
NOW = timezone.now


@pytest.mark.django_db
def test_public_code_is_unique_within_a_partner_only():
    a, b = PartnerFactory(), PartnerFactory()
    coupon_issue_create(actor=ACTOR, partner=a, kind="public", title="A", public_code="SPRING")
    with pytest.raises(DomainError) as caught:
        coupon_issue_create(actor=ACTOR, partner=a, kind="public", title="A2", public_code="SPRING")
    assert caught.value.code == "code_taken" and caught.value.field == "public_code"
    assert coupon_issue_create(actor=ACTOR, partner=b, kind="public", title="B", public_code="SPRING").pk


@pytest.mark.django_db
def test_issue_refuses_a_guessable_format():
    with pytest.raises(DomainError) as caught:
        coupon_issue_create(actor=ACTOR, title="x", kind="distribution", alphabet="digits", code_length=3)
    assert caught.value.field == "code_length"


@pytest.mark.django_db
def test_batch_generation_makes_unique_issued_codes_and_reports_progress(django_capture_on_commit_callbacks):
    issue = coupon_issue_create(actor=ACTOR, title="Batch", kind="distribution", code_prefix="B", code_length=8,
                                alphabet="safe", lifetime_days=10)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        coupon_issue_batch(issue=issue, count=2500, actor=ACTOR)
    assert len(callbacks) == 1  # the Celery task, enqueued after commit
    issue.refresh_from_db()
    assert (issue.generation, issue.requested_count, issue.progress) == ("queued", 2500, 0)
    # A code already taken elsewhere collides and is topped up.
    issue = coupon_generate_run(issue_id=issue.pk, actor=ACTOR)
    assert issue.generation == "done" and issue.generated_count == 2500 and issue.progress == 100
    codes = list(Coupon.objects.filter(issue=issue).values_list("code", "state", "expire_at"))
    assert len(codes) == len({c for c, _, _ in codes}) == 2500
    assert {state for _, state, _ in codes} == {"issued"}
    assert all(code.startswith("B") and len(code) == 9 for code, _, _ in codes)
    assert all(expire is not None for _, _, expire in codes)
    assert AuditEvent.objects.filter(action="coupon_issue.generated", object_id=str(issue.pk)).exists()


@pytest.mark.django_db
def test_collisions_are_topped_up(monkeypatch):
    issue = CouponIssueFactory(code_length=10, alphabet="safe")
    CouponFactory(code="TAKEN00000")
    draws = iter([["TAKEN00000", "FRESH00001", "FRESH00001"], ["FRESH00002"]])
    monkeypatch.setattr("offers.codes.CodeFormat.generate", lambda self, n: next(draws))
    CouponIssue.objects.filter(pk=issue.pk).update(requested_count=2)
    issue = coupon_generate_run(issue_id=issue.pk, actor=ACTOR)
    assert sorted(Coupon.objects.filter(issue=issue).values_list("code", flat=True)) == ["FRESH00001", "FRESH00002"]


@pytest.mark.django_db
def test_personal_coupons_one_per_member_and_grants_are_idempotent():
    members = [CustomerFactory() for _ in range(3)]
    issue = CouponIssueFactory(kind="personal", lifetime_days=30, activation_delay_days=1, activation_round="day")
    coupons = coupons_issue_to_customers(issue=issue, customer_ids=[m.pk for m in members], actor=ACTOR)
    assert sorted(c.customer_id for c in coupons) == sorted(m.pk for m in members)
    assert all(c.activate_at > timezone.now() and c.state == "issued" for c in coupons)
    first = coupon_grant(issue=issue, customer_id=members[0].pk, key="purchase:1:offer:2", actor=ACTOR, count=2)
    again = coupon_grant(issue=issue, customer_id=members[0].pk, key="purchase:1:offer:2", actor=ACTOR, count=2)
    assert len(first) == 2 and sorted(c.code for c in again) == sorted(c.code for c in first)


@pytest.mark.django_db
def test_validation_gives_the_reason():
    owner, other = CustomerFactory(), CustomerFactory()
    now = timezone.now()
    CouponFactory(code="OK1")
    CouponFactory(code="LATER", activate_at=now + dt.timedelta(days=1))
    CouponFactory(code="OLD", expire_at=now - dt.timedelta(seconds=1))
    CouponFactory(code="DONE", state="used", uses=1)
    CouponFactory(code="GONE", state="revoked", revoke_reason="fraud")
    CouponFactory(code="MINE", customer=owner)
    CouponFactory(code="WAIT", state="created")
    reasons = {code: coupon_validate(code=code, customer_id=other.pk).code
               for code in ("OK1", "LATER", "OLD", "DONE", "GONE", "MINE", "WAIT", "NOPE")}
    assert reasons == {"OK1": "ok", "LATER": "not_active_yet", "OLD": "expired", "DONE": "used", "GONE": "revoked",
                       "MINE": "other_customer", "WAIT": "not_issued", "NOPE": "not_found"}
    assert coupon_validate(code="MINE", customer_id=owner.pk).ok
    assert "fraud" in coupon_validate(code="GONE").message
    presented, checks = coupons_present(codes=["OK1", "OLD"], customer_id=other.pk, partner_id=None)
    assert [p.code for p in presented] == ["OK1"] and [c.code for c in checks] == ["ok", "expired"]


@pytest.mark.django_db
def test_redeem_is_idempotent_per_purchase_and_single_use_holds():
    member = CustomerFactory()
    CouponFactory(code="ONCE")
    first = coupon_redeem(code="ONCE", customer_id=member.pk, key="purchase-1", actor=ACTOR)
    retry = coupon_redeem(code="ONCE", customer_id=member.pk, key="purchase-1", actor=ACTOR)
    assert retry.pk == first.pk
    with pytest.raises(DomainError) as caught:
        coupon_redeem(code="ONCE", customer_id=member.pk, key="purchase-2", actor=ACTOR)
    assert caught.value.code == "coupon_error" and caught.value.extra["reason"] == "used"
    coupon = Coupon.objects.get(code="ONCE")
    assert (coupon.state, coupon.uses) == ("used", 1)
    assert coupon_redemption_cancel(code="ONCE", key="purchase-1", actor=ACTOR)
    coupon.refresh_from_db()
    assert (coupon.state, coupon.uses) == ("issued", 0)
    assert not coupon_redemption_cancel(code="ONCE", key="purchase-1", actor=ACTOR)


@pytest.mark.django_db
def test_multi_use_coupon_and_other_members_coupon():
    owner, other = CustomerFactory(), CustomerFactory()
    CouponFactory(code="THRICE", max_uses=3, customer=owner)
    with pytest.raises(DomainError) as caught:
        coupon_redeem(code="THRICE", customer_id=other.pk, key="k0", actor=ACTOR)
    assert caught.value.extra["reason"] == "other_customer"
    for n in range(3):
        coupon_redeem(code="THRICE", customer_id=owner.pk, key=f"k{n + 1}", actor=ACTOR)
    coupon = Coupon.objects.get(code="THRICE")
    assert (coupon.uses, coupon.state) == (3, "used")


@pytest.mark.django_db
def test_public_code_once_per_member():
    partner = PartnerFactory()
    a, b = CustomerFactory(), CustomerFactory()
    coupon_issue_create(actor=ACTOR, partner=partner, kind="public", title="P", public_code="HELLO")
    coupon_redeem(code="HELLO", customer_id=a.pk, key="p1", actor=ACTOR, partner_id=partner.pk)
    coupon_redeem(code="HELLO", customer_id=b.pk, key="p2", actor=ACTOR, partner_id=partner.pk)
    assert coupon_validate(code="HELLO", customer_id=a.pk, partner_id=partner.pk).code == "used"
    with pytest.raises(DomainError):
        coupon_redeem(code="HELLO", customer_id=a.pk, key="p3", actor=ACTOR, partner_id=partner.pk)
    assert coupon_validate(code="HELLO", customer_id=None, partner_id=partner.pk).code == "other_customer"
    assert coupon_validate(code="HELLO", customer_id=a.pk, partner_id=PartnerFactory().pk).code == "not_found"


@pytest.mark.django_db
def test_revoke_and_expiry_sweep():
    now = timezone.now()
    CouponFactory(code="E1", expire_at=now - dt.timedelta(minutes=1))
    CouponFactory(code="E2", expire_at=now - dt.timedelta(days=3), state="created")
    CouponFactory(code="KEEP", expire_at=now + dt.timedelta(days=1))
    CouponFactory(code="USED", expire_at=now - dt.timedelta(days=1), state="used", uses=1)
    assert coupons_expire(now=now, batch=1) == 2  # works through batches
    states = dict(Coupon.objects.values_list("code", "state"))
    assert states == {"E1": "expired", "E2": "expired", "KEEP": "issued", "USED": "used"}
    revoked = coupon_revoke(coupon=Coupon.objects.get(code="KEEP"), actor=ACTOR, reason="lost")
    assert revoked.state == "revoked"
    with pytest.raises(DomainError):
        coupon_revoke(coupon=revoked, actor=ACTOR)


@pytest.mark.django_db(transaction=True)
def test_two_tills_at_once_never_both_redeem_a_single_use_coupon():
    member = CustomerFactory()
    CouponFactory(code="RACE")

    for round_ in range(3):  # several rounds, since a lucky schedule could hide a race
        def till(index: int, round_: int = round_):
            # run_in_threads gives each till its own thread, hence its own database connection.
            return coupon_redeem(code="RACE", customer_id=member.pk, key=f"r{round_}-till-{index}", actor=ACTOR)

        Coupon.objects.filter(code="RACE").update(state="issued", uses=0)
        results = run_in_threads(till, 6)
        wins = [r for r in results if not isinstance(r, Exception)]
        losses = [r for r in results if isinstance(r, DomainError)]
        assert len(wins) == 1, results
        assert len(losses) == 5 and {e.extra["reason"] for e in losses} == {"used"}
        coupon = Coupon.objects.get(code="RACE")
        assert (coupon.uses, coupon.state) == (1, "used")
    assert connection.vendor == "postgresql"
