"""The demo loads twice without change, and its CSV files import with the errors they are meant to show."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files import File

from attributes import demo
from attributes.filters import group_condition
from attributes.models import AttributeValue, GroupItem
from catalogue import demo as catalogue_demo
from core.actors import Actor
from core.imports import import_job_create, import_job_run
from core.models import AuditEvent
from crm.models import Customer

pytestmark = pytest.mark.django_db
FILES = Path(demo.__file__).parent / "demo_files"


def test_demo_is_idempotent_and_shows_the_feature():
    catalogue_demo.load()
    demo.load()
    state = (AttributeValue.objects.count(), GroupItem.objects.count(), AuditEvent.objects.count())
    demo.load()
    assert (AttributeValue.objects.count(), GroupItem.objects.count(), AuditEvent.objects.count()) == state
    olga = Customer.objects.get(external_uid="demo-001")
    assert olga.pk in set(Customer.objects.filter(group_condition(
        "children", [("sex", "eq", "male"), ("birth_date", "age_gt", 12)]).q()).values_list("id", flat=True))


@pytest.mark.parametrize("kind,name,ok,failed", [
    ("attributes.customers", "customers.csv", 4, 1),
    ("attributes.values", "attribute_values.csv", 5, 2),
    ("attributes.counters", "counter_values.csv", 3, 2),
    ("catalogue.products", "products.csv", 3, 1),
])
def test_demo_files_import(kind, name, ok, failed):
    catalogue_demo.load()
    demo.load()
    if kind != "attributes.customers":
        with open(FILES / "customers.csv", "rb") as handle:
            import_job_run(job_id=import_job_create(kind="attributes.customers", upload=File(handle, name="c.csv"),
                                                    actor=Actor.system("test")).pk)
    with open(FILES / name, "rb") as handle:
        job = import_job_create(kind=kind, upload=File(handle, name=name), actor=Actor.system("test"))
    job = import_job_run(job_id=job.pk)
    assert (job.rows_ok, job.rows_failed) == (ok, failed), list(job.row_errors.values_list("line", "reason"))
