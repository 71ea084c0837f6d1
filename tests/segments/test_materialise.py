"""Materialised membership: refresh with history, members on a past date, static segments, the
selectors offers and mailings call, deletion, and two refreshes racing."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from core.imports import import_job_create, import_job_run
from core.models import AuditEvent, ImportJob
from crm.models import Customer, Notifier
from segments import selectors, services
from segments.models import Membership, MembershipChange, Segment, SegmentRefresh
from tests.conftest import run_in_threads
from tests.factories.crm import CardFactory, CustomerFactory, NotifierFactory
from tests.factories.segments import SegmentFactory, StaticSegmentFactory

ACTOR = Actor.system("test")
PHONE = {"kind": "notifier", "channel": "phone", "verified": True}


def members(segment: Segment) -> set[int]:
    return set(Membership.objects.filter(segment=segment).values_list("customer_id", flat=True))


@pytest.mark.django_db
def test_refresh_records_who_joined_and_left_and_answers_on_a_past_date():
    a, b, c = (NotifierFactory(verified=True).customer for _ in range(3))
    segment = SegmentFactory(definition=PHONE)

    first = services.segment_refresh(segment_id=segment.pk, actor=ACTOR)
    assert (first.joined, first.left, first.members) == (3, 0, 3)
    assert members(segment) == {a.pk, b.pk, c.pk}

    # b loses the verified phone, d gets one
    Notifier.objects.filter(customer=b).update(verified=False)
    d = NotifierFactory(verified=True).customer
    second = services.segment_refresh(segment_id=segment.pk, actor=ACTOR)
    assert (second.joined, second.left, second.members) == (1, 1, 3)
    assert members(segment) == {a.pk, c.pk, d.pk}

    segment.refresh_from_db()
    assert segment.member_count == 3 and segment.refreshed_at == second.at
    # who was in on each date: one query over the intervals
    between = first.at + (second.at - first.at) / 2
    assert set(selectors.segment_members_on(segment_id=segment.pk, on=between)[1]) == {a.pk, b.pk, c.pk}
    assert set(selectors.segment_members_on(segment_id=segment.pk, on=second.at)[1]) == {a.pk, c.pk, d.pk}
    assert selectors.segment_members_on(segment_id=segment.pk, on=first.at - dt.timedelta(seconds=1)) == (0, [])
    # who joined and left at the second refresh
    assert selectors.segment_changes(segment_id=segment.pk, at=second.at) == {"joined": [d.pk], "left": [b.pk]}
    closed = MembershipChange.objects.get(segment=segment, customer=b)
    assert (closed.joined_at, closed.left_at) == (first.at, second.at)
    assert list(SegmentRefresh.objects.filter(segment=segment).order_by("at").values_list("joined", "left")) == [
        (3, 0), (1, 1)]
    assert AuditEvent.objects.filter(action="segment.refresh", object_id=str(segment.pk)).count() == 2


@pytest.mark.django_db
def test_rejoining_opens_a_new_interval():
    customer = NotifierFactory(verified=True).customer
    segment = SegmentFactory(definition=PHONE)
    services.segment_refresh(segment_id=segment.pk, actor=ACTOR)
    Notifier.objects.filter(customer=customer).update(verified=False)
    gone = services.segment_refresh(segment_id=segment.pk, actor=ACTOR)
    Notifier.objects.filter(customer=customer).update(verified=True)
    back = services.segment_refresh(segment_id=segment.pk, actor=ACTOR)
    stays = list(MembershipChange.objects.filter(segment=segment, customer=customer).order_by("joined_at")
                 .values_list("left_at", flat=True))
    assert stays == [gone.at, None]
    assert selectors.segment_members_on(segment_id=segment.pk, on=gone.at)[0] == 0
    assert selectors.segment_members_on(segment_id=segment.pk, on=back.at)[1] == [customer.pk]


@pytest.mark.django_db
def test_customer_segments_is_one_query_and_member_chunks_are_keyset_pages(django_assert_num_queries):
    people = [NotifierFactory(verified=True).customer for _ in range(7)]
    phone, everyone = SegmentFactory(definition=PHONE), SegmentFactory(
        definition={"kind": "profile", "field": "state", "op": "in", "value": ["registered", "anonymous"]})
    for segment in (phone, everyone):
        services.segment_refresh(segment_id=segment.pk, actor=ACTOR)
    with django_assert_num_queries(1):
        assert selectors.segment_ids_for_customer(people[0].pk) == frozenset({phone.pk, everyone.pk})
    assert selectors.segment_ids_for_customer(CustomerFactory().pk) == frozenset()
    chunks = list(selectors.segment_member_ids_chunks(phone.pk, chunk=3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert [i for c in chunks for i in c] == sorted(p.pk for p in people)


@pytest.mark.django_db
def test_static_segment_add_remove_and_no_refresh():
    a, b, merged = CustomerFactory(), CustomerFactory(), CustomerFactory()
    Customer.objects.filter(pk=merged.pk).update(state=Customer.State.MERGED, merged_into=a)
    segment = StaticSegmentFactory()
    added = services.segment_members_add(segment_id=segment.pk, customer_ids=[a.pk, b.pk, merged.pk, 10**9], actor=ACTOR)
    assert (added.joined, added.members) == (2, 2)
    again = services.segment_members_add(segment_id=segment.pk, customer_ids=[a.pk], actor=ACTOR)
    assert (again.joined, again.members) == (0, 2)
    removed = services.segment_members_remove(segment_id=segment.pk, customer_ids=[b.pk], actor=ACTOR)
    assert (removed.left, removed.members) == (1, 1) and members(segment) == {a.pk}
    with pytest.raises(DomainError) as caught:
        services.segment_refresh(segment_id=segment.pk, actor=ACTOR)
    assert caught.value.code == "segment_static"
    with pytest.raises(DomainError):
        services.segment_members_add(segment_id=SegmentFactory().pk, customer_ids=[a.pk], actor=ACTOR)


def _csv(rows: list[list[str]]) -> ContentFile:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows(rows)
    return ContentFile(buffer.getvalue().encode(), name="members.csv")


@pytest.mark.django_db
def test_static_upload_resolves_cards_phones_uids_and_reports_bad_rows(django_capture_on_commit_callbacks):
    by_card = CardFactory(number="7000111122223333").customer
    by_barcode = CardFactory(number="7000999", barcode="4600000000017").customer
    by_phone = NotifierFactory(value="+79161112233", verified=True).customer
    by_uid = CustomerFactory(external_uid="crm-42")
    survivor = CustomerFactory()
    old = CustomerFactory(external_uid="old-1")
    Customer.objects.filter(pk=old.pk).update(state=Customer.State.MERGED, merged_into=survivor)
    NotifierFactory(value="+79160000009", verified=False)
    NotifierFactory(value="+79160000009", verified=False)  # two unverified holders: ambiguous
    CardFactory(number="7000555", customer=None)
    segment = StaticSegmentFactory()
    rows = [["identifier_type", "identifier"], ["card", "7000 1111 2222 3333"], ["card", "4600000000017"],
            ["phone", "8 (916) 111-22-33"], ["external_uid", "crm-42"], ["external_uid", "old-1"],
            ["phone", "+79160000009"], ["card", "7000555"], ["phone", "not a phone"], ["fax", "123"],
            ["external_uid", "nobody"]]
    with django_capture_on_commit_callbacks(execute=False):
        job = import_job_create(kind="segments.static_members", upload=_csv(rows), actor=ACTOR,
                                options={"segment_id": segment.pk})
    job = import_job_run(job_id=job.pk)

    assert job.state == ImportJob.State.DONE_WITH_ERRORS
    assert (job.rows_ok, job.rows_failed) == (5, 5)
    assert members(segment) == {by_card.pk, by_barcode.pk, by_phone.pk, by_uid.pk, survivor.pk}
    reasons = dict(job.row_errors.values_list("line", "reason"))
    assert reasons[7] == "identifier: several customers have this phone unverified"
    assert reasons[8] == "identifier: the card is not bound to a customer"
    assert reasons[9].startswith("identifier: ") and "not" in reasons[9]
    assert "fax" in reasons[10]
    assert reasons[11] == "identifier: no customer with this external uid"
    assert not connection.cursor().execute("SELECT 1 FROM segments_staticuploadrow").fetchall()  # staging emptied


@pytest.mark.django_db
def test_static_upload_replace_makes_the_file_the_whole_membership(django_capture_on_commit_callbacks):
    keep, drop, new = (CustomerFactory(external_uid=f"u-{n}") for n in range(3))
    segment = StaticSegmentFactory()
    services.segment_members_add(segment_id=segment.pk, customer_ids=[keep.pk, drop.pk], actor=ACTOR)
    with django_capture_on_commit_callbacks(execute=False):
        job = import_job_create(kind="segments.static_members", actor=ACTOR, options={"segment_id": segment.pk,
                                                                                       "replace": True},
                                upload=_csv([["identifier_type", "identifier"], ["external_uid", "u-0"],
                                             ["external_uid", "u-2"]]))
    import_job_run(job_id=job.pk)
    assert members(segment) == {keep.pk, new.pk}
    last = SegmentRefresh.objects.filter(segment=segment).order_by("-at").first()
    assert (last.source, last.joined, last.left) == ("upload", 1, 1)


@pytest.mark.django_db
def test_delete_removes_members_and_history_and_is_refused_while_referred_to():
    NotifierFactory(verified=True)
    segment = SegmentFactory(definition=PHONE)
    services.segment_refresh(segment_id=segment.pk, actor=ACTOR)
    user = SegmentFactory(definition={"kind": "segment", "segment": segment.pk})
    with pytest.raises(DomainError) as caught:
        services.segment_delete(segment=segment, actor=ACTOR)
    assert caught.value.code == "segment_in_use"
    services.segment_delete(segment=user, actor=ACTOR)
    services.segment_delete(segment=segment, actor=ACTOR)
    assert not Membership.objects.filter(segment_id=segment.pk).exists()
    assert not MembershipChange.objects.filter(segment_id=segment.pk).exists()
    assert AuditEvent.objects.filter(action="segment.delete", object_id=str(segment.pk)).exists()


@pytest.mark.django_db
def test_a_segment_cannot_refer_to_itself_and_names_are_unique():
    segment = SegmentFactory(name="Phones")
    with pytest.raises(DomainError) as caught:
        services.segment_update(segment=segment, definition={"kind": "segment", "segment": segment.pk}, actor=ACTOR)
    assert caught.value.code == "definition_invalid"
    with pytest.raises(DomainError) as taken:
        services.segment_create(name="Phones", definition=PHONE, actor=ACTOR)
    assert taken.value.field == "name"


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_at_once_run_one_after_the_other():
    for _ in range(30):
        NotifierFactory(verified=True)
    segment = SegmentFactory(definition=PHONE)

    results = run_in_threads(lambda i: services.segment_refresh(segment_id=segment.pk, actor=ACTOR), 4)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.joined for r in results) == [0, 0, 0, 30]
    assert MembershipChange.objects.filter(segment=segment).count() == 30
    assert Segment.objects.get(pk=segment.pk).member_count == 30 == len(members(segment))


@pytest.mark.django_db
def test_refresh_failure_is_recorded_on_the_segment():
    segment = SegmentFactory(definition={"kind": "purchases", "aggregate": "count", "op": "gte", "value": 1,
                                         "product_groups": ["gone"]})
    with pytest.raises(DomainError):
        services.segment_refresh(segment_id=segment.pk, actor=ACTOR)
    segment.refresh_from_db()
    assert "No product group 'gone'" in segment.refresh_error and segment.member_count is None


@pytest.mark.django_db
def test_export_rows_now_and_on_a_date():
    people = [NotifierFactory(verified=True, customer=CustomerFactory(first_name=f"N{n}")).customer for n in range(3)]
    segment = SegmentFactory(definition=PHONE)
    first = services.segment_refresh(segment_id=segment.pk, actor=ACTOR)
    Notifier.objects.filter(customer=people[0]).update(verified=False)
    services.segment_refresh(segment_id=segment.pk, actor=ACTOR)
    now_rows = list(selectors.export_rows(segment.pk, chunk=2))
    then_rows = list(selectors.export_rows(segment.pk, on=first.at + dt.timedelta(microseconds=1), chunk=2))
    assert now_rows[0] == ["id", "external_uid", "first_name", "last_name", "state", "phone", "email"]
    assert [r[0] for r in now_rows[1:]] == [people[1].pk, people[2].pk]
    assert [r[0] for r in then_rows[1:]] == [p.pk for p in people]
    assert then_rows[1][2] == "N0" and then_rows[1][6] == ""
    assert timezone.is_aware(first.at)
