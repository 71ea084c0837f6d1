"""Anti-fraud limit: one-time code requests per client IP (whatever phone or email they go to).

A fixed-window counter in the Redis cache (shared by all workers, no in-process state): the key
names the IP and the window number (`now // OTP_IP_WINDOW_SECONDS`); `add` creates it with a TTL a
bit longer than the window, `incr` is atomic. The request that makes the count exceed
`settings.OTP_IP_LIMIT` and every later one in that window get `429 ip_rate_limited` with
`retry_after` (seconds to the end of the window). The answer is the same whether the phone is
known or not. Services take the IP as a keyword argument (the views read it with
loymax.api.client_ip); `ip=None` (shell, admin, Celery) is not counted.
"""
from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

from core.errors import DomainError

KEY_PREFIX = "otp-ip"
DEFAULT_LIMIT = 20
DEFAULT_WINDOW_SECONDS = 3600


def _limits() -> tuple[int, int]:
    limit = int(getattr(settings, "OTP_IP_LIMIT", DEFAULT_LIMIT))
    window = max(1, int(getattr(settings, "OTP_IP_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS)))
    return limit, window


def _key(ip: str, window: int, bucket: int) -> str:
    return f"{KEY_PREFIX}:{window}:{ip}:{bucket}"


def code_request_ip_check(*, ip: str | None) -> None:
    """Count one code request from `ip`; raise ip_rate_limited (429) once over the limit."""
    limit, window = _limits()
    if not ip or limit <= 0:
        return
    now = time.time()
    bucket = int(now // window)
    key = _key(ip, window, bucket)
    cache.add(key, 0, timeout=window + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: start again
        cache.add(key, 0, timeout=window + 60)
        count = cache.incr(key)
    if count > limit:
        retry_after = max(1, int((bucket + 1) * window - now))
        raise DomainError(
            "ip_rate_limited",
            f"Too many code requests from this network; try again in {retry_after // 60 + 1} min.",
            status=429,
            extra={"retry_after": retry_after},
        )


def code_request_ip_reset(*, ip: str) -> None:
    """Forget the current window's count for `ip` (support desk, tests)."""
    _, window = _limits()
    bucket = int(time.time() // window)
    cache.delete_many([_key(ip, window, bucket), _key(ip, window, bucket - 1)])
