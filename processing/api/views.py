"""The till API (`Till <api_key>:<secret>`) and the app's QR code (`Customer <token>`). Thin:
validate, call the service or selector, answer."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue.api.authentication import TillAuthentication
from core.actors import Actor
from core.jsontext import FastJSONRenderer
from crm.api.authentication import CustomerTokenAuthentication
from loymax.api.permissions import IsCustomer, IsTill
from processing import services
from processing.api import serializers as s
from processing.api.validation import cheque_in, confirm_in, validated
from processing.selectors import pos_balance

TAG = ["till (processing)"]
ERRORS = {code: OpenApiResponse(s.PosErrorOut, description=text) for code, text in (
    (400, "validation_error, card_blocked, card_not_activated, not_enough_points, bonus_payment_too_high, "
          "coupon_invalid, customer_blocked"),
    (401, "till_not_found, till_blocked"),
    (404, "card_not_found, customer_not_found, operation_not_found"),
    (409, "already_confirmed, already_cancelled, different_cheque, wrong_operation_order, limit_reached"),
)}


class JSONOnly(DefaultContentNegotiation):
    """Tills speak JSON only: the answer is JSON whatever the Accept header (DRF's default parses it
    against every renderer on each request)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class TillView(APIView):
    """The till's views: JSON in, JSON out (no form parsers, no browsable API), till authentication."""

    authentication_classes = [TillAuthentication]
    permission_classes = [IsTill]
    parser_classes = [JSONParser]
    renderer_classes = [FastJSONRenderer]
    content_negotiation_class = JSONOnly


class BalanceView(TillView):
    @extend_schema(tags=TAG, request=s.PosBalanceIn, responses={200: s.PosBalanceAnswer, **ERRORS},
                   summary="Identify a member: who, the card, the balances, the most payable by points")
    def post(self, request: Request, version: str) -> Response:
        data = validated(s.PosBalanceIn, request.data)
        return Response(pos_balance(till=request.auth, identifier=data["identifier"]))


class CalculateView(TillView):
    @extend_schema(tags=TAG, request=s.PosChequeIn, responses={200: s.PosChequeAnswer, **ERRORS},
                   summary="Calculate a cheque: offers, discounts, points; holds the bonus payment")
    def post(self, request: Request, version: str) -> Response:
        data = validated(s.PosChequeIn, request.data, cheque_in)
        answer = services.cheque_calculate(till=request.auth, actor=Actor.from_request(request), **data)
        return Response(answer)


class ConfirmView(TillView):
    @extend_schema(tags=TAG, request=s.PosConfirmIn, responses={200: s.PosChequeAnswer, **ERRORS},
                   summary="Confirm a calculated cheque: books points, coupons, counters (idempotent)")
    def post(self, request: Request, version: str) -> Response:
        data = validated(s.PosConfirmIn, request.data, confirm_in)
        return Response(services.cheque_confirm(till=request.auth, actor=Actor.from_request(request),
                                                number=data["number"], lines=data.get("lines")))


class CancelView(TillView):
    @extend_schema(tags=TAG, request=s.PosNumberIn, responses={200: s.PosChequeAnswer, **ERRORS},
                   summary="Cancel a calculated cheque: releases the hold")
    def post(self, request: Request, version: str) -> Response:
        data = validated(s.PosNumberIn, request.data)
        return Response(services.cheque_cancel(till=request.auth, actor=Actor.from_request(request),
                                               number=data["number"]))


class RefundView(TillView):
    @extend_schema(tags=TAG, request=s.PosRefundIn, responses={200: s.PosRefundAnswer, **ERRORS},
                   summary="Refund lines of a confirmed cheque (all when no lines): points follow (idempotent)")
    def post(self, request: Request, version: str) -> Response:
        data = validated(s.PosRefundIn, request.data)
        return Response(services.cheque_refund(till=request.auth, actor=Actor.from_request(request),
                                               number=data["number"], original_number=data["original_number"],
                                               lines=data.get("lines")))


class OfflineView(TillView):
    @extend_schema(tags=TAG, request=s.PosChequeIn, responses={200: s.PosChequeAnswer, **ERRORS},
                   summary="A cheque sent later by an offline till: accrual only, booked at once (idempotent)")
    def post(self, request: Request, version: str) -> Response:
        data = validated(s.PosChequeIn, request.data)
        return Response(services.cheque_offline(till=request.auth, actor=Actor.from_request(request), **data))


class MyQrView(APIView):
    authentication_classes = [CustomerTokenAuthentication]
    permission_classes = [IsCustomer]

    @extend_schema(tags=["customer app"], request=None, responses={201: s.PosQrAnswer},
                   summary="A one-time code to show at the till as a QR (valid 5 minutes, used once)")
    def post(self, request: Request, version: str) -> Response:
        answer = services.qr_issue(customer_id=request.user.customer_id, actor=Actor.from_request(request))
        return Response(s.PosQrAnswer(answer).data, status=201)
