"""Writes on segments: create, change, archive, delete, refresh (materialise), static members.

Materialisation is set-based and takes one statement per segment: the new member set (the
compiled definition, or the uploaded ids) is compared with the current members; newcomers are
inserted into Membership with an open MembershipChange interval, leavers are deleted and their
interval closed, all stamped with the same moment `at`. The segment row is locked for the
transaction, so two refreshes (or a refresh and an upload) of one segment run one after the other.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError, NotFound
from core.services import audit_record, snapshot
from segments.compiler import compile_tree
from segments.definition import definition_validate
from segments.models import Segment, SegmentRefresh
from segments.sql import refresh_timeout_ms, run

EDITABLE = ("name", "description", "definition", "auto_refresh", "is_active")


@dataclass(frozen=True)
class Materialised:
    segment_id: int
    at: Any
    joined: int
    left: int
    members: int
    duration_ms: int


def _check(kind: str, definition: Any) -> Any:
    if kind == Segment.Kind.DYNAMIC:
        definition_validate(definition)
        return definition
    if definition not in (None, {}, []):
        raise DomainError("definition_not_allowed", "A static segment has no definition: its members are uploaded.",
                          field="definition")
    return {}


def _name_free(name: str, exclude: int | None = None) -> None:
    taken = Segment.objects.filter(name=name)
    if exclude:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise DomainError("segment_name_taken", f"A segment named '{name}' exists already.", field="name")


def _referred_segments(definition: Any) -> set[int]:
    from segments.definition import definition_parse, leaves

    try:
        tree = definition_parse(definition)
    except DomainError:
        return set()
    return {leaf.params["segment"] for leaf in leaves(tree) if leaf.kind == "segment"}


def _no_self_reference(segment_id: int, definition: Any) -> None:
    if segment_id in _referred_segments(definition):
        raise DomainError("definition_invalid", "A segment cannot refer to itself.", field="definition")


def segment_create(*, name: str, kind: str = Segment.Kind.DYNAMIC, definition: Any = None, description: str = "",
                   auto_refresh: bool = True, actor: Actor) -> Segment:
    """A new segment (no members until its first refresh or upload)."""
    if kind not in Segment.Kind.values:
        raise DomainError("segment_kind_invalid", f"Kind must be one of: {', '.join(Segment.Kind.values)}.", field="kind")
    definition = _check(kind, definition)
    with transaction.atomic():
        _name_free(name)
        segment = Segment.objects.create(name=name, kind=kind, definition=definition, description=description,
                                         auto_refresh=auto_refresh)
        audit_record(actor=actor, action="segment.create", target=segment, after=snapshot(segment))
    return segment


def segment_update(*, segment: Segment, actor: Actor, **changes: Any) -> Segment:
    """Change name, description, definition, auto_refresh or is_active. Members change at the next refresh."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise DomainError("field_not_editable", f"Cannot change {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    with transaction.atomic():
        locked = Segment.objects.select_for_update().get(pk=segment.pk)
        before = snapshot(locked)
        if "definition" in changes:
            changes["definition"] = _check(locked.kind, changes["definition"])
            if locked.kind == Segment.Kind.DYNAMIC:
                _no_self_reference(locked.pk, changes["definition"])
        if "name" in changes:
            _name_free(changes["name"], exclude=locked.pk)
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save()
        audit_record(actor=actor, action="segment.update", target=locked, before=before, after=snapshot(locked))
    segment.refresh_from_db()
    return segment


def segment_delete(*, segment: Segment, actor: Actor) -> None:
    """Delete the segment with its members and history (set-based: these tables have no cascades)."""
    with transaction.atomic():
        locked = Segment.objects.select_for_update().get(pk=segment.pk)
        for other in Segment.objects.filter(kind=Segment.Kind.DYNAMIC).exclude(pk=locked.pk):
            if locked.pk in _referred_segments(other.definition):
                raise DomainError("segment_in_use", f"Segment '{other.name}' refers to this one; change it first.")
        before = snapshot(locked)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM segments_membership WHERE segment_id = %s", [locked.pk])
            cursor.execute("DELETE FROM segments_membershipchange WHERE segment_id = %s", [locked.pk])
        audit_record(actor=actor, action="segment.delete", target=locked, before=before)
        locked.delete()


# --- materialisation ------------------------------------------------------------------------

def _apply(segment: Segment, source_sql: str, params: Sequence[Any], *, at: Any, joins: bool, leaves: bool,
           source_is_full: bool) -> tuple[int, int]:
    """Make the members match `source_sql` (a SELECT of customer ids named `id`), in one statement.

    joins: add source ids that are not members; leaves: remove members that are not in the source
    (source_is_full) or that are in it (not source_is_full: the source lists ids to remove).
    """
    seg = segment.pk
    parts = [f"new AS MATERIALIZED ({source_sql})"]
    args: list[Any] = list(params)
    if joins:
        parts.append(
            "joined AS (INSERT INTO segments_membership (segment_id, customer_id, joined_at) "
            "SELECT %s, n.id, %s FROM new n WHERE NOT EXISTS (SELECT 1 FROM segments_membership m "
            "WHERE m.segment_id = %s AND m.customer_id = n.id) RETURNING customer_id)")
        parts.append("opened AS (INSERT INTO segments_membershipchange (segment_id, customer_id, joined_at) "
                     "SELECT %s, customer_id, %s FROM joined)")
        args += [seg, at, seg, seg, at]
    else:
        parts.append("joined AS (SELECT NULL::bigint AS customer_id WHERE false)")
    if leaves:
        test = "NOT EXISTS" if source_is_full else "EXISTS"
        parts.append(f"gone AS (DELETE FROM segments_membership m WHERE m.segment_id = %s AND {test} "
                     "(SELECT 1 FROM new n WHERE n.id = m.customer_id) RETURNING m.customer_id)")
        parts.append("closed AS (UPDATE segments_membershipchange h SET left_at = %s FROM gone g "
                     "WHERE h.segment_id = %s AND h.customer_id = g.customer_id AND h.left_at IS NULL)")
        args += [seg, at, seg]
    else:
        parts.append("gone AS (SELECT NULL::bigint AS customer_id WHERE false)")
    sql = "WITH " + ", ".join(parts) + " SELECT (SELECT count(*) FROM joined), (SELECT count(*) FROM gone)"
    joined, gone = run(sql, args, timeout_ms=refresh_timeout_ms(), what="The refresh")
    return joined, gone


def _materialise(segment_id: int, *, source: str, actor: Actor, build) -> Materialised:
    """Lock the segment, apply `build(segment, at)` -> (joined, left), record counts, audit."""
    started = time.perf_counter()
    with transaction.atomic():
        segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
        if segment is None:
            raise NotFound("segment_not_found", f"Segment #{segment_id} does not exist.")
        at = timezone.now()
        joined, gone = build(segment, at)
        members = (segment.member_count or 0) + joined - gone  # member_count is kept exact by every change
        duration = int((time.perf_counter() - started) * 1000)
        Segment.objects.filter(pk=segment.pk).update(member_count=members, refreshed_at=at, refresh_ms=duration,
                                                     refresh_error="")
        SegmentRefresh.objects.create(segment=segment, at=at, source=source, joined=joined, left=gone, members=members,
                                      duration_ms=duration, actor_label=actor.label[:150])
        audit_record(actor=actor, action=f"segment.{source}", target=segment,
                     after={"joined": joined, "left": gone, "members": members, "at": at})
    return Materialised(segment_id=segment_id, at=at, joined=joined, left=gone, members=members, duration_ms=duration)


def segment_refresh(*, segment_id: int, actor: Actor) -> Materialised:
    """Recompute a dynamic segment's members from its definition and record who joined and left."""

    def build(segment: Segment, at: Any) -> tuple[int, int]:
        if segment.kind != Segment.Kind.DYNAMIC:
            raise DomainError("segment_static", "A static segment changes by upload, not by refresh.")
        compiled = compile_tree(definition_validate(segment.definition), as_of=at)
        sql, params = compiled.ids_sql()
        return _apply(segment, sql, params, at=at, joins=True, leaves=True, source_is_full=True)

    try:
        return _materialise(segment_id, source="refresh", actor=actor, build=build)
    except DomainError as exc:
        Segment.objects.filter(pk=segment_id).update(refresh_error=f"{exc.code}: {exc.message}"[:2000])
        raise


def _static(segment: Segment) -> None:
    if segment.kind != Segment.Kind.STATIC:
        raise DomainError("segment_dynamic", "Members of a dynamic segment come from its definition; use refresh.")


def _ids(customer_ids: Sequence[int]) -> list[int]:
    try:
        ids = sorted({int(i) for i in customer_ids})
    except (TypeError, ValueError):
        raise DomainError("customer_ids_invalid", "Customer ids must be whole numbers.", field="customer_ids") from None
    return ids


def segment_members_add(*, segment_id: int, customer_ids: Sequence[int], actor: Actor) -> Materialised:
    """Add customers to a static segment (unknown and merged customers are skipped)."""
    ids = _ids(customer_ids)

    def build(segment: Segment, at: Any) -> tuple[int, int]:
        _static(segment)
        return _apply(segment, "SELECT c.id FROM crm_customer c WHERE c.id = ANY(%s) AND c.state <> 'merged'", [ids],
                      at=at, joins=True, leaves=False, source_is_full=False)

    return _materialise(segment_id, source="add", actor=actor, build=build)


def segment_members_remove(*, segment_id: int, customer_ids: Sequence[int], actor: Actor) -> Materialised:
    ids = _ids(customer_ids)

    def build(segment: Segment, at: Any) -> tuple[int, int]:
        _static(segment)
        return _apply(segment, "SELECT unnest(%s::bigint[]) AS id", [ids], at=at, joins=False, leaves=True,
                      source_is_full=False)

    return _materialise(segment_id, source="remove", actor=actor, build=build)


def segment_members_apply_upload(*, segment_id: int, job_id: int, replace: bool, actor: Actor) -> Materialised:
    """Apply the customers a static-members import staged (StaticUploadRow): add them, or make them
    the whole membership (replace). Then drop the staged rows. Safe to run twice."""

    def build(segment: Segment, at: Any) -> tuple[int, int]:
        _static(segment)
        result = _apply(segment, "SELECT u.customer_id AS id FROM segments_staticuploadrow u WHERE u.job_id = %s",
                        [job_id], at=at, joins=True, leaves=replace, source_is_full=True)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM segments_staticuploadrow WHERE job_id = %s", [job_id])
        return result

    return _materialise(segment_id, source="upload", actor=actor, build=build)
