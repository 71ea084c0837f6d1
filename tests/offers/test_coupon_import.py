"""Batch issue of personal coupons from a CSV of member identifiers (importer `offers.coupons`)."""
from __future__ import annotations

import csv
import io

import pytest
from django.core.files.base import ContentFile

from core.actors import Actor
from core.imports import CsvRow, import_job_create, import_job_run, importer_get, importers_all
from core.models import AuditEvent, ImportJob, ImportRowError
from crm.models import Customer
from offers.models import Coupon, CouponGrant, CouponIssue
from tests.factories.crm import CardFactory, CustomerFactory, NotifierFactory
from tests.factories.offers import CouponIssueFactory

ACTOR = Actor.system("test")
HEADER = ["issue", "identifier_type", "identifier", "count"]


def _csv(rows: list[list[str]]) -> ContentFile:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows([HEADER, *rows])
    return ContentFile(buffer.getvalue().encode(), name="coupons.csv")


def _run(rows: list[list[str]], django_capture_on_commit_callbacks) -> ImportJob:
    with django_capture_on_commit_callbacks(execute=False):  # run here, not through Celery
        job = import_job_create(kind="offers.coupons", upload=_csv(rows), actor=ACTOR)
    return import_job_run(job_id=job.pk)


def _apply(rows: list[list[str]], job: ImportJob | None = None):
    """The importer's chunk step alone, on rows numbered from line 2 (the header is line 1)."""
    importer = importer_get("offers.coupons")
    job = job or ImportJob(kind="offers.coupons", actor_kind="system", actor_label="test")
    csv_rows = [CsvRow(line, dict(zip(HEADER, values, strict=False))) for line, values in enumerate(rows, start=2)]
    return importer.apply_chunk(job, csv_rows, importer.context(job))


@pytest.fixture
def personal(db):
    return CouponIssueFactory(kind=CouponIssue.Kind.PERSONAL, code_prefix="P", code_length=10)


@pytest.mark.django_db
def test_good_rows_issue_personal_coupons_by_each_identifier(personal):
    # given
    by_card = CardFactory()
    by_phone = NotifierFactory(value="+79160000001", verified=True)
    by_email = NotifierFactory(kind="email", value="ann@example.com", verified=True)
    by_uid = CustomerFactory(external_uid="crm-42")
    # when
    errors = _apply([
        [str(personal.pk), "card", by_card.number, ""],
        [str(personal.pk), "phone", "+7 916 000-00-01", "2"],
        [str(personal.pk), "email", "Ann@Example.com", "1"],
        [str(personal.pk), "external_uid", "crm-42", ""],
    ])
    # then
    assert errors == []
    coupons = Coupon.objects.filter(issue=personal)
    assert sorted(coupons.values_list("customer_id", flat=True)) == sorted(
        [by_card.customer_id, by_phone.customer_id, by_phone.customer_id, by_email.customer_id, by_uid.pk])
    assert all(c.code.startswith("P") and len(c.code) == 11 and c.state == Coupon.State.ISSUED for c in coupons)
    assert AuditEvent.objects.filter(action="coupon.grant").count() == 5  # one audited grant per coupon


@pytest.mark.django_db
def test_bad_rows_are_reported_with_line_and_reason(personal):
    # given
    member = CustomerFactory(external_uid="m-1")
    blocked = CustomerFactory(external_uid="m-2", state=Customer.State.BLOCKED)
    public = CouponIssueFactory(kind=CouponIssue.Kind.PUBLIC, public_code="SUMMER")
    bearer = CouponIssueFactory(kind=CouponIssue.Kind.DISTRIBUTION)
    # when
    errors = _apply([
        [str(personal.pk), "external_uid", "m-1", "1"],       # line 2: good
        [str(personal.pk), "external_uid", "nobody", "1"],    # 3: unknown member
        ["999999", "external_uid", "m-1", "1"],               # 4: no such issue
        [str(public.pk), "external_uid", "m-1", "1"],         # 5: public issue
        [str(bearer.pk), "external_uid", "m-1", "1"],         # 6: distribution issue
        [str(personal.pk), "external_uid", "m-1", "0"],       # 7: count out of range
        [str(personal.pk), "external_uid", "m-1", "two"],     # 8: count not a number
        [str(personal.pk), "fax", "123", "1"],                # 9: unknown identifier type
        [str(personal.pk), "phone", "not a phone", "1"],      # 10: malformed identifier
        [str(personal.pk), "external_uid", "m-2", "1"],       # 11: blocked member
        ["Spring", "external_uid", "m-1", "1"],               # 12: not an id
    ])
    # then
    reasons = {e.line: e.reason for e in errors}
    assert sorted(reasons) == list(range(3, 13))
    assert "no member with external uid 'nobody'" in reasons[3]
    assert "no coupon issue #999999" in reasons[4]
    assert "public issue" in reasons[5] and "only personal issues" in reasons[5]
    assert "distribution issue" in reasons[6]
    assert reasons[7].startswith("count:") and reasons[8].startswith("count:")
    assert reasons[9].startswith("identifier_type:")
    assert reasons[10].startswith("identifier:")
    assert "blocked" in reasons[11]
    assert "not a coupon issue id" in reasons[12]
    assert list(Coupon.objects.values_list("customer_id", flat=True)) == [member.pk]
    assert blocked.coupons.count() == 0


@pytest.mark.django_db
def test_the_same_file_twice_issues_nothing_more(personal, django_capture_on_commit_callbacks):
    # given
    members = [CustomerFactory(external_uid=f"u-{n}") for n in range(3)]
    rows = [[str(personal.pk), "external_uid", "u-0", "2"], [str(personal.pk), "external_uid", "u-1", ""],
            [str(personal.pk), "external_uid", "u-0", "1"], [str(personal.pk), "external_uid", "u-2", "3"]]
    first = _run(rows, django_capture_on_commit_callbacks)
    codes = set(Coupon.objects.values_list("code", flat=True))
    # when: the same file again, then the same rows in another order and spelling
    second = _run(rows, django_capture_on_commit_callbacks)
    third = _run([[f" {r[0]}", "External UID", r[2], r[3]] for r in reversed(rows)], django_capture_on_commit_callbacks)
    # then
    assert first.state == second.state == third.state == ImportJob.State.DONE
    assert set(Coupon.objects.values_list("code", flat=True)) == codes
    assert [members[n].coupons.count() for n in range(3)] == [3, 1, 3]  # u-0's two rows add up
    assert CouponGrant.objects.count() == 7


@pytest.mark.django_db
def test_a_higher_count_later_gives_only_the_difference(personal):
    # given
    member = CustomerFactory(external_uid="u-1")
    _apply([[str(personal.pk), "external_uid", "u-1", "2"]])
    # when
    errors = _apply([[str(personal.pk), "external_uid", "u-1", "5"]])
    # then
    assert errors == []
    assert member.coupons.count() == 5


@pytest.mark.django_db
def test_job_through_the_import_framework(personal, django_capture_on_commit_callbacks):
    # given
    card = CardFactory()
    rows = [[str(personal.pk), "card", card.number, "2"], [str(personal.pk), "card", "0000", "1"],
            [str(personal.pk), "card", card.number, "x"]]
    # when
    job = _run(rows, django_capture_on_commit_callbacks)
    # then
    assert "offers.coupons" in importers_all()
    assert job.state == ImportJob.State.DONE_WITH_ERRORS
    assert (job.rows_total, job.rows_ok, job.rows_failed) == (3, 1, 2)
    assert dict(ImportRowError.objects.filter(job=job).values_list("line", "reason")) == {
        3: "identifier: no member with card '0000'.",
        4: "count: 'x' is not a whole number from 1 to 100.",
    }
    assert card.customer.coupons.filter(issue=personal).count() == 2
    assert job.report  # the downloadable report of bad rows


@pytest.mark.django_db
def test_listed_among_import_kinds(admin_client):
    # when
    response = admin_client.get("/api/v1/imports/kinds")
    # then
    assert response.status_code == 200
    assert "offers.coupons" in response.content.decode()
