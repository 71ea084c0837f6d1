"""Who may call an endpoint: the three kinds of callers are told apart by their principal."""
from __future__ import annotations

from rest_framework.permissions import BasePermission

from core.actors import CustomerPrincipal, TillPrincipal


class IsOperator(BasePermission):
    """A logged-in staff user (session or token)."""

    message = "This endpoint is for operators."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and getattr(user, "is_staff", False) and user.is_active)


class IsTill(BasePermission):
    message = "This endpoint is for tills: authenticate with 'Till <key>:<secret>'."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, TillPrincipal)


class IsCustomer(BasePermission):
    message = "This endpoint is for customers: authenticate with 'Customer <token>'."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, CustomerPrincipal)


class OperatorModelPermissions(BasePermission):
    """Operator whose role grants the Django model permission the view declares.

    A view sets `required_permission = "crm.change_account"` (or a tuple of them).
    """

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and getattr(user, "is_staff", False) and user.is_active):
            return False
        required = getattr(view, "required_permission", None)
        if required is None:
            return True
        perms = (required,) if isinstance(required, str) else tuple(required)
        return user.has_perms(perms)
