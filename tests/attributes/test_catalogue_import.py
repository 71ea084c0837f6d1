"""The product catalogue CSV import: upsert by SKU, listed and rule groups, errors per line."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from catalogue.models import Product, ProductGroup
from core.actors import Actor
from core.imports import import_job_create, import_job_run
from core.models import ImportJob
from tests.factories.catalogue import ProductFactory, ProductGroupFactory

pytestmark = pytest.mark.django_db


def run(rows: list[list[str]]) -> ImportJob:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows(rows)
    job = import_job_create(kind="catalogue.products", upload=ContentFile(buffer.getvalue().encode("utf-8"), name="p.csv"),
                            actor=Actor(kind="operator", id="1", label="marketer"))
    return import_job_run(job_id=job.pk)


def memberships() -> set[tuple[str, str]]:
    return {(p.sku, g.code) for p in Product.objects.prefetch_related("groups") for g in p.groups.all()}


def test_products_upsert_with_groups_and_errors():
    ProductGroupFactory(code="promo", kind=ProductGroup.Kind.LISTED)
    ProductGroupFactory(code="summer", kind=ProductGroup.Kind.LISTED)
    ProductGroupFactory(code="dairy", kind=ProductGroup.Kind.RULE, rule_categories=["dairy"])
    ProductGroupFactory(code="brand-x", kind=ProductGroup.Kind.RULE, rule_brands=["X"])
    old = ProductFactory(sku="MILK", name="Old milk", price=Decimal("10.00"), category="misc")
    rows = [
        ["sku", "name", "price", "category", "brand", "is_active", "groups"],
        ["MILK", "Milk 1 l", "79,90", "dairy", "X", "yes", "promo|summer"],
        ["KEFIR", "Кефир 1 л", "", "dairy", "", "", ""],
        ["TOY", "Toy", "-1", "", "", "", ""],           # line 4: negative price
        ["CAR", "Car", "10", "", "", "maybe", "nope"],  # line 5: is_active and unknown group
        ["MILK", "Milk again", "1", "", "", "", ""],    # line 6: duplicate SKU in the file
        ["", "No sku", "", "", "", "", ""],             # line 7
    ]
    job = run(rows)
    assert (job.rows_ok, job.rows_failed) == (2, 4)
    old.refresh_from_db()
    assert (old.name, old.price, old.category, old.brand) == ("Milk 1 l", Decimal("79.90"), "dairy", "X")
    kefir = Product.objects.get(sku="KEFIR")
    assert kefir.name == "Кефир 1 л" and kefir.price is None and kefir.is_active
    assert memberships() == {("MILK", "promo"), ("MILK", "summer"), ("MILK", "dairy"), ("MILK", "brand-x"), ("KEFIR", "dairy")}
    errors = {e.line: e.reason for e in job.row_errors.all()}
    assert "price: '-1'" in errors[4]
    assert "is_active: 'maybe'" in errors[5] and "groups: no listed product group nope" in errors[5]
    assert errors[6] == "sku: same as on line 2"
    assert "sku: required" in errors[7]

    updated_at = old.updated_at
    run(rows)  # again: nothing changes
    old.refresh_from_db()
    assert old.updated_at == updated_at

    # moving MILK out of dairy and out of promo
    run([["sku", "name", "category", "groups"], ["MILK", "Milk 1 l", "drinks", "summer"]])
    assert {m for m in memberships() if m[0] == "MILK"} == {("MILK", "summer"), ("MILK", "brand-x")}
