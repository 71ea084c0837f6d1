"""The client's IP address for anti-fraud limits.

`REMOTE_ADDR` by default. Behind reverse proxies, `settings.TRUSTED_PROXY_COUNT = n` says that the
last n proxies append to `X-Forwarded-For`, so the client is the n-th address from the right: what
the outermost trusted proxy saw. Anything left of it was written by the client and is ignored (a
client cannot dodge the limit by sending its own header). A header with fewer than n addresses, or
an entry that is not an IP address, falls back to `REMOTE_ADDR`.
"""
from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    remote = _ip(request.META.get("REMOTE_ADDR") or "")
    trusted = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if trusted <= 0:
        return remote
    forwarded = [part for part in (request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",") if part.strip()]
    if len(forwarded) < trusted:
        return remote
    return _ip(forwarded[-trusted]) or remote
