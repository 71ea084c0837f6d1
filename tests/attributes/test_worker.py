"""A real Celery worker recalculates a counter in chunks and runs an uploaded customer import."""
from __future__ import annotations

import io
import time
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from attributes.models import Counter, CounterValue
from attributes.services import counter_recalculate_request
from core.actors import Actor
from core.imports import import_job_create
from core.models import ImportJob
from crm.models import Customer
from tests.factories.attributes import CounterFactory, purchase_make
from tests.factories.catalogue import TillFactory
from tests.factories.crm import CustomerFactory

pytestmark = pytest.mark.celery_worker


def wait_for(check, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_worker_recalculates_a_counter_in_chunks(celery_worker_real):
    counter = CounterFactory(code="spend-worker", aggregate="sum", period="month", timezone="UTC")
    till = TillFactory()
    customers = [CustomerFactory() for _ in range(5)]
    now = timezone.now()
    for i, customer in enumerate(customers):
        purchase_make(customer=customer, amount=str(100 * (i + 1)), at=now, till=till, number=f"W{i}")
        purchase_make(customer=customer, amount="1", at=now, till=till, number=f"C{i}", state="cancelled")
    # values written straight by processing would come from counter_apply_purchase; here the
    # history predates the counter, so only a recalculation can find it
    chunks = counter_recalculate_request(counter_id=counter.pk, actor=Actor.system("test"), chunk=2)
    assert chunks == 3
    wait_for(lambda: Counter.objects.get(pk=counter.pk).recalculated_at is not None)
    start = now.date().replace(day=1)
    values = dict(CounterValue.objects.filter(counter=counter, period_start=start).values_list("customer_id", "value"))
    assert values == {c.pk: Decimal(100 * (i + 1)) for i, c in enumerate(customers)}
    assert Counter.objects.get(pk=counter.pk).recalc_pending == 0


def test_worker_runs_an_uploaded_customer_import(celery_worker_real):
    csv = "external_uid;first_name;phone;card\nw-1;Ann;+79160001111;555001\nw-2;Bob;bad;555002\n"
    job = import_job_create(kind="attributes.customers", upload=ContentFile(csv.encode(), name="w.csv"),
                            actor=Actor.system("test"))
    wait_for(lambda: ImportJob.objects.get(pk=job.pk).finished)
    job.refresh_from_db()
    assert (job.state, job.rows_ok, job.rows_failed) == ("done_with_errors", 1, 1)
    assert Customer.objects.get(external_uid="w-1").cards.get().number == "555001"
    assert io.BytesIO(job.report.read()).getvalue().decode().count("\n") == 2

