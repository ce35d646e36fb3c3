"""Middleware of the production stack (see MIDDLEWARE in the settings)."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.functional import empty
from rest_framework.throttling import BaseThrottle

from api import hits
from api.throttling import Standing

access_logger = logging.getLogger("cryptogroups.access")


def error_response(
    status: int, code: str, detail: str, kind: str = "client_error", attr: str | None = None
):
    """A response in the API's error shape, for errors met outside DRF's views."""
    return JsonResponse(
        {"type": kind, "errors": [{"code": code, "detail": detail, "attr": attr}]}, status=status
    )


def access_log(get_response):
    """One log line per request: method, path, status, duration, client and user. With the
    JSON format each field is a key, and the request id is added by the log filter."""

    def middleware(request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = get_response(request)
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": client_address(request),
                "user": authenticated_username(request),
            },
        )
        return response

    return middleware


def client_address(request: HttpRequest) -> str:
    """The client's address as the rate limits count it: the peer's, or the one the declared
    proxies (``NUM_PROXIES``) put in X-Forwarded-For."""
    return BaseThrottle().get_ident(request)


def authenticated_username(request: HttpRequest) -> str | None:
    """The user the request was authenticated as, if the request looked (no query is made
    for the log: the database may be the reason the request failed)."""
    user = request.__dict__.get("user")
    if user is None or getattr(user, "_wrapped", None) is empty:
        return None
    return user.get_username() if user.is_authenticated else None


def limit_request_body(get_response):
    """A body longer than ``MAX_REQUEST_BYTES`` is refused with a 413 before it is read.
    (DRF's parsers read the stream directly, past Django's own upload limit.) A body is
    never read beyond its declared ``Content-Length``, so a body sent without one (chunked)
    would be read as empty: it is refused with a 411.

    Each of these answers closes the connection (``Connection: close``, which
    cryptogroups.wsgi hands to the server): the body was not read, and what the client still
    sends of it must not be taken for its next request. In production nginx refuses a body
    over the limit before the app sees it (deploy/nginx/); this is the app's own guard.

    A body within the limit is read whole here, before anything answers: an answer that does
    not need it (a 401, a 405, a 429) must not leave it on the connection, which gunicorn
    would then close after saying keep-alive (it drains at most 64 KiB of an unread body),
    and nginx, still sending it, would answer its client 502. A body that cannot be read (the
    client went away, or sent less than it declared and stopped) is a 400 that closes the
    connection."""

    def middleware(request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH")
        if not declared and "HTTP_TRANSFER_ENCODING" in request.META:
            return unread(
                error_response(
                    411, "length_required", "Send the body with a Content-Length, not chunked."
                )
            )
        try:
            length = int(declared or "0")
        except ValueError:
            length = -1
        if length < 0:
            return unread(
                error_response(
                    400,
                    "invalid",
                    "Content-Length must be a number of bytes.",
                    kind="validation_error",
                    attr="Content-Length",
                )
            )
        if length > settings.MAX_REQUEST_BYTES:
            return unread(
                error_response(
                    413,
                    "request_too_large",
                    f"The body has {length} bytes; at most {settings.MAX_REQUEST_BYTES} are read.",
                )
            )
        if length:
            try:
                request.body  # noqa: B018 - read whole, and kept for the parsers
            except OSError:
                return unread(
                    error_response(
                        400, "invalid", "The body could not be read.", kind="validation_error"
                    )
                )
        return get_response(request)

    return middleware


def unread(response: HttpResponse) -> HttpResponse:
    """An answer given without reading the request's body: the connection is closed after it."""
    response["Connection"] = "close"
    return response


def api_headers(get_response):
    """Headers of the API's responses: the client's rate-limit standing (api.throttling),
    and, on JSON, a content security policy that lets the body run nothing and be framed
    nowhere. A path under /api/ that matches no route is a JSON 404 whatever DEBUG is (with
    DEBUG, Django answers it with its HTML debug page, not handler404)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            response = error_response(404, "not_found", "No such path.")
        standing: Standing | None = getattr(request, "ratelimit", None)
        if standing is not None:
            response.headers["RateLimit-Limit"] = str(standing.rate.limit)
            response.headers["RateLimit-Remaining"] = str(standing.remaining)
            response.headers["RateLimit-Reset"] = str(standing.reset)
            response.headers["RateLimit-Policy"] = (
                f'{standing.rate.limit};w={standing.rate.window};name="{standing.scope}"'
            )
        if response.get("Content-Type", "").startswith("application/json"):
            response.headers.setdefault(
                "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"
            )
        return response

    return middleware


def cached_reads(get_response):
    """A public read the cache holds is answered here, before the views (api.hits)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = hits.answer(request)
        return get_response(request) if response is None else response

    return middleware
