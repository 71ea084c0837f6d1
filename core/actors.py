"""Who acts: an operator, a customer, a till or the system. Services take one for the audit trail."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ActorKind = Literal["operator", "customer", "till", "system"]


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str
    label: str

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls(kind="system", id="", label=label)

    @classmethod
    def operator(cls, user) -> "Actor":
        return cls(kind="operator", id=str(user.pk), label=user.get_username())

    @classmethod
    def from_request(cls, request) -> "Actor":
        """The actor behind an API or admin request, whatever kind of caller it is."""
        user = getattr(request, "user", None)
        if isinstance(user, (TillPrincipal, CustomerPrincipal)):
            return user.actor
        if user is not None and getattr(user, "is_authenticated", False):
            return cls.operator(user)
        return cls(kind="system", id="", label="anonymous")


class _Principal:
    """Stands in request.user for callers that are not Django users (tills, customers)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def has_perm(self, perm: str, obj=None) -> bool:  # noqa: ARG002
        return False

    def has_perms(self, perms, obj=None) -> bool:  # noqa: ARG002
        return False

    def get_username(self) -> str:
        return self.actor.label

    actor: Actor


@dataclass(frozen=True)
class TillPrincipal(_Principal):
    till_id: int
    store_id: int
    partner_id: int
    label: str

    @property
    def actor(self) -> Actor:  # type: ignore[override]
        return Actor(kind="till", id=str(self.till_id), label=self.label)

    @property
    def pk(self) -> int:
        return self.till_id


@dataclass(frozen=True)
class CustomerPrincipal(_Principal):
    customer_id: int
    label: str

    @property
    def actor(self) -> Actor:  # type: ignore[override]
        return Actor(kind="customer", id=str(self.customer_id), label=self.label)

    @property
    def pk(self) -> int:
        return self.customer_id
