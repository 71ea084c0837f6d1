"""Operator endpoints for segments and RFM. Thin: parse, call a service or selector, answer."""
from __future__ import annotations

import csv

from django.db import transaction
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from core.errors import DomainError, NotFound
from core.imports import import_job_create
from core.api.imports import ImportJobSerializer
from loymax.api.pagination import StandardPagination
from loymax.api.permissions import OperatorModelPermissions
from segments import selectors, services, tasks
from segments.api import serializers as s
from segments.conditions import KINDS
from segments.models import RfmSettings, Segment, SegmentRefresh

TAG = ["operator: segments"]
TAG_RFM = ["operator: RFM"]
VIEW, ADD, CHANGE, DELETE = ("segments.view_segment", "segments.add_segment", "segments.change_segment",
                             "segments.delete_segment")
SEE_CUSTOMERS = "crm.view_customer"  # previews and exports show names and contacts


class OperatorView(APIView):
    """Each HTTP method names the model permissions the operator's role must grant."""

    permission_classes = [OperatorModelPermissions]
    method_permissions: dict[str, str | tuple[str, ...]] = {}

    @property
    def required_permission(self) -> str | tuple[str, ...] | None:
        return self.method_permissions.get(self.request.method)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _materialised(done: services.Materialised) -> dict:
    return s.MaterialisedOut(done).data


class SegmentListView(OperatorView):
    method_permissions = {"GET": VIEW, "POST": ADD}

    @extend_schema(tags=TAG, responses=s.SegmentOut(many=True), summary="Segments (paginated, by name)")
    def get(self, request: Request, version: str) -> Response:
        paginator = StandardPagination()
        page = paginator.paginate_queryset(Segment.objects.order_by("name"), request, view=self)
        return paginator.get_paginated_response(s.SegmentOut(page, many=True).data)

    @extend_schema(tags=TAG, request=s.SegmentCreateIn, responses={201: s.SegmentOut},
                   summary="Create a segment (dynamic with a definition, or static)")
    def post(self, request: Request, version: str) -> Response:
        data = _valid(s.SegmentCreateIn, request.data)
        segment = services.segment_create(actor=Actor.from_request(request), **data)
        return Response(s.SegmentOut(segment).data, status=status.HTTP_201_CREATED)


class SegmentDetailView(OperatorView):
    method_permissions = {"GET": VIEW, "PATCH": CHANGE, "DELETE": DELETE}

    @extend_schema(tags=TAG, responses=s.SegmentOut, summary="A segment")
    def get(self, request: Request, version: str, pk: int) -> Response:
        return Response(s.SegmentOut(selectors.segment_get(pk)).data)

    @extend_schema(tags=TAG, request=s.SegmentUpdateIn, responses=s.SegmentOut,
                   summary="Change a segment (members follow at the next refresh)")
    def patch(self, request: Request, version: str, pk: int) -> Response:
        data = _valid(s.SegmentUpdateIn, request.data)
        segment = services.segment_update(segment=selectors.segment_get(pk), actor=Actor.from_request(request), **data)
        return Response(s.SegmentOut(segment).data)

    @extend_schema(tags=TAG, responses={204: None}, summary="Delete a segment with its members and history")
    def delete(self, request: Request, version: str, pk: int) -> Response:
        services.segment_delete(segment=selectors.segment_get(pk), actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PreviewView(OperatorView):
    method_permissions = {"POST": (VIEW, SEE_CUSTOMERS)}

    @extend_schema(tags=TAG, request=s.PreviewIn, responses=s.PreviewOut,
                   summary="Count and first members of a definition (saved or not)",
                   description="Errors name the place in the tree: `errors: {\"definition.children.2.value\": [..]}`. "
                               "A count that runs past the preview timeout answers 422 `segment_query_timeout`.")
    def post(self, request: Request, version: str) -> Response:
        data = _valid(s.PreviewIn, request.data)
        preview = selectors.segment_preview(definition=data["definition"], limit=data["limit"])
        return Response(s.PreviewOut(preview).data)


class ConditionKindsView(OperatorView):
    method_permissions = {"GET": VIEW}

    @extend_schema(tags=TAG, responses=s.ConditionKindOut(many=True), summary="Condition kinds, each with an example")
    def get(self, request: Request, version: str) -> Response:
        data = [{"kind": k.kind, "title": k.title, "example": k.example} for k in KINDS.values()]
        return Response(s.ConditionKindOut(data, many=True).data)


class RefreshView(OperatorView):
    method_permissions = {"POST": CHANGE}

    @extend_schema(tags=TAG, request=s.RefreshIn,
                   responses={200: s.MaterialisedOut, 202: OpenApiResponse(description="Queued for a worker")},
                   summary="Recompute a dynamic segment's members (queued, or now with wait=true)")
    def post(self, request: Request, version: str, pk: int) -> Response:
        data = _valid(s.RefreshIn, request.data)
        segment = selectors.segment_get(pk)
        actor = Actor.from_request(request)
        if data["wait"]:
            return Response(_materialised(services.segment_refresh(segment_id=segment.pk, actor=actor)))
        transaction.on_commit(lambda: tasks.segment_refresh.delay(segment.pk, actor.label))
        return Response({"queued": True, "segment_id": segment.pk}, status=status.HTTP_202_ACCEPTED)


class MembersView(OperatorView):
    method_permissions = {"GET": VIEW}

    @extend_schema(tags=TAG, parameters=[s.MembersQueryIn], responses=s.MembersOut,
                   summary="Member ids now, or on a past moment (`on`), in keyset pages (`after`)")
    def get(self, request: Request, version: str, pk: int) -> Response:
        params = _valid(s.MembersQueryIn, request.query_params)
        segment = selectors.segment_get(pk)
        if params.get("on"):
            count, ids = selectors.segment_members_on(segment_id=segment.pk, on=params["on"], limit=params["limit"],
                                                      after=params["after"])
        else:
            count = segment.member_count or 0
            ids = selectors.segment_member_ids_page(segment.pk, after=params["after"], limit=params["limit"])
        next_after = ids[-1] if len(ids) == params["limit"] else None
        return Response(s.MembersOut({"count": count, "on": params.get("on"), "ids": ids, "next_after": next_after}).data)


class _Echo:
    def write(self, value: str) -> str:
        return value


class ExportView(OperatorView):
    method_permissions = {"GET": (VIEW, SEE_CUSTOMERS)}

    @extend_schema(tags=TAG, parameters=[s.ExportIn], responses={(200, "text/csv"): OpenApiTypes.BINARY},
                   summary="Members as CSV (streamed; now, or on a past moment)")
    def get(self, request: Request, version: str, pk: int):
        params = _valid(s.ExportIn, request.query_params)
        segment = selectors.segment_get(pk)
        writer = csv.writer(_Echo())
        rows = (writer.writerow(row) for row in selectors.export_rows(segment.pk, on=params.get("on")))
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}.csv"'
        return response


class RefreshListView(OperatorView):
    method_permissions = {"GET": VIEW}

    @extend_schema(tags=TAG, responses=s.RefreshOut(many=True), summary="Refreshes and uploads, newest first")
    def get(self, request: Request, version: str, pk: int) -> Response:
        segment = selectors.segment_get(pk)
        paginator = StandardPagination()
        page = paginator.paginate_queryset(SegmentRefresh.objects.filter(segment=segment), request, view=self)
        return paginator.get_paginated_response(s.RefreshOut(page, many=True).data)


class RefreshDetailView(OperatorView):
    method_permissions = {"GET": VIEW}

    @extend_schema(tags=TAG, responses=s.RefreshDetailOut, summary="Who joined and who left at one refresh")
    def get(self, request: Request, version: str, pk: int, refresh_id: int) -> Response:
        refresh = SegmentRefresh.objects.filter(pk=refresh_id, segment_id=pk).first()
        if refresh is None:
            raise NotFound("refresh_not_found", f"Segment #{pk} has no refresh #{refresh_id}.")
        changes = selectors.segment_changes(segment_id=pk, at=refresh.at)
        refresh.joined_ids, refresh.left_ids = changes["joined"], changes["left"]
        return Response(s.RefreshDetailOut(refresh).data)


class UploadView(OperatorView):
    method_permissions = {"POST": CHANGE}
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(tags=TAG, request={"multipart/form-data": s.UploadIn}, responses={202: ImportJobSerializer},
                   summary="Upload members of a static segment (CSV of identifiers; an import job)")
    def post(self, request: Request, version: str, pk: int) -> Response:
        data = _valid(s.UploadIn, request.data)
        segment = selectors.segment_get(pk)
        if segment.kind != Segment.Kind.STATIC:
            raise DomainError("segment_dynamic", "Only a static segment takes an uploaded list.")
        job = import_job_create(kind="segments.static_members", upload=data["file"], actor=Actor.from_request(request),
                                options={"segment_id": segment.pk, "replace": data["replace"]})
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class MembersChangeView(OperatorView):
    method_permissions = {"POST": CHANGE}
    add = True

    @extend_schema(tags=TAG, request=s.MemberIdsIn, responses=s.MaterialisedOut,
                   summary="Add or remove customers of a static segment")
    def post(self, request: Request, version: str, pk: int) -> Response:
        data = _valid(s.MemberIdsIn, request.data)
        change = services.segment_members_add if self.add else services.segment_members_remove
        done = change(segment_id=selectors.segment_get(pk).pk, customer_ids=data["customer_ids"],
                      actor=Actor.from_request(request))
        return Response(_materialised(done))


class CustomerSegmentsView(OperatorView):
    method_permissions = {"GET": VIEW}

    @extend_schema(tags=TAG, responses=s.CustomerSegmentsOut, summary="The segments a customer is in now")
    def get(self, request: Request, version: str, customer_id: int) -> Response:
        ids = sorted(selectors.segment_ids_for_customer(customer_id))
        return Response(s.CustomerSegmentsOut({"customer_id": customer_id, "segment_ids": ids}).data)


# --- RFM --------------------------------------------------------------------------------------

class RfmMatrixView(OperatorView):
    method_permissions = {"GET": "segments.view_rfmscore"}

    @extend_schema(tags=TAG_RFM, responses=s.RfmMatrixOut, summary="Customers and average cheque per RFM cell")
    def get(self, request: Request, version: str) -> Response:
        return Response(s.RfmMatrixOut(selectors.rfm_matrix()).data)


class RfmSettingsView(OperatorView):
    method_permissions = {"GET": "segments.view_rfmsettings", "PATCH": "segments.change_rfmsettings"}

    @extend_schema(tags=TAG_RFM, responses=s.RfmSettingsIO, summary="How RFM is scored")
    def get(self, request: Request, version: str) -> Response:
        return Response(s.RfmSettingsIO(RfmSettings.load()).data)

    @extend_schema(tags=TAG_RFM, request=s.RfmSettingsIO, responses=s.RfmSettingsIO,
                   summary="Change the window, the method or the thresholds (applied at the next recomputation)")
    def patch(self, request: Request, version: str) -> Response:
        serializer = s.RfmSettingsIO(RfmSettings.load(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        unknown = sorted(set(request.data) - set(serializer.fields))
        if unknown:
            raise ValidationError({name: ["Unknown field."] for name in unknown})
        settings = services.rfm_settings_update(actor=Actor.from_request(request), **serializer.validated_data)
        return Response(s.RfmSettingsIO(settings).data)


class RfmRecomputeView(OperatorView):
    method_permissions = {"POST": "segments.change_rfmsettings"}

    @extend_schema(tags=TAG_RFM, request=None, responses={202: OpenApiResponse(description="Queued for a worker")},
                   summary="Recompute RFM scores now (a worker does it)")
    def post(self, request: Request, version: str) -> Response:
        label = Actor.from_request(request).label
        transaction.on_commit(lambda: tasks.rfm_recompute.delay(label))
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)
