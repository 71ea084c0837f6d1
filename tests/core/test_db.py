"""core.db.prepared_cursor: same connection and transaction as the ORM, counted like any query,
and the statement prepared on the server (planned once per connection)."""
from __future__ import annotations

import pytest
from django.db import connection, transaction

from catalogue.models import Partner
from core.db import prepared_cursor

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_runs_in_the_callers_transaction():
    # given a row written through the prepared cursor inside a transaction that then fails
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            with prepared_cursor() as cursor:
                cursor.execute("INSERT INTO catalogue_partner (code, name, is_active, created_at) VALUES (%s, %s, true, now())",
                               ["p-rolled", "Rolled back"])
            assert Partner.objects.filter(code="p-rolled").exists()  # the ORM sees it: one transaction
            raise RuntimeError("undo")
    # then it went with the transaction
    assert not Partner.objects.filter(code="p-rolled").exists()


def test_its_statements_are_counted_and_prepared_on_the_server(django_assert_num_queries):
    sql = "SELECT count(*) FROM catalogue_partner WHERE code = %(code)s"
    with django_assert_num_queries(2):
        for _ in range(2):
            with prepared_cursor() as cursor:
                cursor.execute(sql, {"code": "none"})
                assert cursor.fetchone() == (0,)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                       ["SELECT count(*) FROM catalogue_partner WHERE code = $1%"])
        assert cursor.fetchone()[0] == 1
