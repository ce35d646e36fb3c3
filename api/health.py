"""Health and JSON fallbacks that live outside the DRF viewsets."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the app and its database answer, 503 when the database does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """A JSON 404 in the API's error shape, for paths that match no route."""
    return JsonResponse(
        {
            "type": "client_error",
            "errors": [{"code": "not_found", "detail": "No such path.", "attr": None}],
        },
        status=404,
    )


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "type": "server_error",
            "errors": [{"code": "error", "detail": "A server error occurred.", "attr": None}],
        },
        status=500,
    )
