"""CSV imports of customers, attribute values and counter values: good rows committed, bad rows
reported with line and reason, upsert so a re-run changes nothing."""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from attributes.models import Attribute, AttributeValue, CounterValue
from core.actors import Actor
from core.imports import import_job_create, import_job_run
from core.models import AuditEvent, ImportJob
from crm.models import Account, Card, CardAccount, Currency, Customer, Notifier
from tests.factories.attributes import AttributeFactory, CounterFactory, family_questionnaire
from tests.factories.crm import CardFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def run(kind: str, rows: list[list[str]], delimiter: str = ";", name: str = "file.csv") -> ImportJob:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)

    job = import_job_create(kind=kind, upload=ContentFile(buffer.getvalue().encode(), name=name),
                            actor=Actor(kind="operator", id="1", label="marketer"))
    return import_job_run(job_id=job.pk)


def report(job: ImportJob) -> dict[int, str]:
    job.report.open("rb")
    rows = list(csv.reader(io.StringIO(job.report.read().decode())))
    return {int(r[0]): r[1] for r in rows[1:]}


def table_state() -> tuple:
    """Everything a customer import may write, with the times that would show a rewrite."""
    with connection.cursor() as cursor:
        out = []
        for sql in ("SELECT id, external_uid, first_name, last_name, gender, birth_date, state, updated_at FROM crm_customer ORDER BY id",
                    "SELECT customer_id, kind, value, verified, is_primary, xmin::text FROM crm_notifier ORDER BY id",
                    "SELECT number, barcode, customer_id, state, updated_at FROM crm_card ORDER BY id",
                    "SELECT customer_id, currency_id FROM crm_account ORDER BY id",
                    "SELECT card_id, account_id FROM crm_cardaccount ORDER BY id"):
            cursor.execute(sql)
            out.append(cursor.fetchall())
    return tuple(out)


CUSTOMERS = [
    ["external_uid", "first_name", "last_name", "gender", "birth_date", "phone", "email", "card", "card_barcode"],
    ["u1", "Anna", "Ivanova", "f", "1990-05-01", "+7 916 000-00-01", "Anna@Example.com", "100001", "B100001"],
    ["u2", "Ivan", "", "male", "01.02.1985", "89160000002", "", "100002", ""],
    ["u3", "Bad", "Phone", "", "", "12345", "", "", ""],                      # line 4: bad phone
    ["u4", "Bad", "Date", "", "1850-01-01", "", "", "", ""],                  # line 5: implausible birth date
    ["u1", "Dup", "", "", "", "", "", "", ""],                                 # line 6: same external_uid as line 2
    ["u5", "", "", "x", "", "", "bad@", "", ""],                              # line 7: gender and email
    ["u6", "Taken", "Card", "", "", "", "", "555", ""],                        # line 8: card of another customer
    ["u7", "Taken", "Phone", "", "", "+79160000099", "", "", ""],              # line 9: verified phone of another
    ["u8", "", "", "", "", "", "", "", "BX"],                                   # line 10: barcode without card
]


def test_customers_import_creates_customers_cards_contacts_and_accounts():
    other = CustomerFactory()
    CardFactory(number="555", customer=other)
    Notifier.objects.create(customer=other, kind="phone", value="+79160000099", verified=True)
    spare = CardFactory(number="100002", barcode=None, customer=None, state="not_activated")

    job = run("attributes.customers", CUSTOMERS)

    assert (job.state, job.rows_total, job.rows_ok, job.rows_failed) == ("done_with_errors", 9, 2, 7)
    reasons = report(job)
    assert "phone: '12345' is not a valid phone number" in reasons[4]
    assert "birth_date: 1850-01-01 is not a plausible birth date" in reasons[5]
    assert reasons[6] == "external_uid: same as on line 2"
    assert "gender: 'x' is not male or female" in reasons[7] and "email: 'bad@'" in reasons[7]
    assert reasons[8] == "card: 555 belongs to another customer"
    assert reasons[9] == "phone: +79160000099 is a verified contact of another customer"
    assert reasons[10] == "card_barcode: give the card number too"
    anna = Customer.objects.get(external_uid="u1")
    assert (anna.first_name, anna.gender, anna.birth_date, anna.state, anna.registration_channel) == (
        "Anna", "female", dt.date(1990, 5, 1), "registered", "import")
    assert set(Notifier.objects.filter(customer=anna).values_list("kind", "value", "verified", "is_primary")) == {
        ("phone", "+79160000001", True, True), ("email", "anna@example.com", True, True)}
    card = Card.objects.get(number="100001")
    assert (card.customer_id, card.barcode, card.state) == (anna.pk, "B100001", "active")
    ivan = Customer.objects.get(external_uid="u2")
    spare.refresh_from_db()
    assert (spare.customer_id, spare.state) == (ivan.pk, "active")  # a spare card is handed out
    currency = Currency.objects.get(is_default=True)
    for customer in (anna, ivan):
        account = Account.objects.get(customer=customer, currency=currency)
        assert CardAccount.objects.filter(account=account, card__customer=customer).count() == 1
    assert not Customer.objects.filter(external_uid__in=["u3", "u4", "u5", "u6", "u7", "u8"]).exists()
    assert AuditEvent.objects.filter(action="import.customers.chunk", object_id=str(job.pk)).get().after["created"] == 2


def test_customers_import_twice_changes_nothing_and_updates_only_given_cells():
    run("attributes.customers", CUSTOMERS[:3], delimiter=",")
    before = table_state()
    again = run("attributes.customers", CUSTOMERS[:3], delimiter=",")
    assert again.rows_ok == 2 and table_state() == before
    # an update with empty cells keeps what is there; a new phone becomes the primary one
    run("attributes.customers", [["external_uid", "first_name", "last_name", "phone"], ["u1", "", "Petrova", "+79160000055"]])
    anna = Customer.objects.get(external_uid="u1")
    assert (anna.first_name, anna.last_name) == ("Anna", "Petrova")
    assert dict(Notifier.objects.filter(customer=anna, kind="phone").values_list("value", "is_primary")) == {
        "+79160000001": False, "+79160000055": True}
    assert Account.objects.filter(customer=anna).count() == 1


def test_customers_import_uses_existing_default_currency_or_creates_points():
    assert not Currency.objects.exists()
    run("attributes.customers", [["external_uid"], ["only-uid"]])
    assert list(Currency.objects.values_list("code", "is_default")) == [("points", True)]
    miles = Currency.objects.create(code="miles", name="Miles", is_default=False)
    Currency.objects.filter(code="points").update(is_default=False)
    Currency.objects.filter(pk=miles.pk).update(is_default=True)
    run("attributes.customers", [["external_uid"], ["second-uid"]])
    assert Account.objects.get(customer__external_uid="second-uid").currency_id == miles.pk


@pytest.fixture
def attrs():
    family_questionnaire()
    AttributeFactory(code="vip", value_type=Attribute.ValueType.BOOLEAN)
    AttributeFactory(code="shoe_size", value_type=Attribute.ValueType.INTEGER)
    AttributeFactory(code="likes", value_type=Attribute.ValueType.MULTI_CHOICE, options=["tea", "coffee"])
    a = CustomerFactory(external_uid="a")
    b = CustomerFactory(external_uid="b")
    CardFactory(number="777", customer=b)
    Notifier.objects.create(customer=b, kind="phone", value="+79161112233", verified=True)
    return a, b


def test_attribute_values_import(attrs):
    a, b = attrs
    rows = [
        ["customer", "attribute", "value", "identifier_type"],
        ["a", "vip", "yes", ""],
        ["a", "shoe_size", "41", "external_uid"],
        ["777", "shoe_size", "44", "card"],
        ["8 916 111-22-33", "likes", "tea|coffee", "phone"],
        [str(a.pk), "favourite_category", "kids", "customer_id"],
        ["a", "shoe_size", "42", ""],                 # line 7: the later row for (a, shoe_size) wins
        ["a", "shoe_size", "big", ""],                # line 8: not a number
        ["nobody", "vip", "true", ""],                # line 9: unknown customer
        ["a", "colour", "red", ""],                   # line 10: unknown attribute
        ["a", "favourite_category", "cars", ""],      # line 11: not an option of the question
        ["a", "vip", "true", "passport"],             # line 12: unknown identifier type
        ["a", "children", "x", ""],                   # line 13: a group is not importable as a value
    ]
    job = run("attributes.values", rows)
    assert (job.rows_ok, job.rows_failed) == (6, 6)
    reasons = report(job)
    assert reasons[8] == "value: 'big' is not a whole number."
    assert reasons[9] == "customer: no customer with external_uid 'nobody'"
    assert reasons[10] == "attribute: no importable attribute 'colour'"
    assert "'cars' is not one of" in reasons[11]
    assert "identifier_type: 'passport'" in reasons[12]
    assert "no importable attribute 'children'" in reasons[13]
    values = {(v.customer_id, v.attribute.code): v.value for v in AttributeValue.objects.select_related("attribute")}
    assert values == {(a.pk, "vip"): True, (a.pk, "shoe_size"): 42, (b.pk, "shoe_size"): 44,
                      (b.pk, "likes"): ["tea", "coffee"], (a.pk, "favourite_category"): "kids"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT array_agg(xmin::text ORDER BY customer_id, attribute_id) FROM attributes_value")
        versions = cursor.fetchone()[0]
        again = run("attributes.values", rows)
        cursor.execute("SELECT array_agg(xmin::text ORDER BY customer_id, attribute_id) FROM attributes_value")
        assert cursor.fetchone()[0] == versions  # no row rewritten
    assert again.rows_ok == 6
    # an empty value removes it
    run("attributes.values", [["customer", "attribute", "value"], ["a", "vip", ""]])
    assert not AttributeValue.objects.filter(customer=a, attribute__code="vip").exists()


def test_counter_values_import_sets_the_imported_part():
    spend = CounterFactory(code="spend", period="all_time")
    monthly = CounterFactory(code="monthly", period="month", aggregate="count")
    a = CustomerFactory(external_uid="a")
    CounterValue.objects.create(counter=spend, customer=a, period_start=dt.date(1970, 1, 1), value=Decimal("50"))
    rows = [["customer", "counter", "value", "period"],
            ["a", "spend", "1000,50", ""], ["a", "monthly", "3", "2025-03"], ["a", "monthly", "4", "2025-04-17"],
            ["a", "spend", "x", ""], ["a", "spend", "1", "2025-01"], ["a", "nope", "1", ""], ["a", "monthly", "1", "2025-13"]]
    job = run("attributes.counters", rows, delimiter=",")
    assert (job.rows_ok, job.rows_failed) == (3, 4)
    reasons = report(job)
    assert reasons[5] == "value: 'x' is not a number."
    assert "has no calendar periods" in reasons[6]
    assert reasons[7] == "counter: no counter 'nope'"
    assert "2025-13" in reasons[8]
    values = {(v.counter.code, v.period_start): (v.value, v.imported) for v in CounterValue.objects.select_related("counter")}
    assert values[("spend", dt.date(1970, 1, 1))] == (Decimal("1050.50"), Decimal("1000.50"))
    assert values[("monthly", dt.date(2025, 3, 1))] == (Decimal("3"), Decimal("3"))
    assert values[("monthly", dt.date(2025, 4, 1))] == (Decimal("4"), Decimal("4"))
    run("attributes.counters", [["customer", "counter", "value"], ["a", "spend", "200"]])
    assert CounterValue.objects.get(counter=spend, customer=a).value == Decimal("250.00")  # 50 computed + 200


@pytest.mark.django_db(transaction=True)
def test_the_same_files_imported_twice_at_once_both_succeed():
    from tests.conftest import run_in_threads

    AttributeFactory(code="shoe_size", value_type=Attribute.ValueType.INTEGER)
    customers = [["external_uid", "phone", "card"]] + [[f"r{i}", f"+7916444{i:04d}", f"88{i:06d}"] for i in range(300)]
    values = [["customer", "attribute", "value"]] + [[f"r{i}", "shoe_size", str(30 + i % 15)] for i in range(300)]

    def job(rows: list[list[str]], kind: str) -> int:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=";").writerows(rows)
        return import_job_create(kind=kind, upload=ContentFile(buffer.getvalue().encode(), name="r.csv"),
                                 actor=Actor.system("race")).pk

    from unittest import mock

    with mock.patch("django.db.transaction.on_commit"):  # no broker: the threads run the jobs
        first = [job(customers, "attributes.customers") for _ in range(2)]
        second = [job(values, "attributes.values") for _ in range(2)]
    for jobs in (first, second):
        results = run_in_threads(lambda i: import_job_run(job_id=jobs[i]).state, 2)
        assert results == ["done", "done"], results
    assert Customer.objects.filter(external_uid__startswith="r").count() == 300
    assert Notifier.objects.filter(value__startswith="+7916444").count() == 300
    assert AttributeValue.objects.filter(attribute__code="shoe_size").count() == 300
    connection.close()


@pytest.mark.django_db
def test_a_merge_that_meets_a_concurrent_insert_runs_again():
    from django.db import IntegrityError

    from attributes.importers.common import run_twice_on_race

    class Cursor:
        calls = 0

        def execute(self, sql, params=None):
            Cursor.calls += 1
            if Cursor.calls == 1:
                raise IntegrityError("duplicate key value violates unique constraint")

        def fetchall(self):
            return [(-1, "1")]

    assert run_twice_on_race(Cursor(), "merge") == [(-1, "1")] and Cursor.calls == 2


def _both_paths(monkeypatch, kind: str, text: str, state) -> None:
    """The raw path (COPY, checks in SQL) and the Python path give the same rows and errors."""
    import core.imports

    importer = core.imports.importer_get(kind)
    monkeypatch.setattr(type(importer), "chunk_size", 16)  # several chunks, one of them re-done in Python
    done_raw: list[int] = []
    apply_raw = type(importer).apply_raw

    def spy(self, job, chunk, context):
        errors = apply_raw(self, job, chunk, context)
        done_raw.append(chunk.rows)
        return errors

    monkeypatch.setattr(type(importer), "apply_raw", spy)

    def once():
        job = import_job_create(kind=kind, upload=ContentFile(text.encode(), name="f.csv"),
                                actor=Actor(kind="operator", id="1", label="marketer"))
        job = import_job_run(job_id=job.pk)
        errors = sorted((e.line, e.reason, tuple(sorted(e.values.items()))) for e in job.row_errors.all())
        return (job.rows_total, job.rows_done, job.rows_ok, job.rows_failed), errors, state()

    AttributeValue.objects.all().delete()
    CounterValue.objects.all().delete()
    raw = once()
    assert done_raw  # the raw path ran
    AttributeValue.objects.all().delete()
    CounterValue.objects.all().delete()
    with monkeypatch.context() as patch:
        patch.setattr(core.imports, "_plain_file", lambda job: False)
        slow = once()
    assert raw == slow
    return raw


def test_values_raw_path_matches_python_path(attrs, monkeypatch):
    a, b = attrs
    AttributeFactory(code="since", value_type=Attribute.ValueType.DATE)
    AttributeFactory(code="income", value_type=Attribute.ValueType.DECIMAL)
    AttributeFactory(code="city", value_type=Attribute.ValueType.STRING)
    AttributeFactory(code="tier", value_type=Attribute.ValueType.CHOICE, options=["gold", "silver"])
    cells = [("vip", "yes"), ("vip", "ДА"), ("vip", "maybe"), ("shoe_size", "+5"), ("shoe_size", " 7 "),
             ("shoe_size", "1234567890123456789"), ("shoe_size", "-12"), ("since", "2024-02-29"), ("since", "2023-02-30"),
             ("since", "0000-01-01"), ("since", "01.02.2020"), ("since", "2020-1-5"), ("income", "1.23456"),
             ("income", "-10.5"), ("income", "12345678901234567"), ("city", "x" * 1001), ("city", "Tver\\n"),
             ("tier", "gold"), ("tier", "bronze"), ("favourite_category", "kids"), ("likes", "tea|coffee"), ("vip", "")]
    lines = ["customer;attribute;value;identifier_type"]
    for customer, id_type in (("a", ""), (str(b.pk), "customer_id"), ("8 916 111-22-33", "phone"), ("zz", ""),
                              ("12x", "customer_id")):
        lines += [f"{customer};{code};{value};{id_type}" for code, value in cells]
    lines.insert(40, "a;vip;true;;extra")  # a line with a cell too many: its chunk is re-done in Python
    _both_paths(monkeypatch, "attributes.values", "\n".join(lines) + "\n", lambda: sorted(
        (v.customer_id, v.attribute.code, str(v.value)) for v in AttributeValue.objects.select_related("attribute")))
    _both_paths(monkeypatch, "attributes.values", "\r\n".join(lines[:5] + lines[6:]), lambda: sorted(
        (v.customer_id, v.attribute.code, str(v.value)) for v in AttributeValue.objects.select_related("attribute")))


def test_counters_raw_path_matches_python_path(monkeypatch):
    CounterFactory(code="spend", period="all_time")
    CounterFactory(code="monthly", period="month", aggregate="count")
    a = CustomerFactory(external_uid="a")
    lines = ["customer;counter;value;period;identifier_type"]
    for customer, id_type in (("a", ""), (str(a.pk), "customer_id"), ("nobody", ""), ("", "")):
        lines += [f"{customer};{code};{value};{period};{id_type}" for code, value, period in (
            ("spend", "10.5", ""), ("spend", "10.555", ""), ("spend", "1 000", ""), ("spend", "", ""),
            ("spend", "12345678901234567", ""), ("monthly", "3", "2025-03"), ("monthly", "4", ""), ("nope", "1", ""),
            ("spend", "1", "2025-01"), ("spend", "-7", ""))]
    _both_paths(monkeypatch, "attributes.counters", "\n".join(lines) + "\n", lambda: sorted(
        (v.customer_id, v.counter.code, str(v.period_start), str(v.imported)) for v in CounterValue.objects.select_related("counter")))
