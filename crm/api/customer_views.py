"""Operator endpoints for customers, contacts and cards. Thin: parse, call a service or selector, answer."""
from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue.models import Store
from core.actors import Actor
from core.errors import DomainError, NotFound
from crm.api import customer_serializers as s
from crm.models import Card, CardCategory, CardGroup, Customer, Notifier
from crm.selectors.customers import customer_detail, customer_search
from crm.senders import debug_last_code
from crm.services import cards as card_services
from crm.services import customers as customer_services
from crm.services.merge import customer_merge
from crm.services.notifiers import notifier_add, notifier_remove, notifier_verify_confirm, notifier_verify_request
from loymax.api.client_ip import client_ip
from loymax.api.permissions import OperatorModelPermissions

TAG_CUSTOMERS = ["operator: customers"]
TAG_CARDS = ["operator: cards"]


class OperatorView(APIView):
    """Each HTTP method names the model permission the operator's role must grant."""

    permission_classes = [OperatorModelPermissions]
    method_permissions: dict[str, str] = {}

    @property
    def required_permission(self) -> str | None:
        return self.method_permissions.get(self.request.method)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _customer(pk: int, field: str | None = None) -> Customer:
    customer = Customer.objects.filter(pk=pk).first()
    if customer is None:
        raise NotFound("customer_not_found", f"Customer #{pk} does not exist.", field=field)
    return customer


def _card(pk: int) -> Card:
    card = Card.objects.filter(pk=pk).first()
    if card is None:
        raise NotFound("card_not_found", f"Card #{pk} does not exist.")
    return card


def _detail(pk: int) -> dict:
    return s.CustomerOut(customer_detail(customer_id=pk)).data


class CustomerSearchView(OperatorView):
    method_permissions = {"GET": "crm.view_customer"}

    @extend_schema(tags=TAG_CUSTOMERS, parameters=[s.SearchIn], responses=s.CustomerBriefOut(many=True),
                   summary="Find customers by any identifier (phone, email, card, barcode, track, external UID) or name")
    def get(self, request: Request, version: str) -> Response:
        params = _valid(s.SearchIn, request.query_params)
        try:
            found = customer_search(query=params["q"], kind=params["kind"], limit=params["limit"])
        except DomainError as exc:
            if exc.field == "value":
                exc.field = "q"  # the selector's value is this endpoint's `q`
            raise
        return Response(s.CustomerBriefOut(found, many=True).data)


class CustomerCreateView(OperatorView):
    method_permissions = {"POST": "crm.add_customer"}

    @extend_schema(tags=TAG_CUSTOMERS, request=s.CustomerCreateIn, responses={201: s.CustomerOut, 200: s.CustomerOut},
                   summary="Create a customer (200 with the existing one when external_uid is already known)")
    def post(self, request: Request, version: str) -> Response:
        data = dict(_valid(s.CustomerCreateIn, request.data))
        store_id = data.pop("registration_store", None)
        store = Store.objects.filter(pk=store_id).first() if store_id else None
        if store_id and store is None:
            raise DomainError("store_not_found", f"Store #{store_id} does not exist.", field="registration_store")
        customer, created = customer_services.customer_create(
            actor=Actor.from_request(request),
            channel=data.pop("registration_channel"),
            registered=data.pop("registered"),
            phone=data.pop("phone", None) or None,
            email=data.pop("email", None) or None,
            registration_store=store,
            **data,
        )
        return Response(_detail(customer.pk), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CustomerDetailView(OperatorView):
    method_permissions = {"GET": "crm.view_customer", "PATCH": "crm.change_customer"}

    @extend_schema(tags=TAG_CUSTOMERS, responses=s.CustomerOut, summary="A customer with contacts, cards and accounts")
    def get(self, request: Request, version: str, pk: int) -> Response:
        customer = customer_detail(customer_id=pk)
        if customer is None:
            raise NotFound("customer_not_found", f"Customer #{pk} does not exist.")
        return Response(s.CustomerOut(customer).data)

    @extend_schema(tags=TAG_CUSTOMERS, request=s.CustomerUpdateIn, responses=s.CustomerOut, summary="Change the profile")
    def patch(self, request: Request, version: str, pk: int) -> Response:
        changes = _valid(s.CustomerUpdateIn, request.data)
        customer_services.customer_update(customer=_customer(pk), actor=Actor.from_request(request), **changes)
        return Response(_detail(pk))


class CustomerBlockView(OperatorView):
    method_permissions = {"POST": "crm.change_customer"}
    block = True

    @extend_schema(tags=TAG_CUSTOMERS, request=s.ReasonIn, responses=s.CustomerOut)
    def post(self, request: Request, version: str, pk: int) -> Response:
        reason = _valid(s.ReasonIn, request.data)["reason"]
        service = customer_services.customer_block if self.block else customer_services.customer_unblock
        service(customer=_customer(pk), reason=reason, actor=Actor.from_request(request))
        return Response(_detail(pk))


class CustomerMergeView(OperatorView):
    method_permissions = {"POST": "crm.change_customer"}

    @extend_schema(tags=TAG_CUSTOMERS, request=s.MergeIn, responses=s.CustomerOut,
                   summary="Merge another customer into this one (cards, accounts, contacts, history move)")
    def post(self, request: Request, version: str, pk: int) -> Response:
        data = _valid(s.MergeIn, request.data)
        target = customer_merge(source=_customer(data["source_id"], field="source_id"), target=_customer(pk),
                                actor=Actor.from_request(request), comment=data["comment"])
        return Response(_detail(target.pk))


class CustomerNotifierView(OperatorView):
    method_permissions = {"POST": "crm.add_notifier"}

    @extend_schema(tags=TAG_CUSTOMERS, request=s.NotifierIn, responses={201: s.NotifierOut},
                   summary="Add a phone, email or push token (unverified; idempotent)")
    def post(self, request: Request, version: str, pk: int) -> Response:
        data = _valid(s.NotifierIn, request.data)
        notifier = notifier_add(customer=_customer(pk), kind=data["kind"], value=data["value"],
                                primary=data["primary"], actor=Actor.from_request(request))
        return Response(s.NotifierOut(notifier).data, status=status.HTTP_201_CREATED)


def _notifier(pk: int) -> Notifier:
    notifier = Notifier.objects.filter(pk=pk).first()
    if notifier is None:
        raise NotFound("notifier_not_found", f"Notifier #{pk} does not exist.")
    return notifier


class NotifierView(OperatorView):
    method_permissions = {"DELETE": "crm.change_notifier"}

    @extend_schema(tags=TAG_CUSTOMERS, request=s.ReasonIn, responses={204: None}, summary="Remove a contact")
    def delete(self, request: Request, version: str, pk: int) -> Response:
        reason = request.data.get("reason", "") if isinstance(request.data, dict) else ""
        notifier_remove(notifier=_notifier(pk), reason=str(reason)[:300], actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotifierCodeRequestView(OperatorView):
    method_permissions = {"POST": "crm.change_notifier"}

    @extend_schema(tags=TAG_CUSTOMERS, request=None, responses={202: s.CodeSentOut},
                   summary="Send a verification code to the contact (rate-limited per phone/email and per IP)")
    def post(self, request: Request, version: str, pk: int) -> Response:
        row = notifier_verify_request(notifier=_notifier(pk), actor=Actor.from_request(request), ip=client_ip(request))
        return Response({"detail": "Code sent.", "expires_at": row.expires_at}, status=status.HTTP_202_ACCEPTED)


class NotifierCodeConfirmView(OperatorView):
    method_permissions = {"POST": "crm.change_notifier"}

    @extend_schema(tags=TAG_CUSTOMERS, request=s.CodeIn, responses=s.NotifierOut,
                   summary="Confirm the code the customer read out: the contact becomes verified")
    def post(self, request: Request, version: str, pk: int) -> Response:
        code = _valid(s.CodeIn, request.data)["code"]
        notifier = notifier_verify_confirm(notifier=_notifier(pk), code=code, actor=Actor.from_request(request))
        return Response(s.NotifierOut(notifier).data)


class LastCodeView(OperatorView):
    """Demo stands only: with DEBUG on, the last code sent to a phone/email (crm.senders)."""

    method_permissions = {"GET": "crm.view_notifier"}

    @extend_schema(
        tags=TAG_CUSTOMERS,
        parameters=[OpenApiParameter("kind", str, enum=["phone", "email"]), OpenApiParameter("value", str)],
        responses=inline_serializer("LastCode", {"code": serializers.CharField()}),
        summary="DEBUG only: the last one-time code sent to a value",
    )
    def get(self, request: Request, version: str) -> Response:
        from crm.identifiers import notifier_value_normalize

        if not settings.DEBUG:
            raise NotFound("not_available", "Only on demo stands (DEBUG).")
        kind = request.query_params.get("kind", "phone")
        value = notifier_value_normalize(kind=kind, value=request.query_params.get("value", ""))
        code = debug_last_code(kind, value)
        if code is None:
            raise NotFound("code_not_found", "No code was sent to this value recently.")
        return Response({"code": code})


# --- cards --------------------------------------------------------------------------------------

def _by_code(model, code: str | None, field: str):
    if not code:
        return None
    row = model.objects.filter(code=code).first()
    if row is None:
        raise DomainError(f"{field}_not_found", f"No card {field} with code '{code}'.", field=field)
    return row


class CardIssueView(OperatorView):
    method_permissions = {"POST": "crm.add_card"}

    @extend_schema(tags=TAG_CARDS, request=s.CardIssueIn, responses={201: s.CardOut, 200: s.CardOut},
                   summary="Issue a card (safe to retry: the same number and details answer 200 with the card)")
    def post(self, request: Request, version: str) -> Response:
        data = _valid(s.CardIssueIn, request.data)
        customer = _customer(data["customer_id"], field="customer_id") if data.get("customer_id") else None
        card, created = card_services.card_issue(
            number=data["number"], barcode=data.get("barcode") or None, track=data.get("track") or None,
            kind=data["kind"], category=_by_code(CardCategory, data.get("category"), "category"),
            group=_by_code(CardGroup, data.get("group"), "group"), customer=customer,
            expires_at=data.get("expires_at"), actor=Actor.from_request(request),
        )
        return Response(s.CardOut(card).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CardDetailView(OperatorView):
    method_permissions = {"GET": "crm.view_card"}

    @extend_schema(tags=TAG_CARDS, responses=s.CardOut)
    def get(self, request: Request, version: str, pk: int) -> Response:
        card = Card.objects.select_related("category", "group", "replaced_by").filter(pk=pk).first()
        if card is None:
            raise NotFound("card_not_found", f"Card #{pk} does not exist.")
        return Response(s.CardOut(card).data)


class CardActionView(OperatorView):
    """bind / activate / block / unblock / replace: one service each."""

    method_permissions = {"POST": "crm.change_card"}
    action: str = ""
    serializers_by_action = {"bind": s.CardBindIn, "block": s.ReasonIn, "unblock": s.ReasonIn,
                             "activate": s.ReasonIn, "replace": s.CardReplaceIn}

    def post(self, request: Request, version: str, pk: int) -> Response:
        data = _valid(self.serializers_by_action[self.action], request.data)
        actor, card = Actor.from_request(request), _card(pk)
        if self.action == "bind":
            card = card_services.card_bind(card=card, customer=_customer(data["customer_id"], field="customer_id"),
                                           actor=actor)
        elif self.action == "block":
            card = card_services.card_block(card=card, reason=data["reason"], actor=actor)
        elif self.action == "unblock":
            card = card_services.card_unblock(card=card, reason=data["reason"], actor=actor)
        elif self.action == "activate":
            card = card_services.card_activate(card=card, reason=data["reason"], actor=actor)
        else:
            card = card_services.card_replace(
                card=card, new_number=data["new_number"], new_barcode=data.get("new_barcode") or None,
                new_track=data.get("new_track") or None, reason=data["reason"], actor=actor,
            )
        card = Card.objects.select_related("category", "group", "replaced_by").get(pk=card.pk)
        return Response(s.CardOut(card).data)


def card_action_view(action: str, summary: str):
    """A CardActionView bound to one action, with its own schema entry."""

    def post(self, request: Request, version: str, pk: int) -> Response:
        return CardActionView.post(self, request, version, pk)

    post = extend_schema(tags=TAG_CARDS, request=CardActionView.serializers_by_action[action], responses=s.CardOut,
                         summary=summary, operation_id=f"card_{action}")(post)
    view_class = type(f"Card{action.title()}View", (CardActionView,), {"action": action, "post": post})
    return view_class.as_view()
