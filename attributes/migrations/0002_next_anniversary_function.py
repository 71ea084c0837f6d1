"""SQL helper for "birthday within N days": the next anniversary of a date on or after a day.

Year wrap is inherent (Dec 29 -> Jan 2 is 4 days) and a 29 February anniversary falls on 28
February in other years (PostgreSQL's date + interval 'N years' rule).
"""
from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION attributes_next_anniversary(d date, ref date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN d IS NULL OR ref IS NULL THEN NULL
    WHEN d >= ref THEN d
    ELSE (
      SELECT CASE WHEN (d + make_interval(years => y))::date >= ref
                  THEN (d + make_interval(years => y))::date
                  ELSE (d + make_interval(years => y + 1))::date END
      FROM (SELECT date_part('year', age(ref, d))::int AS y) AS years
    )
  END
$$;
"""

DROP = "DROP FUNCTION IF EXISTS attributes_next_anniversary(date, date);"


class Migration(migrations.Migration):
    dependencies = [("attributes", "0001_initial")]
    operations = [migrations.RunSQL(CREATE, DROP)]
