"""Attribute, questionnaire and counter endpoints. Thin: each calls a selector or a service."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from attributes.api.serializers import (
    AnswersPatchSerializer,
    AttributeSerializer,
    AttributeValueSerializer,
    AttributeValuesPatchSerializer,
    CounterSerializer,
    CustomerCounterSerializer,
    QuestionnaireAnswersSerializer,
    QuestionnaireSerializer,
    RecalculationSerializer,
)
from attributes.models import Attribute, Counter
from attributes.selectors import (
    attribute_values_of,
    attributes_list,
    counters_of,
    questionnaire_json,
    questionnaire_spec,
    questionnaire_with_answers,
)
from attributes.services import answers_update, attribute_values_set, counter_recalculate_request
from core.actors import Actor
from core.errors import NotFound
from crm.models import Customer
from loymax.api.permissions import IsCustomer, OperatorModelPermissions


def _customer_exists(customer_id: int) -> None:
    if not Customer.objects.filter(pk=customer_id).exists():
        raise NotFound("not_found", f"No customer {customer_id}.")


class MyQuestionnaireView(APIView):
    """The customer's own questionnaire (mobile app, personal account)."""

    permission_classes = [IsCustomer]

    @extend_schema(responses=QuestionnaireAnswersSerializer, tags=["customer app"],
                   summary="My questionnaire with my answers")
    def get(self, request: Request, version: str) -> Response:
        return Response(questionnaire_with_answers(customer_id=request.user.customer_id))

    @extend_schema(request=AnswersPatchSerializer, responses=QuestionnaireAnswersSerializer, tags=["customer app"],
                   summary="Change my answers (errors per field, e.g. answers.children.1.birth_date)")
    def patch(self, request: Request, version: str) -> Response:
        body = AnswersPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        answers_update(customer_id=request.user.customer_id, answers=body.validated_data["answers"],
                       actor=Actor.from_request(request), by_customer=True)
        return Response(questionnaire_with_answers(customer_id=request.user.customer_id))


class CustomerQuestionnaireView(APIView):
    """Any customer's questionnaire, for the call center."""

    permission_classes = [OperatorModelPermissions]

    def get_permissions(self):
        self.required_permission = ("attributes.view_attributevalue" if self.request.method == "GET"
                                    else "attributes.change_attributevalue")
        return super().get_permissions()

    @extend_schema(responses=QuestionnaireAnswersSerializer, tags=["attributes"],
                   summary="A customer's questionnaire with answers (call center)")
    def get(self, request: Request, version: str, customer_id: int) -> Response:
        _customer_exists(customer_id)
        return Response(questionnaire_with_answers(customer_id=customer_id))

    @extend_schema(request=AnswersPatchSerializer, responses=QuestionnaireAnswersSerializer, tags=["attributes"],
                   summary="Change a customer's answers (call center; also questions not editable by customers)")
    def patch(self, request: Request, version: str, customer_id: int) -> Response:
        body = AnswersPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        answers_update(customer_id=customer_id, answers=body.validated_data["answers"], actor=Actor.from_request(request))
        return Response(questionnaire_with_answers(customer_id=customer_id))


class QuestionnaireView(APIView):
    permission_classes = [OperatorModelPermissions]
    required_permission = "attributes.view_question"

    @extend_schema(responses=QuestionnaireSerializer, tags=["attributes"], summary="The active questionnaire")
    def get(self, request: Request, version: str) -> Response:
        return Response(questionnaire_json(questionnaire_spec()))


class AttributeListView(ListAPIView):
    """Attribute definitions: what segments, offers and mailings can speak of."""

    permission_classes = [OperatorModelPermissions]
    required_permission = "attributes.view_attribute"
    serializer_class = AttributeSerializer

    def get_queryset(self):
        return attributes_list(kind=self.request.query_params.get("kind"),
                               active_only=self.request.query_params.get("active") in ("1", "true"))

    @extend_schema(tags=["attributes"], parameters=[
        OpenApiParameter("kind", str, enum=[k for k, _ in Attribute.Kind.choices]),
        OpenApiParameter("active", bool, description="Only active attributes."),
    ])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class CustomerAttributesView(APIView):
    permission_classes = [OperatorModelPermissions]

    def get_permissions(self):
        self.required_permission = ("attributes.view_attributevalue" if self.request.method == "GET"
                                    else "attributes.change_attributevalue")
        return super().get_permissions()

    @extend_schema(responses=AttributeValueSerializer(many=True), tags=["attributes"],
                   summary="A customer's stored attribute values (generic and questionnaire)")
    def get(self, request: Request, version: str, customer_id: int) -> Response:
        _customer_exists(customer_id)
        return Response(AttributeValueSerializer(attribute_values_of(customer_id=customer_id), many=True).data)

    @extend_schema(request=AttributeValuesPatchSerializer, responses=AttributeValueSerializer(many=True),
                   tags=["attributes"], summary="Set generic attribute values (errors per field: values.<code>)")
    def patch(self, request: Request, version: str, customer_id: int) -> Response:
        body = AttributeValuesPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        attribute_values_set(customer_id=customer_id, values=body.validated_data["values"],
                             actor=Actor.from_request(request))
        return Response(AttributeValueSerializer(attribute_values_of(customer_id=customer_id), many=True).data)


class CounterListView(ListAPIView):
    permission_classes = [OperatorModelPermissions]
    required_permission = "attributes.view_counter"
    serializer_class = CounterSerializer

    def get_queryset(self):
        return Counter.objects.select_related("product_group", "store").order_by("name")

    @extend_schema(tags=["attributes"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class CounterRecalculateView(APIView):
    permission_classes = [OperatorModelPermissions]
    required_permission = "attributes.change_counter"

    @extend_schema(request=None, responses={202: RecalculationSerializer}, tags=["attributes"],
                   summary="Queue a full recalculation of a counter from the purchase history")
    def post(self, request: Request, version: str, code: str) -> Response:
        counter = Counter.objects.filter(code=code).first()
        if counter is None:
            raise NotFound("not_found", f"No counter '{code}'.")
        chunks = counter_recalculate_request(counter_id=counter.pk, actor=Actor.from_request(request))
        return Response({"counter": counter.code, "chunks": chunks}, status=202)


class CustomerCountersView(APIView):
    permission_classes = [OperatorModelPermissions]
    required_permission = "attributes.view_countervalue"

    @extend_schema(responses=CustomerCounterSerializer(many=True), tags=["attributes"],
                   summary="A customer's counters: current and previous period, history of calendar periods")
    def get(self, request: Request, version: str, customer_id: int) -> Response:
        _customer_exists(customer_id)
        return Response(CustomerCounterSerializer(counters_of(customer_id=customer_id), many=True).data)
