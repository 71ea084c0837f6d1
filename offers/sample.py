"""A sample cheque for a dry run (admin page or API): plain data in, an engine Cheque out."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from catalogue.models import Product, Store
from core.errors import DomainError
from offers.engine.types import CardFacts, Cheque, CustomerFacts, Line, PresentedCoupon
from offers.models import CouponIssue


def _decimal(value: Any, field: str) -> Decimal:
    try:
        result = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, AttributeError) as exc:
        raise DomainError("invalid_sample", f"'{value}' is not a number.", field=field) from exc
    if not result.is_finite() or result < 0:
        raise DomainError("invalid_sample", "must be a non-negative number.", field=field)
    return result


def _date(value: Any, field: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise DomainError("invalid_sample", "must be a date YYYY-MM-DD.", field=field) from exc


def sample_lines(rows: Sequence[Mapping[str, Any]]) -> tuple[Line, ...]:
    """Lines from {sku, quantity, price[, amount]}; price defaults to the catalogue price."""
    skus = [str(row.get("sku", "")).strip() for row in rows]
    prices = dict(Product.objects.filter(sku__in=skus).values_list("sku", "price"))
    lines = []
    for index, row in enumerate(rows):
        sku = skus[index]
        if not sku:
            raise DomainError("invalid_sample", "a line needs a SKU.", field=f"lines.{index}.sku")
        quantity = _decimal(row.get("quantity", 1) or 1, f"lines.{index}.quantity")
        if quantity <= 0:
            raise DomainError("invalid_sample", "must be positive.", field=f"lines.{index}.quantity")
        raw_price = row.get("price")
        if raw_price in (None, ""):
            if prices.get(sku) is None:
                raise DomainError("invalid_sample", f"{sku} has no catalogue price: give one.", field=f"lines.{index}.price")
            price = prices[sku]
        else:
            price = _decimal(raw_price, f"lines.{index}.price")
        raw_amount = row.get("amount")
        amount = (_decimal(raw_amount, f"lines.{index}.amount") if raw_amount not in (None, "")
                  else (price * quantity).quantize(Decimal("0.01")))
        lines.append(Line(position=index + 1, sku=sku, quantity=quantity, price=price, amount=amount))
    return tuple(lines)


def sample_customer(data: Mapping[str, Any] | None) -> CustomerFacts | None:
    if not data:
        return None
    def mapping(name: str) -> Mapping[str, Any]:
        value = data.get(name) or {}
        if not isinstance(value, Mapping):
            raise DomainError("invalid_sample", "must be an object.", field=f"customer.{name}")
        return value

    try:
        segments = frozenset(int(s) for s in data.get("segment_ids") or ())
        personal = {int(k): frozenset(str(s) for s in v) for k, v in mapping("personal_products").items()}
        purchases = {str(k): tuple(_date(d, f"customer.group_purchases.{k}") for d in v)
                     for k, v in mapping("group_purchases").items()}
    except (TypeError, ValueError) as exc:
        raise DomainError("invalid_sample", f"malformed member facts: {exc}", field="customer") from exc
    groups = {str(k): tuple(dict(item) for item in v) for k, v in mapping("groups").items()}
    return CustomerFacts(
        id=int(data["id"]) if data.get("id") not in (None, "") else 0,
        birth_date=_date(data.get("birth_date"), "customer.birth_date"),
        registered_on=_date(data.get("registered_on"), "customer.registered_on"),
        last_status_change_on=_date(data.get("last_status_change_on"), "customer.last_status_change_on"),
        statuses={str(k): str(v) for k, v in mapping("statuses").items()},
        segment_ids=segments,
        attributes=dict(mapping("attributes")),
        groups=groups,
        personal_products=personal,
        group_purchases=purchases,  # type: ignore[arg-type]
    )


def sample_cheque(*, lines: Sequence[Mapping[str, Any]], store: Store | None = None,
                  purchased_at: dt.datetime | None = None, customer: Mapping[str, Any] | None = None,
                  card: Mapping[str, Any] | None = None, coupon_issue_ids: Sequence[int] = (),
                  event: str = "purchase") -> Cheque:
    """A cheque as processing would build it, from a marketer's sample. Coupons are given by issue:
    a dry run pretends a valid coupon of that issue was presented."""
    issues = list(CouponIssue.objects.filter(pk__in=list(coupon_issue_ids)).values_list("pk", "public_code"))
    if len(issues) != len(set(coupon_issue_ids)):
        raise DomainError("invalid_sample", "unknown coupon issue.", field="coupon_issue_ids")
    moment = purchased_at or timezone.now()
    if timezone.is_naive(moment):
        tz = store.tzinfo if store is not None else dt.timezone.utc
        moment = moment.replace(tzinfo=tz)
    return Cheque(
        purchased_at=moment,
        lines=sample_lines(lines),
        event=event,
        timezone=store.timezone if store is not None else "UTC",
        store_id=store.pk if store is not None else None,
        partner_id=store.partner_id if store is not None else None,
        customer=sample_customer(customer),
        card=CardFacts(category=(card or {}).get("category") or None, kind=(card or {}).get("kind") or None) if card else None,
        coupons=tuple(PresentedCoupon(code=code or f"sample-{pk}", issue_id=pk) for pk, code in issues),
    )
