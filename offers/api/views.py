"""Offers API: operator endpoints (offers, dry run, coupon lookup and batches, a member's personal
products for the call center) and customer-app endpoints (my coupons, my personal products)."""
from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue.models import Store
from core.actors import Actor
from core.errors import NotFound
from crm.models import Customer
from loymax.api.permissions import IsCustomer, OperatorModelPermissions
from offers import selectors
from offers.api.serializers import (
    CouponBatchSerializer,
    CouponIssueSerializer,
    CouponLookupSerializer,
    DryRunRequestSerializer,
    MyCouponSerializer,
    OfferDetailSerializer,
    OfferSerializer,
    PersonalChoiceSerializer,
    PersonalSetSerializer,
    ResultSerializer,
)
from offers.dry_run import offer_dry_run
from offers.models import Coupon, CouponIssue, Offer, PersonalProductChoice, PersonalProductSet
from offers.sample import sample_cheque
from offers.services.coupons import coupon_get, coupon_issue_batch, coupon_validate
from offers.services.personal import personal_products_choose, personal_set_open


class OfferListView(generics.ListAPIView):
    """Offers, highest priority first. Filter with `?state=active`."""

    permission_classes = [OperatorModelPermissions]
    required_permission = "offers.view_offer"
    serializer_class = OfferSerializer

    @extend_schema(parameters=[OpenApiParameter("state", str, enum=[s.value for s in Offer.State]),
                               OpenApiParameter("search", str)])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.offers_list(state=self.request.query_params.get("state"),
                                     search=self.request.query_params.get("search", ""))


class OfferDetailView(generics.RetrieveAPIView):
    """An offer with its rules (filters and actions as typed JSON)."""

    permission_classes = [OperatorModelPermissions]
    required_permission = "offers.view_offer"
    serializer_class = OfferDetailSerializer
    queryset = Offer.objects.prefetch_related("partners", "stores", "rules")


class OfferDryRunView(APIView):
    """Evaluate an offer (in any state) on a sample cheque: per-line result and trace. Writes nothing."""

    permission_classes = [OperatorModelPermissions]
    required_permission = "offers.view_offer"

    @extend_schema(request=DryRunRequestSerializer, responses={200: ResultSerializer})
    def post(self, request: Request, pk: int, version: str | None = None) -> Response:
        offer = get_object_or_404(Offer, pk=pk)
        serializer = DryRunRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        store = None
        if data.get("store"):
            store = Store.objects.filter(pk=data["store"]).first()
            if store is None:
                raise NotFound("not_found", "No store with this id.", field="store")
        customer = data.get("customer")
        cheque = sample_cheque(
            lines=data.get("lines", []), store=store, purchased_at=data.get("purchased_at"),
            customer={"id": 0, **customer} if customer is not None else None, card=data.get("card"),
            coupon_issue_ids=data.get("coupon_issue_ids", []), event=data["event"])
        result = offer_dry_run(offer=offer, cheque=cheque, with_running=data["with_running"])
        return Response(result.as_dict())


class CouponLookupView(APIView):
    """A coupon by its code, with whether it could be used now (for `customer_id` when given)."""

    permission_classes = [OperatorModelPermissions]
    required_permission = "offers.view_coupon"

    @extend_schema(parameters=[OpenApiParameter("customer_id", int)], responses={200: CouponLookupSerializer})
    def get(self, request: Request, code: str, version: str | None = None) -> Response:
        coupon = coupon_get(code=code)
        raw_customer = request.query_params.get("customer_id")
        customer_id = int(raw_customer) if raw_customer and raw_customer.isdigit() else coupon.customer_id
        check = coupon_validate(code=code, customer_id=customer_id)
        return Response(CouponLookupSerializer(coupon, context={"check": check}).data)


class CouponIssueDetailView(generics.RetrieveAPIView):
    """A coupon issue with the progress of its batch generation."""

    permission_classes = [OperatorModelPermissions]
    required_permission = "offers.view_couponissue"
    serializer_class = CouponIssueSerializer
    queryset = CouponIssue.objects.all()


class CouponBatchView(APIView):
    """Generate `count` more codes of a distribution issue in the background (202; poll the issue)."""

    permission_classes = [OperatorModelPermissions]
    required_permission = "offers.change_couponissue"

    @extend_schema(request=CouponBatchSerializer, responses={202: CouponIssueSerializer})
    def post(self, request: Request, pk: int, version: str | None = None) -> Response:
        issue = get_object_or_404(CouponIssue, pk=pk)
        serializer = CouponBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issue = coupon_issue_batch(issue=issue, count=serializer.validated_data["count"],
                                   actor=Actor.from_request(request))
        return Response(CouponIssueSerializer(issue).data, status=status.HTTP_202_ACCEPTED)


def _sets_payload(customer_id: int) -> list[dict[str, Any]]:
    rows = selectors.personal_sets_for_customer(customer_id=customer_id)
    for row in rows:
        row["open"] = personal_set_open(row["set"])[0]
    return PersonalSetSerializer(rows, many=True).data


class CustomerPersonalProductsView(APIView):
    """The call center: a member's personal product sets, and setting their choice in one."""

    permission_classes = [OperatorModelPermissions]

    @property
    def required_permission(self) -> str:  # type: ignore[override]
        if self.request.method == "GET":
            return "offers.view_personalproductchoice"
        return "offers.change_personalproductchoice"

    @extend_schema(responses={200: PersonalSetSerializer(many=True)})
    def get(self, request: Request, customer_id: int, version: str | None = None) -> Response:
        get_object_or_404(Customer, pk=customer_id)
        return Response(_sets_payload(customer_id))


class CustomerPersonalChoiceView(CustomerPersonalProductsView):
    @extend_schema(request=PersonalChoiceSerializer, responses={200: PersonalSetSerializer(many=True)})
    def put(self, request: Request, customer_id: int, set_id: int, version: str | None = None) -> Response:
        customer = get_object_or_404(Customer, pk=customer_id)
        product_set = get_object_or_404(PersonalProductSet.objects.select_related("offer"), pk=set_id)
        serializer = PersonalChoiceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        personal_products_choose(product_set=product_set, customer=customer,
                                 skus=serializer.validated_data["products"], actor=Actor.from_request(request),
                                 channel=PersonalProductChoice.Channel.CALL_CENTER)
        return Response(_sets_payload(customer_id))

    @extend_schema(responses={200: PersonalSetSerializer(many=True)}, operation_id="customers_personal_products_set")
    def get(self, request: Request, customer_id: int, set_id: int, version: str | None = None) -> Response:  # type: ignore[override]
        get_object_or_404(Customer, pk=customer_id)
        return Response([row for row in _sets_payload(customer_id) if row["id"] == set_id])


class MyCouponsView(generics.ListAPIView):
    """The member's coupons that can be used (`?all=1`: also used, expired and revoked ones)."""

    permission_classes = [IsCustomer]
    serializer_class = MyCouponSerializer

    @extend_schema(parameters=[OpenApiParameter("all", bool)])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Coupon.objects.none()
        return selectors.customer_coupons(customer_id=self.request.user.customer_id,
                                          include_inactive=self.request.query_params.get("all") in ("1", "true"))


class MyPersonalProductsView(APIView):
    """The member's personal product sets: what they may choose from and what they chose."""

    permission_classes = [IsCustomer]

    @extend_schema(responses={200: PersonalSetSerializer(many=True)})
    def get(self, request: Request, version: str | None = None) -> Response:
        return Response(_sets_payload(request.user.customer_id))


class MyPersonalChoiceView(APIView):
    """Choose personal products in a set (replaces the current choice)."""

    permission_classes = [IsCustomer]

    @extend_schema(request=PersonalChoiceSerializer, responses={200: PersonalSetSerializer(many=True)})
    def put(self, request: Request, set_id: int, version: str | None = None) -> Response:
        customer = get_object_or_404(Customer, pk=request.user.customer_id)
        product_set = get_object_or_404(PersonalProductSet.objects.select_related("offer"), pk=set_id)
        serializer = PersonalChoiceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        personal_products_choose(product_set=product_set, customer=customer,
                                 skus=serializer.validated_data["products"], actor=Actor.from_request(request),
                                 channel=PersonalProductChoice.Channel.APP)
        return Response(_sets_payload(customer.pk))
