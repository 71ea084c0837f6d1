"""Who delivers one-time codes. The sender is named in settings.LOYALTY["OTP_SENDER"] (dotted path).

A sender is any class with `send(*, kind, value, code, purpose) -> None`. It is called after the
transaction that created the code commits, in the web process: a real SMS or email gateway should
enqueue its own task there and return at once (communications will plug one in).
"""
from __future__ import annotations

import logging
from typing import Protocol

from django.conf import settings
from django.core.cache import cache
from django.utils.module_loading import import_string

logger = logging.getLogger("crm.otp")

DEFAULT_SENDER = "crm.senders.LoggingCodeSender"
DEBUG_CACHE_SECONDS = 600


class CodeSender(Protocol):
    def send(self, *, kind: str, value: str, code: str, purpose: str) -> None: ...


def last_code_cache_key(kind: str, value: str) -> str:
    return f"crm:otp-last:{kind}:{value}"


class LoggingCodeSender:
    """The default: logs that a code went out (never the code itself, unless DEBUG).

    With DEBUG on it keeps the last code per phone/email in the Redis cache, so the demo and a
    call-center agent on a test stand can read it (admin notifier page, `GET /api/v1/verification-codes/last`).
    """

    def send(self, *, kind: str, value: str, code: str, purpose: str) -> None:
        if settings.DEBUG:
            logger.info("one-time code for %s %s (%s): %s", kind, value, purpose, code)
            cache.set(last_code_cache_key(kind, value), code, timeout=DEBUG_CACHE_SECONDS)
        else:
            logger.info("one-time code sent to %s %s (%s)", kind, value, purpose)


def debug_last_code(kind: str, value: str) -> str | None:
    """The last code sent to this value, kept only when DEBUG is on; None otherwise."""
    if not settings.DEBUG:
        return None
    return cache.get(last_code_cache_key(kind, value))


def code_sender() -> CodeSender:
    path = getattr(settings, "LOYALTY", {}).get("OTP_SENDER") or DEFAULT_SENDER
    return import_string(path)()
