"""Liveness and readiness probes for load balancers and orchestrators.

`/healthz` answers as long as the process can serve a request: no database, no cache, no
session, no authentication. It is also the benchmark's baseline (the cost of Django itself).
`/readyz` also checks that the database answers and, when REDIS_URL is set, that Redis does;
a dependency that is down makes it 503 with the error envelope, naming what failed.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from organizations.api.errors import envelope

logger = logging.getLogger("organizations.health")

# Built once: the liveness body never changes.
_OK = b'{"status": "ok"}'


@require_safe
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_OK, content_type="application/json")


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError as exc:
        logger.error("Readiness: database unavailable (%s)", exc.__class__.__name__)
        return False


def _redis_ok() -> bool:
    try:
        # The redis backend's client pings the server the cache is configured with.
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        return bool(client.ping())
    except Exception as exc:  # noqa: BLE001 - any failure to reach Redis means "not ready"
        logger.error("Readiness: Redis unavailable (%s)", exc.__class__.__name__)
        return False


@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": "ok" if _database_ok() else "down"}
    if settings.REDIS_URL:
        checks["redis"] = "ok" if _redis_ok() else "down"
    down = sorted(name for name, state in checks.items() if state != "ok")
    if down:
        body = envelope(503, "service_unavailable", f"Not ready: {', '.join(down)} unavailable", details=checks)
        return JsonResponse(body, status=503, headers={"Retry-After": "5"})
    return JsonResponse({"status": "ok", "checks": checks})
