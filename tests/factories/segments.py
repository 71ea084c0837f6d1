from __future__ import annotations

import factory

from segments.models import Segment


class SegmentFactory(factory.django.DjangoModelFactory):
    """A dynamic segment ("has a verified phone" unless a definition is given)."""

    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    kind = Segment.Kind.DYNAMIC
    definition = factory.LazyFunction(lambda: {"kind": "notifier", "channel": "phone", "verified": True})


class StaticSegmentFactory(SegmentFactory):
    kind = Segment.Kind.STATIC
    definition = factory.LazyFunction(dict)


def member_ids(definition, *, as_of=None) -> set[int]:
    """Ids the definition selects now (compiled and run as the refresh runs it)."""
    from django.db import connection

    from segments.compiler import compile_tree
    from segments.definition import definition_validate

    sql, params = compile_tree(definition_validate(definition), as_of=as_of).ids_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def totals_refreshed() -> None:
    """Purchase totals for everyone (tests create cheques directly, bypassing the processing hook)."""
    from core.actors import Actor
    from segments.services import customer_stats_rebuild

    customer_stats_rebuild(actor=Actor.system("test"))
