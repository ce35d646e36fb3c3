"""Probes, and the JSON answers of errors met outside the DRF views.

- ``/healthz`` (liveness): the process answers. It reads nothing, so a database outage does
  not make an orchestrator restart app servers that will recover by themselves.
- ``/readyz`` (readiness): checks the database, the replica (if any) and the cache. A server
  with one database that answers is ready: without the replica the app reads from the
  primary, without the primary anonymous reads still come from the replica, and without the
  cache every response is built from the database. It is then ``degraded`` (200), naming what
  is down, and keeps its traffic: were it not, an outage of a service every app server shares
  would make the load balancer pull them all. 503 when no database answers.
"""

from __future__ import annotations

import functools
import logging
import sys
import uuid

from django.core.cache import cache
from django.core.exceptions import DisallowedHost
from django.db import DatabaseError, connections
from django.http import HttpRequest, JsonResponse
from django.views import csrf
from django.views.decorators.cache import never_cache

from api.exceptions import OUTAGE_ERRORS, RETRY_AFTER
from api.middleware import error_response

logger = logging.getLogger(__name__)


def probe(view):
    """A probe's checks: GET or HEAD, and no query parameter, answered in JSON."""

    @functools.wraps(view)
    def checked(request: HttpRequest) -> JsonResponse:
        if request.method not in ("GET", "HEAD"):
            response = error_response(
                405, "method_not_allowed", f'Method "{request.method}" not allowed.'
            )
            response["Allow"] = "GET, HEAD"
            return response
        if request.GET:
            return JsonResponse(
                {
                    "type": "validation_error",
                    "errors": [
                        {
                            "code": "invalid",
                            "detail": "Unknown query parameter: a probe takes none.",
                            "attr": name,
                        }
                        for name in sorted(request.GET)
                    ],
                },
                status=400,
            )
        return view(request)

    return never_cache(checked)


@probe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the process can answer at all."""
    return JsonResponse({"status": "ok"})


def database_ready(alias: str) -> bool:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("Readiness: database %r unavailable: %s", alias, error)
        return False
    return True


def cache_ready() -> bool:
    probe = uuid.uuid4().hex
    try:
        cache.set("readyz", probe, timeout=10)
        return cache.get("readyz") is not None
    except Exception as error:
        logger.warning("Readiness: cache unavailable: %s", error)
        return False


@probe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 (``ok``, or ``degraded`` naming what is down) while a database answers, 503 when
    none does."""
    checks = {
        ("database" if alias == "default" else f"database_{alias}"): database_ready(alias)
        for alias in connections
    }
    checks["cache"] = cache_ready()
    ready = checks["database"] or checks.get("database_replica", False)
    status = "ok" if all(checks.values()) else "degraded" if ready else "unavailable"
    response = JsonResponse(
        {
            "status": status,
            **{name: "ok" if ok else "unavailable" for name, ok in checks.items()},
        },
        status=200 if ready else 503,
    )
    if not ready:
        response["Retry-After"] = str(RETRY_AFTER)
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """A JSON 404 in the API's error shape, for paths that match no route."""
    return error_response(404, "not_found", "No such path.")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """A 400 Django raises before any view (a Host not served here, a malformed request),
    saying what is wrong."""
    detail = (
        "The Host header names no host this server answers for."
        if isinstance(exception, DisallowedHost)
        else "Bad request."
    )
    return error_response(400, "invalid", detail, kind="validation_error")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(403, "permission_denied", "You may not do this.")


def csrf_failure(request: HttpRequest, reason: str = ""):
    """A form post outside the API's views without its CSRF token (a POST to a probe, a path
    that matches nothing): a JSON 403. The admin keeps Django's page, which people read."""
    if request.path.startswith("/admin/"):
        return csrf.csrf_failure(request, reason)
    return error_response(403, "permission_denied", f"CSRF verification failed: {reason}")


def server_error(request: HttpRequest) -> JsonResponse:
    """A JSON 500; a JSON 503 with ``Retry-After`` when the cause is a database outage."""
    error = sys.exc_info()[1]
    if isinstance(error, OUTAGE_ERRORS):
        logger.warning("Database unavailable: %s", error)
        response = error_response(
            503,
            "service_unavailable",
            "The database is unavailable. Retry after the time in Retry-After.",
            kind="server_error",
        )
        response["Retry-After"] = str(RETRY_AFTER)
        return response
    return error_response(500, "error", "A server error occurred.", kind="server_error")
