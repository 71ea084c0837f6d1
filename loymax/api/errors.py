"""One error format for every API error.

Every error answer has the shape::

    {"status": 400, "code": "validation_error", "message": "...", "errors": {"field": ["reason"]}}

`code` is machine-readable and stable; `errors` maps field names (dotted for nested fields) to
reasons and is empty when the error is not about a field.
"""
from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.errors import DomainError

logger = logging.getLogger(__name__)


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"field.sub": ["reason", ...]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key in ("non_field_errors", "__all__"):
                name = prefix or "non_field_errors"
            for field, reasons in _flatten(value, name).items():
                out.setdefault(field, []).extend(reasons)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out.setdefault(prefix or "non_field_errors", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                if item:
                    for field, reasons in _flatten(item, f"{prefix}.{index}" if prefix else str(index)).items():
                        out.setdefault(field, []).extend(reasons)
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return out


def error_body(*, status_code: int, code: str, message: str, errors: dict[str, list[str]] | None = None) -> dict:
    return {"status": status_code, "code": code, "message": message, "errors": errors or {}}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        set_rollback()
        errors = {exc.field: [exc.message]} if exc.field else {}
        body = error_body(status_code=exc.status, code=exc.code, message=exc.message, errors=errors)
        if exc.extra:
            body.update(exc.extra)
        return Response(body, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, exceptions.APIException):
        set_rollback()
        headers: dict[str, str] = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        if isinstance(exc, exceptions.ValidationError):
            errors = _flatten(exc.detail)
            fields = ", ".join(sorted(errors))
            message = f"Invalid input: {fields}." if fields else "Invalid input."
            body = error_body(status_code=exc.status_code, code="validation_error", message=message, errors=errors)
        else:
            detail = exc.detail
            code = detail.code if hasattr(detail, "code") else exc.default_code
            body = error_body(status_code=exc.status_code, code=str(code), message=str(detail))
        return Response(body, status=exc.status_code, headers=headers)

    # Anything else is our bug: log it with the traceback, answer in the same shape.
    set_rollback()
    logger.exception("Unhandled error in API view %s", context.get("view"))
    return Response(
        error_body(
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
            code="server_error",
            message="An unexpected error occurred; it has been logged.",
        ),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def api_not_found(request, exception=None) -> JsonResponse:  # noqa: ARG001 - Django's handler404 signature
    return JsonResponse(
        error_body(status_code=404, code="not_found", message=f"No endpoint at {request.path}."), status=404
    )
