"""Celery tasks: thin wrappers that load by id and call a service."""
from __future__ import annotations

from celery import shared_task

from core.actors import Actor


@shared_task(name="offers.tasks.coupon_generate")
def coupon_generate(issue_id: int) -> dict:
    from offers.services.coupons import coupon_generate_run

    issue = coupon_generate_run(issue_id=issue_id, actor=Actor.system("coupon batch"))
    return {"issue": issue.pk, "generated": issue.generated_count, "state": issue.generation}


@shared_task(name="offers.tasks.coupon_issue_customers")
def coupon_issue_customers(issue_id: int, customer_ids: list[int], actor_kind: str = "system", actor_id: str = "",
                           actor_label: str = "coupon batch") -> int:
    from offers.models import CouponIssue
    from offers.services.coupons import coupons_issue_to_customers

    issue = CouponIssue.objects.get(pk=issue_id)
    actor = Actor(kind=actor_kind, id=actor_id, label=actor_label)  # type: ignore[arg-type]
    return len(coupons_issue_to_customers(issue=issue, customer_ids=customer_ids, actor=actor))


@shared_task(name="offers.tasks.periodic_coupons_expire")
def periodic_coupons_expire() -> int:
    from offers.services.coupons import coupons_expire

    return coupons_expire()


@shared_task(name="offers.tasks.periodic_offers_finish")
def periodic_offers_finish() -> int:
    from offers.services.offers import offers_finish_expired

    return offers_finish_expired()
