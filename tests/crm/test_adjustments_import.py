"""Batch point adjustments from a CSV file (importer crm.adjustments): every identifier type, good rows
applied, bad rows reported with line and reason, negative balances refused, the same file twice
applies nothing twice; a real worker runs an uploaded file."""
from __future__ import annotations

import csv
import io
import time
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from core.actors import Actor
from core.imports import import_job_create, import_job_run
from core.models import AuditEvent, ImportJob
from crm.models import Account, Card, LedgerEntry, Notifier
from crm.selectors.ledger import accounts_resolve
from tests.crm.ledger_checks import assert_ledger_consistent
from tests.factories.crm import AccountFactory, CardFactory, CustomerFactory
from tests.factories.ledger import funded_account

D = Decimal
HEADER = ["identifier_type", "identifier", "amount", "description"]


def _csv(rows: list[list[str]], delimiter: str = ";", name: str = "adjustments.csv") -> ContentFile:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return ContentFile(buffer.getvalue().encode(), name=name)


def _member(*, phone: str | None = None, email: str | None = None, uid: str | None = None,
            card: str | None = None, points: str = "0") -> Account:
    account = funded_account(points, customer=CustomerFactory(external_uid=uid))
    customer = account.customer
    if phone:
        Notifier.objects.create(customer=customer, kind="phone", value=phone, verified=True)
    if email:
        Notifier.objects.create(customer=customer, kind="email", value=email, verified=True)
    if card:
        card_row = CardFactory(customer=customer, number=card, barcode=f"B{card}")
        card_row.accounts.add(account)
    return account


def _run(upload: ContentFile, capture) -> ImportJob:
    with capture(execute=False):
        job = import_job_create(kind="crm.adjustments", upload=upload, actor=Actor.system("test"))
    return import_job_run(job_id=job.pk)


def _balance(account: Account) -> Decimal:
    account.refresh_from_db()
    return account.activated_balance


@pytest.mark.django_db
def test_good_rows_applied_bad_rows_reported_by_line(django_capture_on_commit_callbacks):
    # given members found by each identifier type
    by_phone = _member(phone="+79001234567", points="10")
    by_email = _member(email="ann@example.com")
    by_card = _member(card="7000111122223333", points="5")
    by_uid = _member(uid="crm-42")
    rows = [
        HEADER,
        ["phone", "8 (900) 123-45-67", "15.50", "birthday gift"],  # line 2: national format, normalised
        ["email", "ANN@Example.com", "20", ""],  # 3: case-insensitive
        ["card", "7000111122223333", "-5", "correction"],  # 4: takes all 5
        ["barcode", "B7000111122223333", "1", "scan"],  # 5
        ["external_uid", "crm-42", "3.25", "migration"],  # 6
        ["phone", "+79990000000", "5", "nobody"],  # 7: unknown
        ["fax", "123", "5", ""],  # 8: bad type
        ["email", "ann@example.com", "1.005", ""],  # 9: 3 decimals
        ["email", "ann@example.com", "-20.01", "too much"],  # 10: would go negative (20 available)
        ["email", "ann@example.com", "0", ""],  # 11: zero
        ["phone", "12", "5", ""],  # 12: not a phone
    ]
    # when
    job = _run(_csv(rows), django_capture_on_commit_callbacks)
    # then
    assert job.state == ImportJob.State.DONE_WITH_ERRORS
    assert (job.rows_total, job.rows_ok, job.rows_failed) == (11, 5, 6)
    assert _balance(by_phone) == D("25.50")
    assert _balance(by_email) == D("20.00")
    assert _balance(by_card) == D("1.00")
    assert _balance(by_uid) == D("3.25")
    reasons = dict(job.row_errors.values_list("line", "reason"))
    assert set(reasons) == {7, 8, 9, 10, 11, 12}
    assert "no customer with phone '+79990000000'" in reasons[7]
    assert "identifier_type" in reasons[8]
    assert "2 decimal places" in reasons[9]
    assert "would make the balance negative" in reasons[10] and "20.00 available" in reasons[10]
    assert "must not be zero" in reasons[11]
    assert "not a valid phone" in reasons[12]
    entry = LedgerEntry.objects.get(account=by_phone, source="batch")
    assert (entry.kind, entry.description, entry.idempotency_key) == ("adjustment", "birthday gift", f"{job.file_sha256}:2")
    assert AuditEvent.objects.filter(action="ledger.adjust").count() == 5
    report = job.report.read().decode()
    assert "would make the balance negative" in report
    assert_ledger_consistent()


@pytest.mark.django_db
def test_the_same_file_again_applies_nothing_twice(django_capture_on_commit_callbacks):
    account = _member(phone="+79001112233", points="1")
    rows = [HEADER, ["phone", "+79001112233", "10", "a"], ["phone", "+79001112233", "-4", "b"]]
    first = _run(_csv(rows, ","), django_capture_on_commit_callbacks)
    second = _run(_csv(rows, ","), django_capture_on_commit_callbacks)
    assert first.state == second.state == ImportJob.State.DONE
    assert _balance(account) == D("7.00")
    assert LedgerEntry.objects.filter(source="batch").count() == 2
    assert_ledger_consistent()


@pytest.mark.django_db
def test_rows_apply_in_file_order_within_a_chunk(django_capture_on_commit_callbacks):
    # a debit may spend what an earlier row of the same file credited, and not what a later one does
    account = _member(uid="u1", points="0")
    rows = [HEADER, ["external_uid", "u1", "-1", "too early"], ["external_uid", "u1", "10", "credit"],
            ["external_uid", "u1", "-7", "spend"], ["external_uid", "u1", "-3.01", "too much"],
            ["external_uid", "u1", "-3", "rest"]]
    job = _run(_csv(rows), django_capture_on_commit_callbacks)
    assert sorted(job.row_errors.values_list("line", flat=True)) == [2, 5]
    assert _balance(account) == D("0.00")
    assert_ledger_consistent()


@pytest.mark.django_db
def test_ambiguous_merged_and_accountless_identifiers_are_reported():
    shared = "+79005550000"
    for _ in range(2):
        Notifier.objects.create(customer=CustomerFactory(), kind="phone", value=shared, verified=False)
    target = CustomerFactory()
    merged = CustomerFactory(state="merged", merged_into=target, external_uid="old")
    AccountFactory(customer=merged)
    CustomerFactory(external_uid="no-account")
    anonymous_card = CardFactory(customer=None, number="5000", state=Card.State.ACTIVE)
    own = AccountFactory()
    anonymous_card.accounts.add(own)
    currency = own.currency_id
    found = accounts_resolve(identifiers=[("phone", shared), ("external_uid", "old"), ("external_uid", "no-account"),
                                          ("card", "5000")], currency_id=currency)
    assert "several customers" in found[("phone", shared)].error
    assert f"merged into #{target.pk}" in found[("external_uid", "old")].error
    assert "no account" in found[("external_uid", "no-account")].error
    assert found[("card", "5000")].account_id == own.pk


@pytest.mark.django_db
def test_a_verified_phone_wins_over_unverified_copies():
    account = _member(phone="+79007770000")
    Notifier.objects.create(customer=CustomerFactory(), kind="phone", value="+79007770000", verified=False)
    found = accounts_resolve(identifiers=[("phone", "+79007770000")], currency_id=account.currency_id)
    assert found[("phone", "+79007770000")].account_id == account.pk


@pytest.mark.django_db
def test_chunk_costs_a_fixed_number_of_queries(django_capture_on_commit_callbacks, django_assert_max_num_queries):
    # set-based: a chunk of 40 rows over 20 accounts costs what a chunk of a few rows costs
    members = [_member(phone=f"+7901000{i:04d}", points="5") for i in range(20)]
    rows = [HEADER] + [["phone", f"+7901000{i:04d}", "2" if n else "-1", "x"] for n in range(2) for i in range(20)]
    with django_capture_on_commit_callbacks(execute=False):
        job = import_job_create(kind="crm.adjustments", upload=_csv(rows), actor=Actor.system("test"))
    with django_assert_max_num_queries(30):
        import_job_run(job_id=job.pk)
    assert all(_balance(m) == D("6.00") for m in members)
    assert_ledger_consistent()


@pytest.mark.celery_worker
def test_real_worker_runs_an_uploaded_adjustment_file(celery_worker_real):
    account = _member(card="7000999900001111", points="2")
    job = import_job_create(kind="crm.adjustments", actor=Actor.system("test"), upload=_csv(
        [HEADER, ["card", "7000999900001111", "8", "worker"], ["card", "nope", "1", ""]]))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.finished:
            break
        time.sleep(0.2)
    assert job.state == ImportJob.State.DONE_WITH_ERRORS, job.error_message
    assert (job.rows_ok, job.rows_failed, job.percent) == (1, 1, 100)
    assert _balance(account) == D("10.00")
    assert_ledger_consistent()
