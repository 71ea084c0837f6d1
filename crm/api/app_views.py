"""Customer-app endpoints: login by phone and one-time code, then the customer's own profile only."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from crm.api import customer_serializers as s
from crm.api.customer_views import _valid
from crm.models import Customer
from crm.selectors.customers import customer_detail
from crm.selectors.purchases import PurchaseFilter, purchase_search
from crm.services.customer_auth import customer_login_confirm, customer_login_request, customer_logout
from crm.services.customers import SELF_SERVICE_FIELDS, customer_update
from crm.services.notifiers import notifier_change_confirm, notifier_change_request
from loymax.api.client_ip import client_ip
from loymax.api.pagination import StandardPagination
from loymax.api.permissions import IsCustomer

TAG_APP = ["customer app"]


class LoginRequestView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(tags=TAG_APP, request=s.LoginRequestIn, responses={202: s.CodeSentOut}, auth=[],
                   summary="Send a login code to a phone (the same answer whether the phone is known or not)")
    def post(self, request: Request, version: str) -> Response:
        phone = _valid(s.LoginRequestIn, request.data)["phone"]
        row = customer_login_request(phone=phone, actor=Actor(kind="system", id="", label="app login"),
                                     ip=client_ip(request))
        return Response({"detail": "Code sent.", "expires_at": row.expires_at}, status=status.HTTP_202_ACCEPTED)


class LoginConfirmView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(tags=TAG_APP, request=s.LoginConfirmIn, responses=s.LoginOut, auth=[],
                   summary="Exchange the code for a customer token (registers a new customer on first login)")
    def post(self, request: Request, version: str) -> Response:
        data = _valid(s.LoginConfirmIn, request.data)
        login = customer_login_confirm(
            phone=data["phone"], code=data["code"], device=data["device"],
            actor=Actor(kind="system", id="", label="app login"),
        )
        return Response({"token": login.token, "customer_id": login.customer.pk, "expires_at": login.expires_at})


class LogoutView(APIView):
    permission_classes = [IsCustomer]

    @extend_schema(tags=TAG_APP, request=None, responses={204: None}, summary="Revoke this token")
    def post(self, request: Request, version: str) -> Response:
        customer_logout(token=request.auth, actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _me(request: Request) -> dict:
    return s.MeOut(customer_detail(customer_id=request.user.customer_id)).data


class MeView(APIView):
    """The token's owner only: there is no customer id in the path to tamper with."""

    permission_classes = [IsCustomer]

    @extend_schema(tags=TAG_APP, responses=s.MeOut, summary="My profile, contacts, cards and balances")
    def get(self, request: Request, version: str) -> Response:
        return Response(_me(request))

    @extend_schema(tags=TAG_APP, request=s.ProfileIn, responses=s.MeOut,
                   summary="Change my profile (names, gender, birth date, time zone)")
    def patch(self, request: Request, version: str) -> Response:
        changes = _valid(s.ProfileIn, request.data)
        customer = Customer.objects.get(pk=request.user.customer_id)
        customer_update(customer=customer, actor=Actor.from_request(request), allowed=SELF_SERVICE_FIELDS, **changes)
        return Response(_me(request))


class MeContactChangeRequestView(APIView):
    permission_classes = [IsCustomer]

    @extend_schema(tags=TAG_APP, request=s.ContactChangeIn, responses={202: s.CodeSentOut},
                   summary="Send a code to the new phone or email")
    def post(self, request: Request, version: str) -> Response:
        data = _valid(s.ContactChangeIn, request.data)
        row = notifier_change_request(customer=Customer.objects.get(pk=request.user.customer_id), kind=data["kind"],
                                      value=data["value"], actor=Actor.from_request(request), ip=client_ip(request))
        return Response({"detail": "Code sent.", "expires_at": row.expires_at}, status=status.HTTP_202_ACCEPTED)


class MeContactChangeConfirmView(APIView):
    permission_classes = [IsCustomer]

    @extend_schema(tags=TAG_APP, request=s.ContactChangeConfirmIn, responses=s.MeOut,
                   summary="Confirm the code: the new phone or email replaces the old one, verified")
    def post(self, request: Request, version: str) -> Response:
        data = _valid(s.ContactChangeConfirmIn, request.data)
        notifier_change_confirm(customer=Customer.objects.get(pk=request.user.customer_id), kind=data["kind"],
                                value=data["value"], code=data["code"], actor=Actor.from_request(request))
        return Response(_me(request))


class MePurchasesView(APIView):
    permission_classes = [IsCustomer]
    pagination_class = StandardPagination

    @extend_schema(tags=TAG_APP, responses=s.PurchaseOut(many=True), summary="My purchases, newest first")
    def get(self, request: Request, version: str) -> Response:
        rows = purchase_search(filters=PurchaseFilter(customer_id=request.user.customer_id))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(s.PurchaseOut(page, many=True).data)
