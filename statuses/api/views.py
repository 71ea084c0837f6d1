"""Statuses over the API: the member's own statuses, an operator's view, history and manual
assignment, and the systems' definitions and recalculation runs. Thin: selectors and services."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status as http
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from core.errors import DomainError
from crm.models import Customer
from loymax.api.permissions import IsCustomer, OperatorModelPermissions
from statuses.api.serializers import (
    CustomerSystemStatusSerializer,
    ManualAssignSerializer,
    OperatorCustomerStatusSerializer,
    StatusRecalculateSerializer,
    StatusRecalculationSerializer,
    StatusChangeSerializer,
    StatusSystemSerializer,
)
from statuses.models import StatusSystem
from statuses.selectors import customer_statuses, recalculation_runs, status_history
from statuses.services import status_assign_manual, status_recalculation_start


class MeStatusesView(APIView):
    """The member's statuses: current, next recalculation date, what is needed for the next one."""

    permission_classes = [IsCustomer]

    @extend_schema(responses=CustomerSystemStatusSerializer(many=True), tags=["me"])
    def get(self, request, version: str) -> Response:
        data = customer_statuses(customer_id=request.user.customer_id)
        return Response(CustomerSystemStatusSerializer(data, many=True).data)


class CustomerStatusesView(APIView):
    permission_classes = [OperatorModelPermissions]
    required_permission = "statuses.view_customerstatus"

    @extend_schema(responses=OperatorCustomerStatusSerializer(many=True), tags=["statuses"])
    def get(self, request, version: str, customer_id: int) -> Response:
        data = customer_statuses(customer_id=customer_id, for_operator=True)
        return Response(OperatorCustomerStatusSerializer(data, many=True).data)


class CustomerStatusHistoryView(ListAPIView):
    """Every change of the customer's statuses, newest first (from, to, why, when, by whom)."""

    permission_classes = [OperatorModelPermissions]
    required_permission = "statuses.view_statuschange"
    serializer_class = StatusChangeSerializer
    filter_backends: list = []

    @extend_schema(parameters=[OpenApiParameter("system", str, description="Only this system (code).")],
                   tags=["statuses"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        customer_id = self.kwargs["customer_id"]
        if not Customer.objects.filter(pk=customer_id).exists():
            raise DomainError("not_found", f"No customer {customer_id}.", status=404)
        return status_history(customer_id=customer_id, system_code=self.request.query_params.get("system") or None)


class CustomerStatusAssignView(APIView):
    """Set a status by hand: reason required, optional hold date. Audited; recorded in the history."""

    permission_classes = [OperatorModelPermissions]
    required_permission = "statuses.change_customerstatus"

    @extend_schema(request=ManualAssignSerializer, responses={200: StatusChangeSerializer}, tags=["statuses"])
    def post(self, request, version: str, customer_id: int, system: str) -> Response:
        form = ManualAssignSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        change = status_assign_manual(customer_id=customer_id, system=system, status=data.get("status") or None,
                                      reason=data["reason"], hold_until=data.get("hold_until"),
                                      actor=Actor.from_request(request))
        return Response(StatusChangeSerializer(change).data)


class StatusSystemListView(ListAPIView):
    """Status systems with their statuses and conditions (stored form and text form)."""

    permission_classes = [OperatorModelPermissions]
    required_permission = "statuses.view_statussystem"
    serializer_class = StatusSystemSerializer
    filter_backends: list = []
    pagination_class = None

    def get_queryset(self):
        return StatusSystem.objects.select_related("counter").prefetch_related("statuses").order_by("name")

    @extend_schema(tags=["statuses"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class StatusSystemRecalculateView(APIView):
    """Start a recalculation of one system now (chunks run on the workers)."""

    permission_classes = [OperatorModelPermissions]
    required_permission = "statuses.change_statussystem"

    @extend_schema(request=StatusRecalculateSerializer, responses={202: StatusRecalculationSerializer},
                   tags=["statuses"])
    def post(self, request, version: str, code: str) -> Response:
        form = StatusRecalculateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        system = StatusSystem.objects.filter(code=code).first()
        if system is None:
            raise DomainError("not_found", f"No status system '{code}'.", status=404)
        run = status_recalculation_start(system_id=system.pk, mode=form.validated_data["mode"],
                                         actor=Actor.from_request(request))
        return Response(StatusRecalculationSerializer(run).data, status=http.HTTP_202_ACCEPTED)


class StatusSystemRunsView(ListAPIView):
    permission_classes = [OperatorModelPermissions]
    required_permission = "statuses.view_statussystem"
    serializer_class = StatusRecalculationSerializer
    filter_backends: list = []

    def get_queryset(self):
        return recalculation_runs(system_code=self.kwargs["code"])

    @extend_schema(tags=["statuses"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
