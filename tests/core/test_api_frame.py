"""The API frame: one error format, pagination, three kinds of callers, versioning, docs."""
from __future__ import annotations

import pytest
from django.urls import path
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from core.errors import DomainError
from loymax.api.permissions import IsCustomer, IsOperator, IsTill
from tests.factories.catalogue import TILL_SECRET, TillFactory
from tests.factories.crm import CustomerFactory, customer_token_for

pytestmark = pytest.mark.django_db


class EchoSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0)
    lines = serializers.ListField(child=serializers.DictField(child=serializers.IntegerField()), min_length=1)


@api_view(["POST"])
@permission_classes([AllowAny])
def echo(request, version):
    serializer = EchoSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return Response({"ok": True})


@api_view(["POST"])
@permission_classes([AllowAny])
def refuse(request, version):
    raise DomainError("card_blocked", "The card is blocked.", field="card")


@api_view(["GET"])
@permission_classes([IsTill])
def till_only(request, version):
    return Response({"till": request.user.till_id, "store": request.user.store_id})


@api_view(["GET"])
@permission_classes([IsCustomer])
def customer_only(request, version):
    return Response({"customer": request.user.customer_id})


@api_view(["GET"])
@permission_classes([IsOperator])
def operator_only(request, version):
    return Response({"operator": request.user.username})


urlpatterns = [
    path("api/<str:version>/echo", echo),
    path("api/<str:version>/refuse", refuse),
    path("api/<str:version>/till-only", till_only),
    path("api/<str:version>/customer-only", customer_only),
    path("api/<str:version>/operator-only", operator_only),
]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__


def test_validation_error_names_each_field(api_client):
    # when
    response = api_client.post("/api/v1/echo", {"amount": "-1", "lines": [{"qty": "x"}]}, format="json")
    # then
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert body["code"] == "validation_error"
    assert set(body["errors"]) == {"amount", "lines.0.qty"}
    assert "amount" in body["message"]


def test_domain_error_keeps_its_code_and_field(api_client):
    response = api_client.post("/api/v1/refuse", {}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "code": "card_blocked",
        "message": "The card is blocked.",
        "errors": {"card": ["The card is blocked."]},
    }


def test_malformed_json_is_a_clear_400(api_client):
    response = api_client.generic("POST", "/api/v1/echo", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_unknown_version_is_refused(api_client):
    response = api_client.post("/api/v9/echo", {"amount": "1", "lines": [{"a": 1}]}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_till_authenticates_with_its_own_credentials(api_client):
    till = TillFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Till {till.api_key}:{TILL_SECRET}")
    response = api_client.get("/api/v1/till-only")
    assert response.status_code == 200
    assert response.json() == {"till": till.pk, "store": till.store_id}


def test_till_with_wrong_secret_or_blocked_is_refused(api_client):
    till = TillFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Till {till.api_key}:wrong")
    response = api_client.get("/api/v1/till-only")
    assert response.status_code == 401
    assert response.json()["code"] == "till_not_found"

    till.is_blocked = True
    till.save()
    api_client.credentials(HTTP_AUTHORIZATION=f"Till {till.api_key}:{TILL_SECRET}")
    assert api_client.get("/api/v1/till-only").json()["code"] == "till_blocked"


def test_customer_token_sees_customer_endpoints_only(api_client):
    customer = CustomerFactory()
    token = customer_token_for(customer)
    api_client.credentials(HTTP_AUTHORIZATION=f"Customer {token}")
    assert api_client.get("/api/v1/customer-only").json() == {"customer": customer.pk}
    forbidden = api_client.get("/api/v1/operator-only")
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "permission_denied"


def test_operator_by_session_or_token(client, admin_operator):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client.force_login(admin_operator)
    assert client.get("/api/v1/operator-only").json() == {"operator": admin_operator.username}
    token = Token.objects.create(user=admin_operator)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/v1/operator-only").status_code == 200


def test_anonymous_gets_401_in_the_same_shape(api_client):
    response = api_client.get("/api/v1/operator-only")
    assert response.status_code in (401, 403)
    assert set(response.json()) == {"status", "code", "message", "errors"}
