"""The error services raise: a stable machine-readable code, a message, optionally the field."""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule refused the request. Nothing was changed (the transaction rolls back)."""

    status: int = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra or {}
        if status is not None:
            self.status = status

    def __repr__(self) -> str:
        return f"DomainError({self.code!r}, {self.message!r}, field={self.field!r})"


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409
