"""Purchase history for operators: search by date range, store, cheque number, card, customer."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import NotFound
from crm.api import customer_serializers as s
from crm.api.customer_views import OperatorView, _valid
from crm.selectors.purchases import PurchaseFilter, purchase_detail, purchase_search

TAG = ["operator: purchases"]


class PurchaseCursorPagination(CursorPagination):
    """Keyset pages (`?cursor=...`): the purchase table grows without bound, so no COUNT and no OFFSET."""

    ordering = ("-purchased_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class PurchaseListView(OperatorView):
    method_permissions = {"GET": "crm.view_purchase"}
    pagination_class = PurchaseCursorPagination

    @extend_schema(tags=TAG, parameters=[s.PurchaseFilterIn], responses=s.PurchaseOut(many=True),
                   summary="Search cheques (newest first, keyset pages)")
    def get(self, request: Request, version: str, customer_id: int | None = None) -> Response:
        params = dict(_valid(s.PurchaseFilterIn, request.query_params))
        if customer_id is not None:
            params["customer"] = customer_id
        filters = PurchaseFilter(
            date_from=params.get("date_from"), date_to=params.get("date_to"), store_id=params.get("store"),
            number=params.get("number"), card_id=params.get("card"), card_number=params.get("card_number"),
            customer_id=params.get("customer"), state=params.get("state"), kind=params.get("kind"),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(purchase_search(filters=filters), request, view=self)
        return paginator.get_paginated_response(s.PurchaseOut(page, many=True).data)


class PurchaseDetailView(OperatorView):
    method_permissions = {"GET": "crm.view_purchase"}

    @extend_schema(tags=TAG, responses=s.PurchaseDetailOut, summary="One cheque with its lines and the offers per line")
    def get(self, request: Request, version: str, pk: int) -> Response:
        purchase = purchase_detail(purchase_id=pk)
        if purchase is None:
            raise NotFound("purchase_not_found", f"Purchase #{pk} does not exist.")
        return Response(s.PurchaseDetailOut(purchase).data)
