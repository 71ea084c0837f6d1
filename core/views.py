from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from core.health import run_checks


def health(request: HttpRequest) -> HttpResponse:
    """Green when the database, Redis, a worker and beat all answer; 503 otherwise.

    JSON by default; an HTML page for a browser (Accept: text/html).
    """
    checks = run_checks()
    healthy = all(check.ok for check in checks)
    status = 200 if healthy else 503
    if "text/html" in request.headers.get("Accept", "") and request.GET.get("format") != "json":
        return render(request, "core/health.html", {"checks": checks, "healthy": healthy}, status=status)
    return JsonResponse(
        {
            "status": "ok" if healthy else "degraded",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail, "ms": c.millis} for c in checks},
        },
        status=status,
    )
