"""The ledger API: balances, statements, adjustments by identifier, reversals. Thin: selectors read,
services write; errors come out in the one API error shape."""
from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor, CustomerPrincipal
from core.errors import DomainError, NotFound
from crm.api.ledger_serializers import (
    AccountBalanceSerializer,
    AdjustmentSerializer,
    BookingSerializer,
    ReversalSerializer,
    StatementSerializer,
)
from crm.models import Account, Card, LedgerEntry
from crm.selectors.ledger import account_balances, account_statement
from crm.services.adjustments import ledger_adjust_by_identifier
from crm.services.ledger import ledger_reverse
from loymax.api.permissions import OperatorModelPermissions


class OperatorOrCustomer(OperatorModelPermissions):
    """An operator whose role grants `required_permission`, or a customer (who sees only their own)."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, CustomerPrincipal) or super().has_permission(request, view)


def _account_for(request: Request, pk: int) -> Account:
    account = Account.objects.filter(pk=pk).only("id", "customer_id").first()
    if account is None or (isinstance(request.user, CustomerPrincipal) and account.customer_id != request.user.customer_id):
        raise NotFound("account_not_found", f"No account #{pk}.")  # a customer cannot probe others' accounts
    return account


def _idempotency_key(request: Request, data: dict) -> str:
    key = (data.get("idempotency_key") or request.headers.get("Idempotency-Key") or "").strip()
    if not key:
        raise DomainError("idempotency_key_required", "idempotency_key: required (body field or Idempotency-Key header).",
                          field="idempotency_key")
    actor = Actor.from_request(request)
    return f"api:{actor.kind}:{actor.id}:{key}"  # a client's keys never collide with another client's


def _booking(entry: LedgerEntry) -> Response:
    replayed = bool(getattr(entry, "replayed", False))
    entry = LedgerEntry.objects.select_related("lot").get(pk=entry.pk)
    balance = account_balances(account_ids=[entry.account_id])[0]
    body = BookingSerializer({"entry": entry, "balance": asdict(balance), "replayed": replayed}).data
    return Response(body, status=status.HTTP_200_OK if replayed else status.HTTP_201_CREATED)


class AccountListView(APIView):
    permission_classes = [OperatorOrCustomer]
    required_permission = "crm.view_account"

    @extend_schema(
        summary="Balances of a customer's or a card's accounts",
        parameters=[OpenApiParameter("customer", int, description="Operators: the customer's id."),
                    OpenApiParameter("card", str, description="Operators: a card number.")],
        responses=AccountBalanceSerializer(many=True),
        description="A customer token gets its own accounts; operators name a customer or a card.",
    )
    def get(self, request: Request, version: str) -> Response:
        if isinstance(request.user, CustomerPrincipal):
            rows = account_balances(customer_id=request.user.customer_id)
        elif request.query_params.get("customer"):
            try:
                customer_id = int(request.query_params["customer"])
            except ValueError:
                raise DomainError("invalid_customer", "customer: an id.", field="customer") from None
            rows = account_balances(customer_id=customer_id)
        elif request.query_params.get("card"):
            card = Card.objects.filter(number=request.query_params["card"]).only("id").first()
            if card is None:
                raise NotFound("card_not_found", "No such card.", field="card")
            rows = account_balances(card_id=card.pk)
        else:
            raise DomainError("filter_required", "Give ?customer=<id> or ?card=<number>.", field="customer")
        return Response(AccountBalanceSerializer([asdict(r) for r in rows], many=True).data)


class AccountDetailView(APIView):
    permission_classes = [OperatorOrCustomer]
    required_permission = "crm.view_account"

    @extend_schema(summary="An account's balances", responses=AccountBalanceSerializer)
    def get(self, request: Request, version: str, pk: int) -> Response:
        account = _account_for(request, pk)
        return Response(AccountBalanceSerializer(asdict(account_balances(account_ids=[account.pk])[0])).data)


class StatementView(APIView):
    permission_classes = [OperatorOrCustomer]
    required_permission = "crm.view_ledgerentry"

    @extend_schema(
        summary="An account's statement, newest first (keyset-paginated)",
        parameters=[OpenApiParameter("cursor", str, description="next_cursor of the previous page."),
                    OpenApiParameter("limit", int, description="1 to 500, default 50."),
                    OpenApiParameter("kind", str, many=True, description="Only these kinds (accrual, redemption, ...).")],
        responses=StatementSerializer,
    )
    def get(self, request: Request, version: str, pk: int) -> Response:
        account = _account_for(request, pk)
        try:
            limit = int(request.query_params.get("limit", 50))
        except ValueError:
            raise DomainError("invalid_limit", "limit: a number from 1 to 500.", field="limit") from None
        page = account_statement(account_id=account.pk, cursor=request.query_params.get("cursor"), limit=limit,
                                 kinds=request.query_params.getlist("kind") or None)
        return Response(StatementSerializer({"results": page.entries, "next_cursor": page.next_cursor}).data)


class AdjustmentView(APIView):
    permission_classes = [OperatorModelPermissions]
    required_permission = "crm.add_ledgerentry"

    @extend_schema(
        summary="Adjust a member's points, found by any identifier",
        request=AdjustmentSerializer,
        responses={201: BookingSerializer, 200: BookingSerializer},
        description="Positive amounts credit a new lot (never expiring); negative ones are taken like a redemption "
                    "and refused with not_enough_points when the available balance is short. 200 when the "
                    "idempotency key had already booked (the original is returned). For files, use "
                    "POST /api/v1/imports/ with kind=crm.adjustments.",
    )
    def post(self, request: Request, version: str) -> Response:
        form = AdjustmentSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        entry = ledger_adjust_by_identifier(
            identifier_type=data["identifier_type"], identifier=data["identifier"], amount=data["amount"],
            reason=data["reason"], currency=data.get("currency"), idempotency_key=_idempotency_key(request, data),
            actor=Actor.from_request(request),
        )
        return _booking(entry)


class ReversalView(APIView):
    permission_classes = [OperatorModelPermissions]
    required_permission = "crm.add_ledgerentry"

    @extend_schema(
        summary="Reverse an accrual, a redemption or an adjustment (in full or in part)",
        request=ReversalSerializer,
        responses={201: BookingSerializer, 200: BookingSerializer},
    )
    def post(self, request: Request, version: str, pk: int) -> Response:
        form = ReversalSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        entry = LedgerEntry.objects.filter(pk=pk).first()
        if entry is None:
            raise NotFound("entry_not_found", f"No ledger entry #{pk}.")
        reversal = ledger_reverse(entry=entry, amount=data.get("amount"), description=data.get("reason", ""),
                                  idempotency_key=_idempotency_key(request, data), actor=Actor.from_request(request))
        return _booking(reversal)
